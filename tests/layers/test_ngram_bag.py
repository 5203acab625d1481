"""HashedNgramBag: a numpy reference, padding invariance, exact keys, config round trips."""

import keras
import numpy as np
import pytest

from mixvocab_tf.layers.ngram_bag import MAX_VOCABULARY_SIZE
from mixvocab_tf.layers.ngram_bag import HashedNgramBag


def _numpy_bag(layer, token_ids, mask):
    """The mean of the table rows of every kept word piece and every kept adjacent pair."""
    table = np.asarray(layer.table.embeddings)
    rows = []
    for ids, m in zip(token_ids, mask):
        kept = [int(t) for t, keep in zip(ids, m) if keep]
        keys = kept + [a * layer.vocabulary_size + b + layer.vocabulary_size
                       for a, b in zip(kept, kept[1:])]
        rows.append(layer.rate_scale * table[[k % layer.buckets for k in keys]].mean(0))
    return np.stack(rows)


def _trained_looking(layer):
    """Random table values: a fresh table is all zeros, which would hide every mistake."""
    layer.table.embeddings.assign(
        np.random.RandomState(0).normal(size=(layer.buckets, layer.dim)).astype(np.float32))


def test_bag_matches_numpy_and_ignores_padding():
    layer = HashedNgramBag(vocabulary_size=50, buckets=97, dim=4, rate_scale=3.0)
    token_ids = np.array([[2, 7, 7, 49, 3, 0], [2, 11, 3, 0, 0, 0]], np.int32)
    mask = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]], np.int32)
    layer(token_ids, mask)
    _trained_looking(layer)
    bag = np.asarray(layer(token_ids, mask))
    assert bag.shape == (2, 4)
    np.testing.assert_allclose(bag, _numpy_bag(layer, token_ids, mask), rtol=1e-5, atol=1e-5)
    # Other ids under the padding, or more padding, change nothing.
    noisy = token_ids.copy()
    noisy[1, 3:] = 42
    np.testing.assert_allclose(layer(noisy, mask), bag, atol=1e-5)
    longer = np.pad(token_ids, ((0, 0), (0, 3)), constant_values=5)
    np.testing.assert_allclose(layer(longer, np.pad(mask, ((0, 0), (0, 3)))), bag, atol=1e-5)
    # Order matters through the pairs: the same word pieces reversed give another vector.
    reverse = np.array([[2, 3, 49, 7, 7]], np.int32)
    forward = np.array([[2, 7, 7, 49, 3]], np.int32)
    assert not np.allclose(layer(reverse, np.ones_like(reverse)),
                           layer(forward, np.ones_like(forward)))


def test_pair_keys_are_exact_below_the_modulo():
    """Before the modulo, every word piece and every ordered pair has its own key."""
    vocabulary_size = 30
    ids = np.arange(vocabulary_size)
    pair_keys = (ids[:, None] * vocabulary_size + ids[None, :] + vocabulary_size).ravel()
    assert len(set(pair_keys.tolist())) == vocabulary_size ** 2
    assert pair_keys.min() >= vocabulary_size  # never a word piece's key
    # The largest vocabulary allowed keeps the largest key inside int32.
    v = MAX_VOCABULARY_SIZE
    assert (v - 1) * v + (v - 1) + v < 2 ** 31


def test_bag_round_trips_in_a_saved_model(tmp_path):
    token_ids = keras.Input((None,), dtype="int32")
    mask = keras.Input((None,), dtype="int32")
    layer = HashedNgramBag(vocabulary_size=40, buckets=53, dim=3, name="bag")
    model = keras.Model([token_ids, mask], layer(token_ids, mask))
    _trained_looking(layer)
    x = [np.array([[2, 5, 9, 3], [2, 39, 3, 0]], np.int32),
         np.array([[1, 1, 1, 1], [1, 1, 1, 0]], np.int32)]
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "bag.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-6)
    config = restored.get_layer("bag").get_config()
    assert (config["vocabulary_size"], config["buckets"], config["dim"]) == (40, 53, 3)
    assert HashedNgramBag.from_config(config).get_config() == config


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocabulary_size=MAX_VOCABULARY_SIZE + 1), "stay in int32"),
    (dict(vocabulary_size=0), "stay in int32"),
    (dict(vocabulary_size=10, buckets=0), "must be positive"),
    (dict(vocabulary_size=10, dim=0), "must be positive"),
])
def test_bag_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HashedNgramBag(**kwargs)
