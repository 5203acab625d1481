"""Training subsets: a seeded random, first or longest selection, and k-shot per class."""

import numpy as np

TRAIN_SELECTIONS = ("random", "first", "longest")


def select_examples(examples, max_count, selection="random", seed=0):
    """Picks at most `max_count` training examples.

    "random": a seeded random subset; "first": file order; "longest": the examples with the
    most words (SST-2's train split is mostly short phrases; its dev split is whole sentences).
    """
    if selection not in TRAIN_SELECTIONS:
        raise ValueError(f"train_selection must be one of {TRAIN_SELECTIONS}, got {selection!r}")
    if not max_count or max_count >= len(examples):
        return examples
    if selection == "first":
        return examples.take(max_count)
    if selection == "longest":
        lengths = np.array([len(t.split()) for t in examples.texts])
        # Stable on ties, and shuffled afterwards so that batches mix lengths and classes.
        chosen = np.argsort(-lengths, kind="stable")[:max_count]
        chosen = np.random.RandomState(seed).permutation(chosen)
        return examples.select(chosen.tolist())
    chosen = np.random.RandomState(seed).permutation(len(examples))[:max_count]
    return examples.select(chosen.tolist())


def select_per_class(examples, count, seed=0):
    """A seeded k-shot subset: `count` examples of every label (all of a rarer label's).

    The few-shot intent setting (e.g. BANKING77 10-shot: 770 utterances). Kept in file order.
    """
    if examples.labels is None:
        raise ValueError("examples_per_class needs labelled examples (a classification task).")
    if count < 1:
        raise ValueError(f"examples_per_class must be >= 1, got {count}")
    rng = np.random.RandomState(seed)
    by_label = {}
    for index, label in enumerate(examples.labels):
        by_label.setdefault(label, []).append(index)
    chosen = []
    for label in sorted(by_label):
        indices = by_label[label]
        chosen.extend(rng.permutation(indices)[:count].tolist())
    return examples.select(sorted(chosen))


def subsample(examples, max_examples, seed=0):
    """A seeded random subset in file order (files are often grouped by label)."""
    if not max_examples or max_examples >= len(examples):
        return examples
    chosen = np.sort(np.random.RandomState(seed).permutation(len(examples))[:max_examples])
    return examples.select(chosen.tolist())
