"""A hashed bag of word-piece uni- and bigrams: lexical features beside the encoder."""

import keras
from keras import ops

# Pair keys t1 * V + t2 + V stay below 2**31 (int32, TFLite's integer type) up to this V.
MAX_VOCABULARY_SIZE = 46340


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class HashedNgramBag(keras.layers.Layer):
    """Mean of learned vectors for the word pieces and adjacent pairs of an input:
    token ids [B, L] and padding mask [B, L] -> [B, dim].

    A fastText-style bag of n-grams (Joulin et al., 2017), read from the token ids the encoder
    already gets: a memory of which word pieces and pairs carry a label (what it adds beside
    each head: docs/RESULTS.md). A word piece t keys row t mod `buckets`; a
    pair (t1, t2) keys (t1 * V + t2 + V) mod `buckets`, exact before the modulo, so with a
    prime `buckets` above V the word pieces never collide with each other.

    The keys are integer arithmetic, not `keras.layers.Hashing`: that layer hashes with
    FarmHash, which TFLite runs only as a Flex op; MUL, ADD, FLOOR_MOD and GATHER are builtins.

    The table starts at zero and its output is multiplied by `rate_scale`: under Adam each
    row then moves `rate_scale` times faster than the encoder's weights, as sparse features
    need (a row is read by few batches) while the encoder keeps its fine-tuning rate.

    Example:
    >>> HashedNgramBag(vocabulary_size=5000, buckets=65521, dim=32)(token_ids, padding_mask)
    <shape (B, 32)>
    """

    def __init__(self, vocabulary_size, buckets=65521, dim=32, rate_scale=30.0, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.buckets = int(buckets)
        self.dim = int(dim)
        self.rate_scale = float(rate_scale)
        if not 0 < self.vocabulary_size <= MAX_VOCABULARY_SIZE:
            raise ValueError(
                f"vocabulary_size={vocabulary_size}: the pair keys need 0 < V <= "
                f"{MAX_VOCABULARY_SIZE} to stay in int32. Fix: use a smaller vocabulary "
                "(the students' is 5K) or no n-gram bag.")
        if self.buckets < 1 or self.dim < 1 or self.rate_scale <= 0:
            raise ValueError(f"buckets={buckets}, dim={dim} and rate_scale={rate_scale} "
                             "must be positive.")
        self.table = keras.layers.Embedding(self.buckets, self.dim, embeddings_initializer="zeros",
                                            dtype=self.dtype_policy, name="table")

    def build(self, token_ids_shape, padding_mask_shape=None):
        self.table.build((None,))
        self.built = True

    def call(self, token_ids, padding_mask):
        token_ids = ops.cast(token_ids, "int32")
        mask = ops.cast(padding_mask, self.compute_dtype)
        pairs = (token_ids[:, :-1] * self.vocabulary_size + token_ids[:, 1:]
                 + self.vocabulary_size)
        keys = ops.mod(ops.concatenate([token_ids, pairs], axis=1), self.buckets)
        weights = ops.concatenate([mask, mask[:, :-1] * mask[:, 1:]], axis=1)
        vectors = self.table(keys) * ops.expand_dims(weights, -1)
        count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
        return self.rate_scale * ops.sum(vectors, axis=1) / count

    def compute_output_shape(self, token_ids_shape, padding_mask_shape=None):
        return (token_ids_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "buckets": self.buckets,
                       "dim": self.dim, "rate_scale": self.rate_scale})
        return config
