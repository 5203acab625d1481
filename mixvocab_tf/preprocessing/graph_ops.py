"""Few-node forms of common ops, for code that runs in `tf.data` maps.

A `tf.data` map function executes every node of its graph on each call,
`Const` nodes included (Grappler does not fold them there): about 0.8 µs a
node on a 2-core CPU, as much as a small op's own work. `x[:, 0]` is four
nodes, `tf.gather` two (the axis is an input), `tf.shape(x)[0]` five; each
helper here is one or two. Measured with `benchmarks/preprocessing.py`.

Example:

>>> take(tf.constant([5, 6, 7]), tf.constant([2, 0])).numpy()
array([7, 5], dtype=int32)
>>> true_indices(tf.constant([False, True, True])).numpy()
array([1, 2], dtype=int32)
"""

import tensorflow as tf


def take(params, indices):
    """`tf.gather(params, indices)` on axis 0, as one node (v1 `Gather`)."""
    return tf.raw_ops.Gather(params=params, indices=indices)


def true_indices(condition):
    """int32 [K], the positions of True in a bool vector."""
    return tf.cast(tf.squeeze(tf.where(condition), 1), tf.int32)


def search(sorted_values, values, side):
    """`tf.searchsorted` of 1-D int32 tensors: "left" counts the sorted values
    below each value, "right" those not above it."""
    op = tf.raw_ops.LowerBound if side == "left" else tf.raw_ops.UpperBound
    return tf.squeeze(op(sorted_inputs=[sorted_values], values=[values], out_type=tf.int32), 0)
