"""`WordGather`: per-token outputs to per-word outputs at each word's first piece."""

import keras


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WordGather(keras.layers.Layer):
    """Per-token logits [B, L, T] -> per-word logits [B, W, T] at each word's first piece.

    Words without a position (-1: padding or truncated) read position 0; their weight is 0.
    """

    def call(self, token_logits, word_starts):
        positions = keras.ops.maximum(keras.ops.cast(word_starts, "int32"), 0)
        return keras.ops.take_along_axis(token_logits, keras.ops.expand_dims(positions, -1),
                                         axis=1)
