import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.preprocessing.graph_ops import search
from mixvocab_tf.preprocessing.graph_ops import take
from mixvocab_tf.preprocessing.graph_ops import true_indices


def test_helpers_match_the_ops_they_replace():
    rng = np.random.default_rng(0)
    params = rng.integers(-50, 50, 300).astype(np.int32)
    indices = rng.integers(0, 300, 1000).astype(np.int32)
    np.testing.assert_array_equal(take(params, indices).numpy(), params[indices])
    flags = rng.random(500) < 0.3
    np.testing.assert_array_equal(true_indices(flags).numpy(), np.flatnonzero(flags))
    assert true_indices(tf.zeros([0], tf.bool)).shape == (0,)
    sorted_values = np.sort(rng.integers(0, 100, 60)).astype(np.int32)  # with ties
    values = rng.integers(-5, 105, 400).astype(np.int32)
    for side in ("left", "right"):
        np.testing.assert_array_equal(search(sorted_values, values, side).numpy(),
                                      np.searchsorted(sorted_values, values, side=side))


def test_take_rejects_out_of_range_indices():
    with pytest.raises(tf.errors.InvalidArgumentError):
        take(tf.constant([1, 2]), tf.constant([2]))
