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


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class MaskedNgramPooling(keras.layers.Layer):
    """N-gram features: ReLU convolutions of each width over the sequence output, max-pooled
    over the non-padding positions: [B, L, H] -> [B, filters * len(widths)].

    A small encoder fine-tuned on a few tens of thousands of short examples composes
    neighbouring tokens weakly (on SST-2 a mean-pooled 6x128 student scores like a bag of
    word pieces); these features, the convolution-and-max of Kim (2014), give its
    classifier local phrases ("not good") directly. The ReLU makes the mask exact: padded
    positions are zeroed, and every kept value is >= 0, so they never win the max.

    Example:
    >>> MaskedNgramPooling(filters=64, widths=(2, 3))(sequence_output, padding_mask).shape
    (B, 128)
    """

    def __init__(self, filters=128, widths=(2, 3), **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.widths = tuple(int(w) for w in widths)
        if self.filters < 1 or not self.widths or min(self.widths) < 1:
            raise ValueError(f"filters={filters} and widths={widths} must be positive.")
        self.convolutions = [
            keras.layers.Conv1D(self.filters, width, padding="same", activation="relu",
                                dtype=self.dtype_policy, name=f"conv_{width}")
            for width in self.widths]

    def build(self, sequence_output_shape, padding_mask_shape=None):
        for convolution in self.convolutions:
            convolution.build(sequence_output_shape)
        self.built = True

    def call(self, sequence_output, padding_mask):
        mask = ops.cast(ops.expand_dims(padding_mask, -1), sequence_output.dtype)
        sequence_output = sequence_output * mask
        return ops.concatenate(
            [ops.max(convolution(sequence_output) * mask, axis=1)
             for convolution in self.convolutions], axis=-1)

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape=None):
        return (sequence_output_shape[0], self.filters * len(self.widths))

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "widths": list(self.widths)})
        return config
