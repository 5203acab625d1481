"""Scores a task model on examples: the metrics of its task, a JSON-ready report, a table.

* classification: accuracy (+ F1 of the positive class for MRPC, Matthews for CoLA); for
  CLINC150 an utterance whose top softmax probability is below `oos_threshold` is predicted
  out-of-scope, accuracy counts that as an error on in-scope data, and `oos_recall` is the
  share of `oos_valid` predicted out-of-scope,
* tagging: CoNLL span F1 (precision, recall) over words, read at each word's first sub-token,
* response selection: recall@1 and recall@10 of the true response among 100 candidates (the
  examples are shuffled with a fixed seed and cut into blocks of 100; each context is ranked
  against the 100 responses of its block).

Gold labels outside the model's label set (ATIS valid has one intent that train lacks) are,
by default, counted as errors and reported (`unknown_labels`); "skip" leaves them out,
"error" raises with the file and line.

Example:
>>> report = evaluate_model_dir("runs/snips", data_dir="../shared/data/tasks", split="valid")
>>> print(format_table(report))
"""

import numpy as np

from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import metrics as metrics_lib
from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import scoring
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.inputs import model_inputs
from mixvocab_tf.tasks.scoring import binary_scores  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.selection import subsample  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.training.length_buckets import predict_by_length

UNKNOWN_LABEL_POLICIES = ("wrong", "skip", "error")


def predict(model, features, batch_size=64):
    """Runs the inference model over encoded features (NumPy in, NumPy out)."""
    return model.predict(model_inputs(features), batch_size=batch_size, verbose=0)


def predict_sentences(model, features, batch_size=64):
    """`predict` for a model with one output row an example (classification): the rows
    are grouped by length and cut to it (`predict_by_length`), so short texts do not pay
    for the padding, which the model masks."""
    return predict_by_length(model, model_inputs(features), batch_size)


def softmax(logits, temperature=1.0):
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _label_ids(labels, label_list, source, policy):
    """Gold label ids; unknown ones -> -1 (wrong), dropped (skip) or an error."""
    index = {label: i for i, label in enumerate(label_list)}
    ids, keep, unknown = [], [], {}
    for line, label in enumerate(labels):
        if label in index:
            ids.append(index[label])
            keep.append(line)
            continue
        unknown[label] = unknown.get(label, 0) + 1
        if policy == "error":
            raise readers.TaskDataError(
                f"{source}: example {line + 1} has label {label!r}, which the model does not "
                f"know (its labels: {', '.join(label_list[:10])}...). Fix: correct the label, or "
                "score with unknown_labels='wrong' (count as errors) or 'skip'.")
        if policy == "wrong":
            ids.append(-1)
            keep.append(line)
    return np.asarray(ids, np.int64), keep, unknown


def classification_scores(task_model, task, examples, oos_examples=None,
                          unknown_labels="wrong", batch_size=64):
    """Metrics of a (pair) classification model; see the module docstring."""
    encoder = InputEncoder.for_task_model(task_model)
    label_list = task_model.labels
    gold, keep, unknown = _label_ids(examples.labels, label_list, examples.source, unknown_labels)
    examples = examples.select(keep)
    probabilities = softmax(predict_sentences(
        task_model.model, encoder.encode_examples(task.type, examples), batch_size))
    predicted = probabilities.argmax(-1)
    threshold = task_model.config.get("oos_threshold") if task.oos_split else None
    if threshold is not None:
        predicted = np.where(probabilities.max(-1) < threshold, -2, predicted)
    scores = scoring.classification_metrics(task, label_list, gold, predicted)
    if oos_examples is not None and threshold is not None:
        oos_probabilities = softmax(predict_sentences(
            task_model.model, encoder.encode_examples(task.type, oos_examples), batch_size))
        oos_predicted = [task_registry.OOS_LABEL if p.max() < threshold else "in_scope"
                         for p in oos_probabilities]
        scores["oos_recall"] = metrics_lib.oos_recall(oos_predicted)
        scores["accuracy_without_oos_threshold"] = metrics_lib.accuracy(
            gold, probabilities.argmax(-1))
    return scores, {"examples": len(gold), "unknown_labels": unknown}


def tagging_scores(task_model, examples, batch_size=64):
    """CoNLL span F1 of a tagging model over the words of `examples`."""
    encoder = InputEncoder.for_task_model(task_model)
    word_lists = [t.split() for t in examples.texts]
    features = encoder.encode_words(word_lists)
    logits = predict(task_model.model, features, batch_size)
    labels = task_model.labels
    predicted = scoring.word_tags(labels, logits, features["word_starts"], word_lists)
    spans = scoring.tagging_metrics(examples.tags, predicted)
    gold_tags = {t for tags in examples.tags for t in tags}
    unknown = sorted(gold_tags - set(labels))
    truncated = int(sum(np.sum(features["word_starts"][i, :len(w)] < 0)
                        for i, w in enumerate(word_lists)))
    return ({"slot_f1": spans["f1"], "slot_precision": spans["precision"],
             "slot_recall": spans["recall"]},
            {"examples": len(word_lists), "unknown_labels": {t: 1 for t in unknown},
             "spans": {k: spans[k] for k in ("gold", "predicted", "correct")},
             "truncated_words": truncated})


def response_scores(task_model, examples, num_candidates=100, seed=0, batch_size=64,
                    max_examples=None):
    """recall@1 / recall@10 among `num_candidates` (the true response and its block's others)."""
    if len(examples) < num_candidates:
        raise ValueError(
            f"{examples.source}: {len(examples)} pairs, fewer than the {num_candidates} candidates "
            "that each context is ranked against.")
    order = np.random.RandomState(seed).permutation(len(examples))
    blocks = len(examples) // num_candidates
    if max_examples:
        blocks = max(1, min(blocks, max_examples // num_candidates))
    examples = examples.select(order[:blocks * num_candidates].tolist())
    encoder = InputEncoder.for_task_model(task_model)
    contexts = predict(task_model.model, encoder.encode_context(examples.texts),
                       batch_size)["context_embedding"]
    responses = predict(task_model.model, encoder.encode_texts(examples.text_pairs),
                        batch_size)["response_embedding"]
    totals = {}
    for block in range(blocks):
        rows = slice(block * num_candidates, (block + 1) * num_candidates)
        for key, value in metrics_lib.recall_at_k(contexts[rows] @ responses[rows].T).items():
            totals[key] = totals.get(key, 0.0) + value / blocks
    return totals, {"examples": blocks * num_candidates, "candidates": num_candidates,
                    "unknown_labels": {}}


def evaluate_examples(task_model, task, examples, oos_examples=None, unknown_labels="wrong",
                      batch_size=64, num_candidates=100, max_examples=None):
    """Scores `examples` of `task` with a loaded `TaskModel`; returns (metrics, details)."""
    if unknown_labels not in UNKNOWN_LABEL_POLICIES:
        raise ValueError(f"unknown_labels must be one of {UNKNOWN_LABEL_POLICIES}")
    if task.type != task_model.task_type:
        raise ValueError(
            f"the model was fine-tuned for a {task_model.task_type} task "
            f"({task_model.config.get('task')}), but {task.name} is a {task.type} task.")
    if task.type == task_registry.TAGGING:
        return tagging_scores(task_model, subsample(examples, max_examples), batch_size)
    if task.type == task_registry.RESPONSE_SELECTION:
        return response_scores(task_model, examples, num_candidates, batch_size=batch_size,
                               max_examples=max_examples)
    if task.type == task_registry.INTENT_AND_SLOTS:
        examples = subsample(examples, max_examples)
        return joint.evaluate_joint(task_model, examples), {"examples": len(examples)}
    return classification_scores(task_model, task, subsample(examples, max_examples), oos_examples,
                                 unknown_labels, batch_size)


def evaluate_model_dir(model_dir, task_name=None, data_dir=None, split=None, eval_file=None,
                       oos_file=None, unknown_labels="wrong", skip_empty=False, batch_size=64,
                       num_candidates=100, max_examples=None):
    """Loads a task model directory and scores one split (or any file in the task's format).

    Args:
      model_dir: a directory written by `tools/finetune.py` (or a run folder holding one
        in `export/`).
      task_name: the task (default: the one the model was fine-tuned on).
      data_dir: the data folder (`../shared/data`, its `tasks/` folder, the task's own
        folder; a TFDS data dir for `tfds:` tasks).
      split: a split of the task (default: its dev/valid split).
      eval_file: a file or folder in the task's format, instead of `data_dir` + `split`.
      oos_file: out-of-scope utterances (CLINC150; default: the task's `oos_valid` when
        `data_dir` is given).
      unknown_labels: "wrong", "skip" or "error" (see the module docstring).
      skip_empty: skip and count empty lines instead of failing.
      batch_size, num_candidates, max_examples: scoring settings.

    Returns:
      A JSON-ready report: task, split, source, model_dir, metrics and the counts.
    """
    task_model = load_task_model(model_dir)
    model_dir = task_model.directory  # a run folder reads as its export/
    task = task_registry.get_task(task_name or task_model.config["task"])
    if eval_file:
        examples, split = task.read_file(eval_file, skip_empty=skip_empty), split or "file"
    else:
        if not data_dir:
            raise ValueError("pass data_dir (with split) or eval_file")
        split = split or task_registry.default_eval_split(task)
        examples = task.read(data_dir, split, skip_empty=skip_empty)
    oos_examples = None
    if task.oos_split:
        if oos_file:
            oos_examples = task.read_file(oos_file, skip_empty=skip_empty)
        elif data_dir and not eval_file:
            oos_examples = task.read(data_dir, task.oos_split, skip_empty=skip_empty)
    scores, details = evaluate_examples(task_model, task, examples, oos_examples, unknown_labels,
                                        batch_size, num_candidates, max_examples)
    return {
        "task": task.name,
        "split": split,
        "source": examples.source,
        "model_dir": model_dir,
        "metrics": scores,
        "skipped_lines": examples.skipped,
        **details,
    }


def format_table(reports):
    """A plain-text table of one report or a list of them (one row a metric)."""
    if isinstance(reports, dict):
        reports = [reports]
    rows = [("task", "split", "metric", "value", "examples")]
    for report in reports:
        for name, value in report["metrics"].items():
            rows.append((report["task"], str(report["split"]), name, f"{100 * value:.2f}",
                         str(report.get("examples", ""))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
