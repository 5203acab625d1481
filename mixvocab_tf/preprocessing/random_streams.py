"""Independent uniform draws from one read of a `tf.random.Generator`.

`tf.random.Generator.uniform` costs about 14 graph ops a call (a state read
and skip sized by the draw, key/counter slicing, range scaling). Inside a
`tf.data` map every op costs a few microseconds whatever its size, so the
preprocessor reads the generator once a call and derives one Philox stream
per purpose (word choice, special tokens, masking) by changing the key: two
ops a draw. Seeded generators stay reproducible, and the draws of one stream
do not depend on whether another stream is drawn (e.g. masking on or off).

A read of the generator's counter is an ordering hazard in a parallel `tf.data`
map: the map keeps its outputs in order, but its calls read the counter in
whatever order their threads run, so batch k may get call j's draws. Given the
batch's `index`, the streams skip the read: the counter is derived from the
index (its high 64 bits, far from the reads' low-word skips), so the draws are
a function of the seed and the index alone.

Example:

>>> generator = tf.random.Generator.from_seed(1)
>>> streams = UniformStreams(generator, num_streams=2)
>>> words = streams.uniform(0, [5])  # float32 in [0, 1)
>>> masks = streams.uniform(1, [3])  # independent of `words`
>>> batch7 = UniformStreams(generator, num_streams=2, index=7)  # no counter read
"""

import numpy as np
import tensorflow as tf

# Counter positions reserved a read: far more than any draw takes (a draw
# of n floats uses n / 4 Philox blocks), and the 128-bit counter never wraps.
_SKIP = 2**32


_MASK64 = (1 << 64) - 1


def _splitmix64(value):
    """A 64-bit hash (SplitMix64's finaliser): nearby seeds, far-apart keys."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def seeded_generator(seed):
    """A Philox `tf.random.Generator` whose key is a hash of `seed`.

    `tf.random.Generator.from_seed(s)` puts `s` in the counter with key 0, so
    seeds s and s + 1 give the same stream shifted by one Philox block (four
    draws). Hashing the seed into the key gives unrelated streams.
    """
    key = _splitmix64(int(seed) & _MASK64)
    key = key - (1 << 64) if key >= 1 << 63 else key  # as int64
    return tf.random.Generator.from_state([0, 0, key], alg=tf.random.Algorithm.PHILOX)


class UniformStreams:
    """`num_streams` independent uniform streams from one generator read.

    Args:
      generator: a `tf.random.Generator` with the Philox algorithm.
      num_streams: how many streams the caller draws from.
      index: `None` to read (and advance) the generator's counter; else a
        non-negative integer scalar (e.g. a batch's position in a dataset):
        the draws depend only on the generator's key and `index`.
    """

    def __init__(self, generator, num_streams, index=None):
        if generator.algorithm != tf.random.Algorithm.PHILOX.value:
            raise ValueError(
                f"UniformStreams needs a Philox generator, got algorithm {generator.algorithm}. "
                "Fix: create it with tf.random.Generator.from_seed(seed) (Philox is the default)."
            )
        self._alg = generator.algorithm
        # Philox state: counter (2 x 64 bits), key (64 bits).
        if index is None:
            state = tf.raw_ops.RngReadAndSkip(
                resource=generator.state.handle, alg=tf.constant(self._alg, tf.int32),
                delta=tf.constant(_SKIP, tf.uint64))
        else:
            # The key never changes (a read skips the counter only); the high counter word
            # index + 1 is never reached by reads, which add 2**32 to the low word.
            high = tf.cast(index, tf.int64) + 1
            state = tf.stack([tf.constant(0, tf.int64), high, generator.state[2]])
        self._counter = tf.bitcast(state[:2], tf.uint64)
        # Stream i uses key + i: different keys give independent Philox streams.
        self._keys = tf.unstack(tf.bitcast(
            state[2:] + tf.constant(np.arange(num_streams)[:, None], tf.int64), tf.uint64))
        self.num_streams = num_streams

    def uniform(self, stream, shape):
        """float32 draws in [0, 1) of `shape` (a list of ints or scalar tensors)."""
        if not 0 <= stream < self.num_streams:
            raise ValueError(f"stream must be in [0, {self.num_streams}), got {stream}.")
        return tf.raw_ops.StatelessRandomUniformV2(
            shape=tf.stack(shape), key=self._keys[stream], counter=self._counter, alg=self._alg)
