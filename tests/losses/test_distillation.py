"""Stage II loss terms against numpy references."""

import numpy as np
import pytest

from mixvocab_tf.losses import distillation as losses


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_logit_distillation_matches_numpy_kl_at_weighted_positions():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(2, 3, 7)).astype("float32")
    student = rng.normal(size=(2, 3, 7)).astype("float32")
    weights = np.array([[1, 1, 0], [1, 0, 0]], "float32")
    t = 2.0
    p, q = _softmax(teacher / t), _softmax(student / t)
    kl = (p * (np.log(p) - np.log(q))).sum(-1)
    expected = (kl * weights).sum() / weights.sum() * t**2
    actual = losses.logit_distillation_loss(teacher, student, weights, temperature=t)
    np.testing.assert_allclose(actual, expected, rtol=1e-5)
    assert float(losses.logit_distillation_loss(teacher, teacher, weights)) == pytest.approx(0, abs=1e-6)


def test_masked_lm_loss_and_accuracy_ignore_padding_predictions():
    logits = np.log(np.array([[[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]]], "float32"))
    labels = np.array([[0, 0, 1]])
    weights = np.array([[1.0, 1.0, 0.0]], "float32")
    expected = -(np.log(0.7) + np.log(0.2)) / 2
    np.testing.assert_allclose(losses.masked_lm_loss(labels, logits, weights), expected, rtol=1e-5)
    assert float(losses.masked_lm_accuracy(labels, logits, weights)) == pytest.approx(0.5)


def test_hidden_state_loss_averages_real_tokens_only():
    teacher = np.zeros((1, 3, 2), "float32")
    student = np.array([[[1, 1], [3, 3], [100, 100]]], "float32")
    mask = np.array([[1, 1, 0]])
    assert float(losses.hidden_state_loss(teacher, student, mask)) == pytest.approx((1 + 9) / 2)


def test_attention_loss_is_zero_for_equal_and_positive_otherwise():
    rng = np.random.default_rng(1)
    scores = _softmax(rng.normal(size=(2, 4, 5, 5))).astype("float32")
    mask = np.ones((2, 5), "int32")
    assert float(losses.attention_loss(scores, scores, mask)) == pytest.approx(0, abs=1e-6)
    other = _softmax(rng.normal(size=(2, 2, 5, 5))).astype("float32")
    # Different head counts compare head-averaged distributions.
    p, q = scores.mean(1), other.mean(1)
    expected = (p * (np.log(p + 1e-9) - np.log(q + 1e-9))).sum(-1).mean()
    np.testing.assert_allclose(losses.attention_loss(scores, other, mask), expected, rtol=1e-4)


@pytest.mark.parametrize(
    "student,teacher,expected",
    [
        (6, 6, [(i, i) for i in range(7)]),
        (2, 6, [(0, 0), (1, 3), (2, 6)]),
        (4, 12, [(0, 0), (1, 3), (2, 6), (3, 9), (4, 12)]),
        (4, 6, [(0, 0), (1, 2), (2, 3), (3, 5), (4, 6)]),
        # Deeper than the teacher: layer 1 pairs with teacher layer 1, never the embeddings.
        (12, 6, [(0, 0)] + [(i, (i + 1) // 2) for i in range(1, 13)]),
        (3, 2, [(0, 0), (1, 1), (2, 2), (3, 2)]),
    ],
)
def test_uniform_layer_map(student, teacher, expected):
    assert losses.uniform_layer_map(student, teacher) == expected


@pytest.mark.parametrize("student,teacher", [(12, 6), (6, 6), (2, 6), (4, 12), (5, 3), (1, 6)])
def test_every_student_layer_has_a_teacher_layer(student, teacher):
    layer_map = losses.uniform_layer_map(student, teacher)
    assert [s for s, _ in layer_map] == list(range(student + 1))
    assert layer_map[-1] == (student, teacher)
    teacher_indices = [t for _, t in layer_map]
    assert teacher_indices == sorted(teacher_indices)
    assert all(1 <= t <= teacher for _, t in layer_map[1:])
    pairs = losses.attention_layer_pairs(layer_map)
    assert [s for s, _ in pairs] == list(range(student))
    assert all(0 <= t < teacher for _, t in pairs)


def test_attention_pairs_refuse_embedding_targets():
    with pytest.raises(ValueError, match="embeddings"):
        losses.attention_layer_pairs([(0, 0), (1, 0), (2, 1)])
