"""The small student encoder that Stage II distils into."""

import dataclasses

import keras
from keras_hub.layers import PositionEmbedding
from keras_hub.layers import ReversibleEmbedding
from keras_hub.layers import TransformerEncoder
from keras_hub.models import Backbone

from mixvocab_tf.models.teacher import gelu_tanh


def _bert_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


@dataclasses.dataclass(frozen=True)
class StudentSize:
    """A named student shape: layers x hidden, heads and the FFN width."""

    num_layers: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int


# The paper's students (12x256, 6x256, 12x128) and the peers' small shapes
# (6x128 ~ BERT-Mini's width; 6x96, the shape quantised to 1.3 MiB downstream).
# Heads follow BERT's 64-wide heads where the width allows.
STUDENT_SIZES = {
    "12x256": StudentSize(12, 256, 4, 1024),
    "6x256": StudentSize(6, 256, 4, 1024),
    "12x128": StudentSize(12, 128, 2, 512),
    "6x128": StudentSize(6, 128, 2, 512),
    "6x96": StudentSize(6, 96, 2, 384),
}


def student_size(name):
    """The `StudentSize` of a name: a named size, or any `"<layers>x<hidden>"`.

    An unnamed `"LxH"` (e.g. `"2x32"`, a test-sized student) gets 64-wide heads where
    the width allows (at least one) and a 4H feed-forward, as BERT's shapes do.

    Raises:
      ValueError: the name is neither, with the named sizes.
    """
    if name in STUDENT_SIZES:
        return STUDENT_SIZES[name]
    layers, _, hidden = str(name).partition("x")
    if not (layers.isdigit() and hidden.isdigit() and int(layers) > 0 and int(hidden) > 0):
        raise ValueError(
            f"Unknown student size {name!r}. Fix: choose one of {sorted(STUDENT_SIZES)}, any "
            "'<layers>x<hidden>' (e.g. '4x192'), or pass explicit sizes.")
    hidden = int(hidden)
    heads = max(1, hidden // 64)
    if hidden % heads:
        heads = 1
    return StudentSize(int(layers), hidden, heads, 4 * hidden)


def bert_parameter_count(
    vocabulary_size,
    num_layers,
    hidden_dim,
    intermediate_dim,
    embedding_dim=None,
    max_sequence_length=512,
    num_segments=2,
):
    """The standard BERT parameter formula (embeddings, layers, pooler).

    Args:
      vocabulary_size: number of WordPiece tokens.
      num_layers: transformer layers.
      hidden_dim: hidden width H.
      intermediate_dim: feed-forward width.
      embedding_dim: factorised token-embedding width E (ALBERT-style, E -> H
        projection); `None` means E = H and no projection.
      max_sequence_length: rows of the position table.
      num_segments: rows of the segment table.

    Returns:
      The number of trainable parameters, as an `int`.
    """
    h = hidden_dim
    e = embedding_dim or hidden_dim
    embeddings = vocabulary_size * e + (max_sequence_length + num_segments) * h
    embeddings += 2 * h  # embedding LayerNorm
    if embedding_dim is not None and embedding_dim != hidden_dim:
        embeddings += e * h + h
    attention = 4 * (h * h + h) + 2 * h
    feed_forward = (h * intermediate_dim + intermediate_dim) + (intermediate_dim * h + h)
    feed_forward += 2 * h
    pooler = h * h + h
    return embeddings + num_layers * (attention + feed_forward) + pooler


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class ScoringTransformerEncoder(TransformerEncoder):
    """keras-hub's `TransformerEncoder` whose symbolic call can return scores.

    keras-hub's layer supports `return_attention_scores=True` eagerly, but its
    `compute_output_shape` describes one output, so a functional model cannot
    use the flag; this adds the matching output spec.
    """

    def compute_output_spec(self, inputs, return_attention_scores=False, **kwargs):
        output = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        batch, length = inputs.shape[0], inputs.shape[1]
        scores = keras.KerasTensor(
            (batch, self.num_heads, length, length), dtype=self.compute_dtype
        )
        return output, scores


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class StudentEncoder(Backbone):
    """A small BERT encoder built from keras-hub layers.

    The same architecture as `keras_hub.models.BertBackbone` (so fine-tuning and
    export treat both alike), plus what Stage II needs: an optional factorised
    token embedding (E -> H) so a narrow student can start from the Stage I
    student table, and every layer's hidden states (and, on request, attention
    probabilities) as outputs.

    Inputs are a dict of `"token_ids"`, `"segment_ids"` and `"padding_mask"`,
    each `[batch, length]`. Outputs are a dict:
    - `"sequence_output"`: `[batch, length, hidden_dim]`, the last layer.
    - `"pooled_output"`: `[batch, hidden_dim]`, tanh dense on `[CLS]`.
    - `"hidden_states"`: `[batch, num_layers + 1, length, hidden_dim]`, the
      embedding output followed by each layer's output.
    - `"attention_scores"` (with `output_attention_scores=True`):
      `[batch, num_layers, num_heads, length, length]` softmax probabilities.

    Args:
      vocabulary_size: student vocabulary size.
      num_layers: number of transformer layers.
      hidden_dim: hidden width.
      num_heads: attention heads per layer.
      intermediate_dim: feed-forward width.
      embedding_dim: token-embedding width when it differs from `hidden_dim`
        (factorised embedding, projected to `hidden_dim`); `None` for none.
      max_sequence_length: longest input the position table covers.
      num_segments: number of segment ids.
      dropout: dropout rate in embeddings and layers.
      output_attention_scores: also output attention probabilities.
      dtype: a Keras dtype policy, e.g. `"mixed_float16"`.

    Example:
    ```python
    student = mixvocab_tf.StudentEncoder.from_size("12x128", vocabulary_size=5000)
    outputs = student({
        "token_ids": np.ones((2, 16), "int32"),
        "segment_ids": np.zeros((2, 16), "int32"),
        "padding_mask": np.ones((2, 16), "int32"),
    })
    outputs["pooled_output"].shape  # (2, 128)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        hidden_dim,
        num_heads,
        intermediate_dim,
        embedding_dim=None,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        output_attention_scores=False,
        dtype=None,
        **kwargs,
    ):
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}; "
                "choose a head count that divides the hidden width."
            )
        factorised = embedding_dim is not None and embedding_dim != hidden_dim
        # === Layers ===
        self.token_embedding = ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=embedding_dim or hidden_dim,
            embeddings_initializer=_bert_initializer(),
            dtype=dtype,
            name="token_embedding",
        )
        self.embedding_projection = (
            keras.layers.Dense(
                hidden_dim,
                kernel_initializer=_bert_initializer(),
                dtype=dtype,
                name="embedding_projection",
            )
            if factorised
            else None
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=_bert_initializer(),
            dtype=dtype,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=hidden_dim,
            embeddings_initializer=_bert_initializer(),
            dtype=dtype,
            name="segment_embedding",
        )
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=1e-12, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            ScoringTransformerEncoder(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                # tanh-approximate GELU, as keras-hub's BertBackbone (and BERT).
                activation=gelu_tanh,
                dropout=dropout,
                layer_norm_epsilon=1e-12,
                kernel_initializer=_bert_initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=_bert_initializer(),
            dtype=dtype,
            name="pooled_dense",
        )

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        tokens = self.token_embedding(token_ids)
        if self.embedding_projection is not None:
            tokens = self.embedding_projection(tokens)
        x = self.embeddings_add(
            (tokens, self.position_embedding(tokens), self.segment_embedding(segment_ids))
        )
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        hidden_states = [x]
        attention_scores = []
        for layer in self.transformer_layers:
            if output_attention_scores:
                x, scores = layer(x, padding_mask=padding_mask, return_attention_scores=True)
                attention_scores.append(scores)
            else:
                x = layer(x, padding_mask=padding_mask)
            hidden_states.append(x)
        outputs = {
            "sequence_output": x,
            "pooled_output": self.pooled_dense(x[:, 0, :]),
            "hidden_states": keras.ops.stack(hidden_states, axis=1),
        }
        if output_attention_scores:
            outputs["attention_scores"] = keras.ops.stack(attention_scores, axis=1)
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.embedding_dim = embedding_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.output_attention_scores = output_attention_scores

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "embedding_dim": self.embedding_dim,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "output_attention_scores": self.output_attention_scores,
            }
        )
        return config

    @classmethod
    def from_size(cls, name, vocabulary_size, **kwargs):
        """Builds a named size (see `STUDENT_SIZES`) or any `"LxH"` (`student_size`).

        Args:
          name: one of `"12x256"`, `"6x256"`, `"12x128"`, `"6x128"`, `"6x96"`, or
            `"<layers>x<hidden>"`.
          vocabulary_size: the student vocabulary size.
          **kwargs: any other constructor argument (e.g. `embedding_dim`).

        Returns:
          A `StudentEncoder`.
        """
        size = student_size(name)
        return cls(
            vocabulary_size=vocabulary_size,
            num_layers=size.num_layers,
            hidden_dim=size.hidden_dim,
            num_heads=size.num_heads,
            intermediate_dim=size.intermediate_dim,
            **kwargs,
        )
