"""The task losses: soft targets, weighted KL to a teacher, weighted hard labels, the cosine
distance of sentence features."""

import keras
import numpy as np
import pytest

from mixvocab_tf.losses.task import SoftTargetLoss
from mixvocab_tf.losses.task import WeightedCosineDistance
from mixvocab_tf.losses.task import WeightedHardLoss
from mixvocab_tf.losses.task import WeightedKLDivergence
from mixvocab_tf.losses.task import WeightedLogitMSE
from mixvocab_tf.tasks.evaluation import softmax


def _packed(logits, weights):
    return np.concatenate([logits, np.asarray(weights, np.float32)[..., None]], -1)


def test_kl_is_zero_when_student_equals_teacher():
    logits = np.random.RandomState(0).normal(size=(6, 5)).astype(np.float32)
    loss = WeightedKLDivergence(temperature=2.0)
    ones = np.ones(6)
    assert float(loss(_packed(logits, ones), logits)) == pytest.approx(0.0, abs=1e-6)
    # A constant shift per row is the same distribution.
    assert float(loss(_packed(logits, ones), logits + 3.0)) == pytest.approx(0.0, abs=1e-5)
    other = np.random.RandomState(1).normal(size=(6, 5)).astype(np.float32)
    p = softmax(logits, 2.0)
    q = softmax(other, 2.0)
    expected = 4.0 * np.sum(p * (np.log(p) - np.log(q)), -1)
    assert float(loss(_packed(logits, ones), other)) == pytest.approx(expected.mean(), rel=1e-4)
    # Weight-0 rows (padding words) neither count nor dilute the mean.
    weights = np.array([1, 1, 0, 0, 1, 0])
    assert float(loss(_packed(logits, weights), other)) == pytest.approx(
        expected[weights == 1].mean(), rel=1e-4)


def test_hard_loss_averages_over_labelled_rows():
    logits = np.random.RandomState(2).normal(size=(4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1])
    log_probs = np.log(softmax(logits))
    ce = -log_probs[np.arange(4), labels]
    packed = np.stack([labels, [1, 0, 1, 0]], -1).astype(np.float32)
    assert float(WeightedHardLoss()(packed, logits)) == pytest.approx(ce[[0, 2]].mean(),
                                                                         rel=1e-5)
    assert float(WeightedHardLoss()(packed * [1, 0], logits)) == 0.0  # nothing labelled


def test_soft_target_loss_matches_numpy():
    rng = np.random.RandomState(0)
    teacher = softmax(rng.randn(4, 5), temperature=2.0)
    logits = rng.randn(4, 5)
    z = logits / 2.0
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    expected = np.mean(-4.0 * np.sum(teacher * log_p, -1))
    actual = SoftTargetLoss(2.0)(teacher.astype("float32"), logits.astype("float32"))
    assert float(actual) == pytest.approx(expected, rel=1e-5)


def test_logit_mse_matches_numpy_and_sees_a_shift():
    rng = np.random.RandomState(3)
    teacher, student = rng.randn(5, 4).astype("float32"), rng.randn(5, 4).astype("float32")
    weights = np.array([1, 0, 1, 1, 0])
    expected = np.mean((student - teacher) ** 2, -1)[weights == 1].mean()
    loss = WeightedLogitMSE()
    assert float(loss(_packed(teacher, weights), student)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(_packed(teacher, np.ones(5)), teacher)) == 0.0
    # KL ignores a constant shift of a row; the logit MSE does not.
    assert float(loss(_packed(teacher, np.ones(5)), teacher + 1.0)) == pytest.approx(1.0)


def test_cosine_distance_matches_numpy_and_ignores_scale():
    rng = np.random.RandomState(4)
    teacher, student = rng.randn(5, 6).astype("float32"), rng.randn(5, 6).astype("float32")
    weights = np.array([1, 1, 0, 1, 0])
    cosine = np.sum(teacher * student, -1) / (
        np.linalg.norm(teacher, axis=-1) * np.linalg.norm(student, axis=-1))
    loss = WeightedCosineDistance()
    assert float(loss(_packed(teacher, weights), student)) == pytest.approx(
        (1 - cosine)[weights == 1].mean(), rel=1e-5)
    assert float(loss(_packed(teacher, np.ones(5)), 3.0 * teacher)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(_packed(teacher, np.ones(5)), -teacher)) == pytest.approx(2.0)


@pytest.mark.parametrize("loss", [SoftTargetLoss(3.0), WeightedKLDivergence(3.0),
                                  WeightedLogitMSE(), WeightedHardLoss(),
                                  WeightedCosineDistance()])
def test_losses_round_trip_through_keras_serialization(loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
