"""A task's metrics from a model's predictions: what `evaluation` (Keras), export validation
(Keras against TFLite) and the pipeline's report all score with, so a number means the same
everywhere.

* (pair) classification: accuracy, plus the positive class's F1 and Matthews correlation for
  the tasks that name them (MRPC, CoLA);
* tagging: the word tags read at each word's first piece, scored by CoNLL span F1.

Example:
>>> classification_metrics(task, ["neg", "pos"], gold=[0, 1, 1], predicted=[0, 1, 0])
{'accuracy': 0.666...}
"""

import numpy as np

from mixvocab_tf.tasks import metrics as metrics_lib
from mixvocab_tf.tasks import tagging


def binary_scores(task, label_list, gold, predicted):
    """The positive class's F1 and Matthews correlation, for the tasks that name them (MRPC,
    CoLA); {} for the others (and for `task` None, a task the registry does not know)."""
    wanted = [m for m in ("f1", "matthews_corr") if task is not None and m in task.metrics]
    if not wanted:
        return {}
    positive = label_list.index(task.positive_label) if task.positive_label in label_list else 1
    functions = {"f1": metrics_lib.binary_f1, "matthews_corr": metrics_lib.matthews_corrcoef}
    return {name: functions[name](gold, predicted, positive) for name in wanted}


def gold_label_ids(labels, label_list):
    """Label names -> ids in `label_list`; a name it lacks -> -1 (scored as always wrong)."""
    index = {label: i for i, label in enumerate(label_list)}
    return np.array([index.get(label, -1) for label in labels], np.int64)


def classification_metrics(task, label_list, gold, predicted):
    """Accuracy (+ the task's binary scores) of predicted label ids against gold ids (-1: a
    gold label the model does not know, always wrong)."""
    return {"accuracy": metrics_lib.accuracy(gold, predicted),
            **binary_scores(task, label_list, gold, predicted)}


def word_tags(labels, logits, word_starts, word_lists):
    """Per-token logits [N, L, T] -> each sentence's word tags (names), read at each word's
    first piece; a word cut off by L gets "O" (the first tag without one)."""
    fill = labels.index("O") if "O" in labels else 0
    ids = tagging.word_predictions(np.asarray(logits), word_starts,
                                   [len(words) for words in word_lists], fill=fill, tags=labels)
    return [[labels[i] for i in row] for row in ids]


def tagging_metrics(gold_tags, predicted_tags):
    """CoNLL span F1, precision, recall and counts of predicted word tags."""
    return metrics_lib.span_f1(gold_tags, predicted_tags)
