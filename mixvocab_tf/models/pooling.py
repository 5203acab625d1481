"""Sentence vectors from an encoder's sequence output."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the sequence output over the non-padding positions: [B, L, H] -> [B, H].

    The sentence vector of sentence-transformers models such as all-MiniLM-L6-v2, of the
    students' classification heads and of sentence-embedding distillation.

    Example:
    >>> MaskedMeanPooling()(sequence_output, padding_mask).shape  # [B, H]
    """

    def call(self, sequence_output, padding_mask):
        mask = ops.cast(ops.expand_dims(padding_mask, -1), sequence_output.dtype)
        total = ops.sum(sequence_output * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape=None):
        return (sequence_output_shape[0], sequence_output_shape[2])
