"""Word-level data augmentation for task distillation: new variants of labelled examples.

TinyBERT's task stage (and Tang et al. 2019) distil on a transfer set many times larger than
the labelled data, built by replacing words of each training example. A replacement is always
one whitespace-free word for one word, so an example keeps its word count and slot-tagged
examples keep their tags aligned (the new word inherits the old word's tag).

Candidates come from a `WordReplacer`:
  * `EmbeddingNeighbours`: the nearest whole-word tokens, by cosine, in a teacher's input
    embedding table (TinyBERT uses GloVe neighbours; the teacher's own table needs no download
    and is available for every teacher, with or without a masked-LM head);
  * `MaskedLMReplacer`: a masked-LM teacher's top guesses for the chosen words, masked
    together in one pass per variant (the Stage I teacher, or any teacher with a trained head).

Example:
>>> replacer = EmbeddingNeighbours.from_task_model(teacher_task_model, num_neighbours=15)
>>> variants = augment_examples(train, count=4, rate=0.3, replacer=replacer, seed=0)
>>> len(variants) == 4 * len(train)
True
"""

import dataclasses
import re

import numpy as np
import tensorflow as tf

from mixvocab_tf.tasks.metrics import bio_spans
from mixvocab_tf.preprocessing.word_alignment import WordAligner

_WHOLE_WORD = re.compile(r"^[^\W\d_]{2,}$")


def _is_whole_word_token(token):
    """A vocabulary entry that can stand as a word on its own: letters only, no ## piece."""
    return bool(_WHOLE_WORD.match(token))


class WordReplacer:
    """Proposes replacement words. Subclasses implement `eligible` and `propose`."""

    def eligible(self, word):
        """Whether `word` can be replaced at all (it has candidates)."""
        raise NotImplementedError

    def propose(self, word_lists, positions, rng):
        """One replacement word per chosen position.

        Args:
          word_lists: sentences as word lists.
          positions: per sentence, the word indices to replace (all eligible).
          rng: a `numpy.random.RandomState`.

        Returns:
          per sentence, a list of new words (whitespace-free, different from the old ones),
          one per position.
        """
        raise NotImplementedError


class EmbeddingNeighbours(WordReplacer):
    """Nearest whole-word neighbours in an input-embedding table.

    Args:
      embeddings: [V, D] token embeddings (e.g. the teacher's `token_embedding`).
      vocabulary: the V tokens.
      lower_case: look words up lower-cased (an uncased teacher).
      num_neighbours: candidates per word (K); a replacement is drawn uniformly from them.

    Example:
    >>> replacer = EmbeddingNeighbours(table, vocabulary, num_neighbours=10)
    >>> replacer.candidates("music")[:3]
    """

    def __init__(self, embeddings, vocabulary, lower_case=True, num_neighbours=15):
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.shape[0] != len(vocabulary):
            raise ValueError(f"{embeddings.shape[0]} embedding rows for {len(vocabulary)} tokens.")
        self.lower_case = lower_case
        self.num_neighbours = num_neighbours
        self._index = {token: i for i, token in enumerate(vocabulary)}
        # Only whole-word tokens are candidates: a ## piece or [MASK] is no word of its own.
        self._words = [t for t in vocabulary if _is_whole_word_token(t)]
        rows = np.asarray([self._index[t] for t in self._words], np.int64)
        table = embeddings[rows]
        self._table = table / np.maximum(np.linalg.norm(table, axis=-1, keepdims=True), 1e-12)
        self._word_row = {t: i for i, t in enumerate(self._words)}
        self._cache = {}

    @classmethod
    def from_task_model(cls, task_model, num_neighbours=15):
        """Reads the input-embedding table of a loaded `TaskModel`'s encoder."""
        for layer in task_model.model.layers:
            table = getattr(getattr(layer, "token_embedding", None), "embeddings", None)
            if table is not None:
                return cls(np.asarray(table), task_model.vocabulary, task_model.lower_case,
                           num_neighbours)
        raise ValueError("the task model has no encoder with a `token_embedding` layer.")

    def _key(self, word):
        return word.lower() if self.lower_case else word

    def eligible(self, word):
        return self._key(word) in self._word_row

    def precompute(self, words, chunk=512):
        """Finds the neighbours of many words at once (one matrix product per chunk)."""
        todo = sorted({self._key(w) for w in words if self.eligible(w)} - set(self._cache))
        for begin in range(0, len(todo), chunk):
            keys = todo[begin:begin + chunk]
            queries = self._table[[self._word_row[k] for k in keys]]
            scores = queries @ self._table.T
            for row, key in enumerate(keys):
                scores[row, self._word_row[key]] = -np.inf  # never the word itself
            top = np.argpartition(-scores, self.num_neighbours, axis=-1)[:, :self.num_neighbours]
            for row, key in enumerate(keys):
                order = top[row][np.argsort(-scores[row, top[row]])]
                self._cache[key] = [self._words[i] for i in order]

    def candidates(self, word):
        """The word's K nearest whole-word tokens, nearest first ([] when not eligible)."""
        if not self.eligible(word):
            return []
        if self._key(word) not in self._cache:
            self.precompute([word])
        return self._cache[self._key(word)]

    def propose(self, word_lists, positions, rng):
        self.precompute([words[p] for words, chosen in zip(word_lists, positions) for p in chosen])
        out = []
        for words, chosen in zip(word_lists, positions):
            out.append([self.candidates(words[p])[rng.randint(self.num_neighbours)]
                        for p in chosen])
        return out


class MaskedLMReplacer(WordReplacer):
    """Replacements from a masked-LM teacher's guesses, all chosen words masked together.

    Only words that are a single teacher token are replaced (TinyBERT's rule: a masked LM
    predicts one token per position). A replacement is drawn from the top-K whole-word guesses
    other than the original word.

    Args:
      logits_fn: `logits_fn(inputs, mask_positions) -> [B, P, V]` masked-LM logits over
        `vocabulary` (e.g. `Teacher.masked_lm_logits`, or the Stage I model's
        "teacher_logits"; see `from_teacher`).
      vocabulary: the teacher's tokens.
      lower_case: the teacher's casing.
      num_candidates: K.
      sequence_length: L of the teacher's inputs.
      batch_size: sentences per teacher call.
    """

    def __init__(self, logits_fn, vocabulary, lower_case=True, num_candidates=15,
                 sequence_length=64, batch_size=64):
        self.logits_fn = logits_fn
        self.vocabulary = list(vocabulary)
        self.lower_case = lower_case
        self.num_candidates = num_candidates
        self.batch_size = batch_size
        self._aligner = WordAligner(self.vocabulary, lower_case, sequence_length)
        self._index = {t: i for i, t in enumerate(self.vocabulary)}
        self._mask_id = self._index.get("[MASK]")
        if self._mask_id is None:
            raise ValueError("the masked-LM teacher's vocabulary has no [MASK] token.")
        self._allowed = np.asarray([_is_whole_word_token(t) for t in self.vocabulary])

    @classmethod
    def from_teacher(cls, teacher, **kwargs):
        """From a `Teacher` with a masked-LM head (`load_teacher`) or a Stage I export
        (`load_stage1`; its teacher-vocabulary head, which Stage I trained)."""
        if hasattr(teacher, "teacher_vocabulary"):  # a Stage1Teacher
            model = teacher.model

            def logits_fn(inputs, positions):
                return model(dict(inputs, mask_positions=positions))["teacher_logits"]

            return cls(logits_fn, list(teacher.teacher_vocabulary.tokens),
                       bool(teacher.config.get("lower_case", True)), **kwargs)
        if teacher.masked_lm_head is None:
            raise ValueError(
                "this teacher has no masked-LM head. Fix: pass a Stage I directory or a "
                "checkpoint with cls/predictions, or use embedding neighbours instead.")
        return cls(teacher.masked_lm_logits, teacher.vocabulary, teacher.lower_case, **kwargs)

    def eligible(self, word):
        key = word.lower() if self.lower_case else word
        return key in self._index and _is_whole_word_token(key)

    def propose(self, word_lists, positions, rng):
        out = [[] for _ in word_lists]
        rows = [i for i, chosen in enumerate(positions) if chosen]
        for begin in range(0, len(rows), self.batch_size):
            batch = rows[begin:begin + self.batch_size]
            features = self._aligner.encode([word_lists[i] for i in batch])
            width = max(len(positions[i]) for i in batch)
            mask_positions = np.zeros((len(batch), width), np.int32)
            for r, i in enumerate(batch):
                for m, p in enumerate(positions[i]):
                    start = max(int(features["word_starts"][r, p]), 0)
                    features["token_ids"][r, start] = self._mask_id
                    mask_positions[r, m] = start
            inputs = {k: tf.constant(features[k]) for k in ("token_ids", "segment_ids",
                                                            "padding_mask")}
            logits = np.array(self.logits_fn(inputs, tf.constant(mask_positions)), np.float32)
            logits[..., ~self._allowed] = -np.inf
            for r, i in enumerate(batch):
                for m, p in enumerate(positions[i]):
                    scores = logits[r, m].copy()
                    old = self._index.get(word_lists[i][p].lower() if self.lower_case
                                          else word_lists[i][p])
                    if old is not None:
                        scores[old] = -np.inf
                    top = np.argpartition(-scores, self.num_candidates)[:self.num_candidates]
                    out[i].append(self.vocabulary[top[rng.randint(len(top))]])
        return out


def choose_positions(word_lists, rate, replacer, rng):
    """Per sentence, the eligible words to replace: each independently with probability `rate`.

    At least one word of a sentence with an eligible word is chosen, so that no variant is a
    copy of its original.
    """
    positions = []
    for words in word_lists:
        eligible = [i for i, w in enumerate(words) if replacer.eligible(w)]
        chosen = [i for i in eligible if rng.random_sample() < rate]
        if eligible and not chosen:
            chosen = [eligible[rng.randint(len(eligible))]]
        positions.append(chosen)
    return positions


def augment_word_lists(word_lists, count, rate, replacer, seed=0):
    """`count` variants of every sentence, variant-major: out[k * N + i] is variant k of i.

    Args:
      word_lists: sentences as word lists.
      count: variants per sentence (N in `--augment=N`).
      rate: the probability that an eligible word is replaced (`--replace_rate`).
      replacer: a `WordReplacer`.
      seed: makes the variants reproducible (so the teacher-label cache hits on rerun).

    Returns:
      (new word lists, replaced positions per new sentence).
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"replace_rate must be in (0, 1], got {rate}")
    rng = np.random.RandomState(seed)
    out, replaced = [], []
    for _ in range(count):
        positions = choose_positions(word_lists, rate, replacer, rng)
        proposals = replacer.propose(word_lists, positions, rng)
        for words, chosen, new_words in zip(word_lists, positions, proposals):
            words = list(words)
            for p, word in zip(chosen, new_words):
                words[p] = word
            out.append(words)
            replaced.append(list(chosen))
    return out, replaced


def augment_examples(examples, count, rate, replacer, seed=0):
    """`count` word-replaced variants of every example, labels (and tags) kept.

    Sentence pairs: both sentences are varied (independently). Slot-tagged examples: a word
    keeps its tag, so tags stay aligned word for word.

    Args:
      examples: `readers.Examples`.
      count, rate, replacer, seed: see `augment_word_lists`.

    Returns:
      `readers.Examples` of `count * len(examples)` variants (variant-major).
    """
    if count < 1:
        return examples.take(0)
    words = [t.split() for t in examples.texts]
    first, _ = augment_word_lists(words, count, rate, replacer, seed)
    repeat = lambda column: None if column is None else list(column) * count
    pairs = None
    if examples.text_pairs is not None:
        second, _ = augment_word_lists([t.split() for t in examples.text_pairs], count, rate,
                                       replacer, seed + 1)
        pairs = [" ".join(w) for w in second]
    return dataclasses.replace(
        examples, texts=[" ".join(w) for w in first], text_pairs=pairs,
        labels=repeat(examples.labels), tags=repeat(examples.tags),
        groups=repeat(examples.groups), source=f"{examples.source} (augmented x{count})",
        skipped=0)


def slot_values(examples):
    """{slot type: sorted distinct values (word tuples)} of BIO-tagged examples."""
    values = {}
    for text, tags in zip(examples.texts, examples.tags):
        words = text.split()
        for kind, begin, end in bio_spans(tags):
            values.setdefault(kind, set()).add(tuple(words[begin:end]))
    return {kind: sorted(found) for kind, found in values.items()}


def swap_slot_values(examples, count, rate=0.5, seed=0, values=None):
    """`count` variants of every slot-tagged example with slot values swapped, tags rebuilt.

    Each slot span is replaced, with probability `rate` (at least one span of a sentence
    that has a swappable one), by another value of the same slot type seen in `values`
    (default: those of `examples`), so "play [daft punk]_artist" may become
    "play [the rolling stones]_artist". Values may differ in length: the span's tags are
    rebuilt as B-type, I-type... Unlike word replacement this keeps every gold tag right,
    and makes the tagger read the context rather than remember the training set's names
    (open-vocabulary slots are where a small tagger loses most: artist, playlist, city).

    Args:
      examples: `readers.Examples` with `tags`.
      count: variants per example.
      rate: the probability that a span is swapped.
      seed: makes the variants reproducible.
      values: `slot_values(...)` to draw from (e.g. of the full training split).

    Returns:
      `readers.Examples` of `count * len(examples)` variants (variant-major); labels kept.
    """
    if examples.tags is None:
        raise ValueError(f"{examples.source}: slot swapping needs slot-tagged examples "
                         "(a *_slots or *_joint task).")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"slot swap rate must be in (0, 1], got {rate}")
    if count < 1:
        return examples.take(0)
    values = slot_values(examples) if values is None else values
    rng = np.random.RandomState(seed)
    texts, tags_out = [], []
    for _ in range(count):
        for text, tags in zip(examples.texts, examples.tags):
            words = text.split()
            spans = [s for s in bio_spans(tags) if len(values.get(s[0], ())) > 1]
            chosen = [s for s in spans if rng.random_sample() < rate]
            if spans and not chosen:
                chosen = [spans[rng.randint(len(spans))]]
            chosen = set(chosen)
            new_words, new_tags, i = [], [], 0
            for span in sorted(chosen, key=lambda s: s[1]):
                kind, begin, end = span
                new_words += words[i:begin]
                new_tags += tags[i:begin]
                old = tuple(words[begin:end])
                value = old
                while value == old:
                    value = values[kind][rng.randint(len(values[kind]))]
                new_words += list(value)
                new_tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(value) - 1)
                i = end
            new_words += words[i:]
            new_tags += tags[i:]
            texts.append(" ".join(new_words))
            tags_out.append(new_tags)
    repeat = lambda column: None if column is None else list(column) * count
    return dataclasses.replace(
        examples, texts=texts, text_pairs=None, labels=repeat(examples.labels), tags=tags_out,
        groups=repeat(examples.groups), source=f"{examples.source} (slot values swapped x{count})",
        skipped=0)
