"""Sentence-vector pooling layers: numpy references, padding invariance, config round trips."""

import keras
import numpy as np
import pytest

from mixvocab_tf.layers.pooling import MaskedMeanPooling
from mixvocab_tf.layers.pooling import MaskedNgramPooling


def _numpy_ngrams(layer, sequence, mask):
    """Each width's 'same' convolution (Keras pads width-1 zeros, the extra one on the
    right), ReLU, max over the kept positions; computed on the kept tokens only."""
    features = []
    for convolution, width in zip(layer.convolutions, layer.widths):
        kernel, bias = (np.asarray(v) for v in convolution.weights)
        rows = []
        for x, m in zip(sequence, mask):
            x = x * m[:, None]
            left = (width - 1) // 2
            padded = np.pad(x, ((left, width - 1 - left), (0, 0)))
            out = np.stack([np.einsum("wh,whf->f", padded[t:t + width], kernel) + bias
                            for t in range(len(x))])
            rows.append((np.maximum(out, 0.0) * m[:, None]).max(0))
        features.append(np.stack(rows))
    return np.concatenate(features, -1)


def test_ngram_pooling_matches_numpy_and_ignores_padding():
    rng = np.random.RandomState(0)
    sequence = rng.normal(size=(2, 6, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], np.int32)
    layer = MaskedNgramPooling(filters=5, widths=(2, 3))
    pooled = np.asarray(layer(sequence, mask))
    assert pooled.shape == (2, 10)
    np.testing.assert_allclose(pooled, _numpy_ngrams(layer, sequence, mask), atol=1e-5)
    # Garbage in the padded positions, or more padding, changes nothing.
    noisy = sequence.copy()
    noisy[1, 3:] = 100.0
    np.testing.assert_allclose(layer(noisy, mask), pooled, atol=1e-5)
    longer = np.pad(sequence, ((0, 0), (0, 4), (0, 0)), constant_values=-3.0)
    np.testing.assert_allclose(layer(longer, np.pad(mask, ((0, 0), (0, 4)))), pooled, atol=1e-5)
    # The first row's features differ from the second's: the kept tokens matter.
    assert not np.allclose(pooled[0], pooled[1])


def test_ngram_pooling_round_trips_in_a_saved_model(tmp_path):
    sequence = keras.Input((None, 8))
    mask = keras.Input((None,), dtype="int32")
    outputs = MaskedNgramPooling(filters=4, widths=(1, 3), name="ngrams")(sequence, mask)
    model = keras.Model([sequence, mask], outputs)
    x = [np.random.RandomState(1).normal(size=(3, 5, 8)).astype(np.float32),
         np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], np.int32)]
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "ngrams.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-6)
    layer = restored.get_layer("ngrams")
    assert (layer.filters, layer.widths) == (4, (1, 3))
    assert MaskedNgramPooling.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs", [dict(filters=0), dict(widths=()), dict(widths=(0, 2))])
def test_ngram_pooling_rejects_empty_settings(kwargs):
    with pytest.raises(ValueError, match="must be positive"):
        MaskedNgramPooling(**kwargs)


def test_mean_pooling_of_all_padding_is_zero_not_nan():
    pooled = MaskedMeanPooling()(np.ones((1, 3, 4), np.float32), np.zeros((1, 3), np.int32))
    np.testing.assert_allclose(pooled, np.zeros((1, 4)))
