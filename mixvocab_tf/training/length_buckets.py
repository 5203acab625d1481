"""Length bucketing: batches of similar length, each cut to its longest row.

Short texts padded to L cost as much as long ones; cutting each batch to a multiple of a
few tokens keeps the number of traced shapes small and spends no work on padding (padding
is masked, so outputs do not change beyond float rounding).
"""

import numpy as np
import tensorflow as tf


def length_bucketed(dataset, batch_size, sequence_length, sequence_targets, multiple=8):
    """Batches examples of similar length and trims each batch to its longest (rounded up).

    The arrays stay padded to L on the host; each batch is cut to a multiple of `multiple`
    tokens, so the train step sees at most L / multiple shapes (few retraces) and spends no
    work on padding. The model's inputs are [B, None], so the exported fixed-L model is
    unchanged. `sequence_targets`: the targets and sample weights are per token ([B, L, ...]).
    """
    def length(*parts):
        return tf.reduce_sum(tf.cast(parts[0]["padding_mask"], tf.int32))

    boundaries = list(range(multiple + 1, sequence_length + 1, multiple))
    dataset = dataset.bucket_by_sequence_length(
        length, bucket_boundaries=boundaries, bucket_batch_sizes=[batch_size] * (len(boundaries) + 1))

    def trim(*parts):
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(parts[0]["padding_mask"], tf.int32), 1))
        width = tf.minimum((longest + multiple - 1) // multiple * multiple, sequence_length)
        cut = lambda t: t[:, :width]
        x = tf.nest.map_structure(cut, parts[0])
        rest = [tf.nest.map_structure(cut, p) if sequence_targets else p for p in parts[1:]]
        return (x, *rest)

    return dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def predict_by_length(model, inputs, batch_size, step=8):
    """A sequence-level model's outputs, rows grouped by length and each group cut to its bucket.

    Padding is masked, so cutting it changes no output beyond float rounding, and short texts
    cost a fraction of the full length (docs/RESULTS.md).

    Args:
      model: a task model taking `model_inputs`; one output row per example.
      inputs: the encoder inputs (token_ids, segment_ids, padding_mask), [N, L] each.
      batch_size: the inference batch.
      step: bucket widths are multiples of it (fewer, longer buckets: fewer traces).
    """
    lengths = np.asarray(inputs["padding_mask"]).astype(np.int64).sum(1)
    width = np.asarray(inputs["token_ids"]).shape[1]
    buckets = np.minimum(width, np.maximum(step, -(-lengths // step) * step))
    outputs = None
    for bucket in np.unique(buckets):
        rows = np.flatnonzero(buckets == bucket)
        part = {name: np.asarray(value)[rows, :bucket] for name, value in inputs.items()}
        logits = np.asarray(model.predict(part, batch_size=batch_size, verbose=0))
        if outputs is None:
            outputs = np.zeros((len(lengths),) + logits.shape[1:], np.float32)
        outputs[rows] = logits
    return outputs
