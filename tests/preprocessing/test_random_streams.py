import math

import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.preprocessing.random_streams import UniformStreams
from mixvocab_tf.preprocessing.random_streams import seeded_generator


def _draw(generator, sizes):
    streams = UniformStreams(generator, num_streams=len(sizes))
    return [streams.uniform(i, [n]).numpy() for i, n in enumerate(sizes)]


def test_streams_are_uniform_independent_and_reproducible():
    n = 20000
    a0, a1 = _draw(seeded_generator(5), [n, n])
    b0, b1 = _draw(seeded_generator(5), [n, n])
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(a1, b1)
    for x in (a0, a1):
        assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() < 1.0
        assert abs(x.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)
    # Independent streams: correlation ~ N(0, 1/n).
    assert abs(np.corrcoef(a0, a1)[0, 1]) < 4 / math.sqrt(n)


def test_each_read_advances_and_stream_draws_do_not_depend_on_each_other():
    generator = seeded_generator(1)
    first = _draw(generator, [100, 100])
    second = _draw(generator, [100, 100])
    assert not np.array_equal(first[0], second[0])
    # Drawing only stream 0 (masking off) leaves its values unchanged.
    only_first = _draw(seeded_generator(1), [100])
    np.testing.assert_array_equal(only_first[0], first[0])


def test_nearby_seeds_give_unrelated_streams():
    # tf.random.Generator.from_seed(s + 1) is from_seed(s) shifted by one
    # Philox block (4 draws); hashed seeds must not be.
    n = 4000
    a = _draw(seeded_generator(7), [n])[0]
    b = _draw(seeded_generator(8), [n])[0]
    for shift in range(0, 17):
        assert not np.array_equal(a[shift:shift + 100], b[:100])
        assert not np.array_equal(b[shift:shift + 100], a[:100])
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / math.sqrt(n)


def test_errors():
    with pytest.raises(ValueError, match="Philox"):
        UniformStreams(tf.random.Generator.from_seed(1, alg="threefry"), 2)
    streams = UniformStreams(seeded_generator(1), 2)
    with pytest.raises(ValueError, match="stream must be in"):
        streams.uniform(2, [3])


def test_indexed_streams_depend_on_seed_and_index_alone():
    def draw(generator, index):
        streams = UniformStreams(generator, 2, index=tf.constant(index, tf.int64))
        return [streams.uniform(k, [50]).numpy() for k in range(2)]

    generator = seeded_generator(3)
    before = draw(generator, 7)
    _draw(generator, [100, 100])  # reads advance the counter ...
    after = draw(generator, 7)  # ... and leave indexed draws alone
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(draw(seeded_generator(3), 7)[0], before[0])
    assert not np.array_equal(draw(generator, 8)[0], before[0])
    assert not np.array_equal(draw(seeded_generator(4), 7)[0], before[0])
    # Indexed draws do not advance the generator, and differ from its read draws.
    state = generator.state.numpy().copy()
    draw(generator, 9)
    np.testing.assert_array_equal(generator.state.numpy(), state)
    read = _draw(seeded_generator(3), [50])[0]
    assert not any(np.array_equal(read, draw(seeded_generator(3), i)[0]) for i in range(4))
