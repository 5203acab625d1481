"""bounded_attention_masks: float outputs within S * exp(-margin) of Keras' -1e9 mask,
padded keys still ignored, the patch undone afterwards."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.export.attention_mask import attention_layers
from mixvocab_tf.export.attention_mask import bounded_attention_masks
from mixvocab_tf.models.student_encoder import StudentEncoder

L = 16


def _inputs(lengths, vocabulary_size=100, seed=0):
    rng = np.random.RandomState(seed)
    padding_mask = (np.arange(L)[None, :] < np.array(lengths)[:, None]).astype("int32")
    token_ids = rng.randint(1, vocabulary_size, size=(len(lengths), L)) * padding_mask
    return {"token_ids": token_ids.astype("int32"), "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask}


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(3)
    return StudentEncoder(vocabulary_size=100, num_layers=2, hidden_dim=32, num_heads=4,
                          intermediate_dim=64, max_sequence_length=L)


def test_bounded_mask_matches_keras_mask_in_float(encoder):
    inputs = _inputs([3, 9, L])
    expected = encoder(inputs)["sequence_output"].numpy()
    assert len(attention_layers(encoder)) == 2
    with bounded_attention_masks(encoder, margin=16.0) as count:
        assert count == 2
        actual = encoder(inputs)["sequence_output"].numpy()
    valid = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(actual[valid], expected[valid], atol=1e-4)
    # The patch is gone afterwards: Keras' own attention again, bit for bit.
    np.testing.assert_array_equal(encoder(inputs)["sequence_output"].numpy(), expected)


def test_padded_keys_are_ignored_under_the_bounded_mask(encoder):
    inputs = _inputs([5])
    other = {k: v.copy() for k, v in inputs.items()}
    other["token_ids"][0, 5:] = 77  # different content under the padding
    with bounded_attention_masks(encoder, margin=16.0):
        first = encoder(inputs)["sequence_output"].numpy()[0, :5]
        second = encoder(other)["sequence_output"].numpy()[0, :5]
    np.testing.assert_allclose(first, second, atol=1e-4)


def test_small_margin_leaks_and_bad_margin_is_refused(encoder):
    inputs = _inputs([2])
    expected = encoder(inputs)["sequence_output"].numpy()[0, :2]
    with bounded_attention_masks(encoder, margin=0.5):
        leaky = encoder(inputs)["sequence_output"].numpy()[0, :2]
    assert np.max(np.abs(leaky - expected)) > 1e-3  # the test can tell a leaky mask
    with pytest.raises(ValueError, match="margin must be > 0"):
        with bounded_attention_masks(encoder, margin=0):
            pass


def test_masked_keys_get_at_most_exp_minus_margin():
    keras.utils.set_random_seed(0)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)
    x = tf.random.normal((1, L, 16))
    mask = tf.constant(np.arange(L)[None, None, :] < 4)  # [B, T, S]
    layer(x, x, attention_mask=mask)
    with bounded_attention_masks(layer, margin=10.0):
        _, weights = layer(x, x, attention_mask=mask, return_attention_scores=True)
    weights = weights.numpy()
    assert weights[..., 4:].max() < np.exp(-10.0 + 1e-3)  # masked keys get ~nothing
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert weights[..., :4].min() > 1e-3
