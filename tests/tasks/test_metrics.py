"""Metrics against hand-worked cases and independent references."""

import numpy as np
import pytest

from mixvocab_tf.tasks import metrics


def test_bio_spans_follow_conlleval():
    tags = ["B-a", "I-a", "O", "I-b", "I-b", "B-b", "I-a", "O"]
    # I- after O starts a span; a type change ends one.
    assert metrics.bio_spans(tags) == [("a", 0, 2), ("b", 3, 5), ("b", 5, 6), ("a", 6, 7)]


def test_span_f1_hand_worked():
    gold = [["B-city", "I-city", "O", "B-date"], ["O", "B-x"]]
    predicted = [["B-city", "O", "O", "B-date"], ["O", "B-x"]]
    # gold: city[0:2], date, x; predicted: city[0:1] (wrong end), date, x -> 2 of 3 correct
    result = metrics.span_f1(gold, predicted)
    assert (result["gold"], result["predicted"], result["correct"]) == (3, 3, 2)
    assert result["f1"] == pytest.approx(2 / 3)
    assert metrics.span_f1(gold, gold)["f1"] == 1.0
    with pytest.raises(ValueError, match="sentence 1"):
        metrics.span_f1(gold, [predicted[0], ["O"]])


def test_matthews_equals_pearson_of_binary_vectors():
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 2, 500)
    predictions = np.where(rng.rand(500) < 0.8, labels, 1 - labels)
    expected = np.corrcoef(labels, predictions)[0, 1]
    assert metrics.matthews_corrcoef(labels, predictions) == pytest.approx(expected)
    assert metrics.matthews_corrcoef(labels, np.ones(500)) == 0.0


def test_binary_f1_and_accuracy():
    labels = [1, 1, 0, 0, 1]
    predictions = [1, 0, 1, 0, 1]
    # tp 2, fp 1, fn 1 -> precision = recall = 2/3
    assert metrics.binary_f1(labels, predictions) == pytest.approx(2 / 3)
    assert metrics.accuracy(labels, predictions) == pytest.approx(0.6)


def test_recall_at_k_ranks_and_ties():
    scores = np.eye(100)
    assert metrics.recall_at_k(scores) == {"recall@1": 1.0, "recall@10": 1.0}
    scores = np.zeros((100, 100))  # all tied: the true response ranks last
    assert metrics.recall_at_k(scores) == {"recall@1": 0.0, "recall@10": 0.0}
    scores = -np.abs(np.subtract.outer(np.arange(100), np.arange(100)) + 0.5)
    # Row i ties column i with column i + 1 (both -0.5); ties rank the true one 2nd, except row 99.
    result = metrics.recall_at_k(scores, ks=(1, 2))
    assert result["recall@1"] == pytest.approx(0.01) and result["recall@2"] == 1.0


def test_oos_recall():
    assert metrics.oos_recall(["oos", "alarm", "oos", "oos"]) == 0.75
