"""The metrics every scorer shares (evaluation, export validation, the pipeline report)."""

import numpy as np
import pytest

from mixvocab_tf.tasks import scoring
from mixvocab_tf.tasks import task_registry


def test_classification_metrics_add_the_binary_scores_a_task_names():
    gold, predicted = np.array([0, 1, 1, 0, -1]), np.array([0, 1, 0, 0, 1])
    sst2 = scoring.classification_metrics(task_registry.get_task("sst2"), ["0", "1"], gold,
                                          predicted)
    assert sst2 == {"accuracy": pytest.approx(3 / 5)}  # the unknown gold label (-1) is wrong
    mrpc = scoring.classification_metrics(task_registry.get_task("mrpc"), ["0", "1"], gold,
                                          predicted)
    # Positive class "1": tp 1, fp 1 (the unknown row), fn 1 -> F1 0.5.
    assert mrpc["f1"] == pytest.approx(0.5) and mrpc["accuracy"] == pytest.approx(0.6)
    assert set(scoring.classification_metrics(None, ["0", "1"], gold, predicted)) == {"accuracy"}


def test_word_tags_read_first_pieces_and_fill_cut_words_with_o():
    labels = ["B-x", "O", "I-x"]
    logits = np.zeros((1, 5, 3), np.float32)
    logits[0, 1, 0] = logits[0, 2, 2] = logits[0, 3, 1] = 5.0
    starts = np.array([[1, 2, 3, -1]])  # the fourth word was cut off by L
    tags = scoring.word_tags(labels, logits, starts, [["a", "b", "c", "d"]])
    assert tags == [["B-x", "I-x", "O", "O"]]
    assert scoring.tagging_metrics([["B-x", "I-x", "O", "B-x"]], tags)["f1"] == pytest.approx(
        2 / 3)
