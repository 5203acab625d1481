"""Task heads on top of an encoder's outputs, and the task models built from them.

The encoder is any Keras model that takes {"token_ids", "segment_ids", "padding_mask"} and
returns {"sequence_output", "pooled_output", ...}: a keras-hub `BertBackbone` (a teacher) or a
`StudentEncoder`. Every task model takes those three int32 inputs, so one exporter serves all:

* classification / pair classification: logits [B, C] from a sentence vector: the encoder's
  pooled output ("cls": tanh dense on [CLS], as BERT was pre-trained) or the masked mean of
  its sequence output ("mean", as sentence-transformers models such as all-MiniLM-L6-v2 were
  trained), or that mean together with max-pooled n-gram convolutions ("ngram",
  `MaskedNgramPooling`); any of these can take a hashed bag of word-piece uni- and
  bigrams beside it (`ngram_bag_buckets`, `HashedNgramBag`),
* tagging: logits [B, L, T] at every position; training and scoring read the first
  sub-token of each word (the alignment comes from `tagging.py`),
* response selection: {"context_embedding", "response_embedding"} [B, D], L2-normalised,
  from the masked mean of the sequence output; both come from one shared encoder, and the
  training model scores a batch of contexts against the batch's responses (in-batch negatives).

Example:
>>> model = build_task_model(backbone, "classification", num_labels=7)
>>> model({"token_ids": ids, "segment_ids": seg, "padding_mask": mask}).shape
TensorShape([B, 7])
"""

import keras
from keras import ops

from mixvocab_tf.layers.ngram_bag import HashedNgramBag
from mixvocab_tf.layers.pooling import MaskedMeanPooling
from mixvocab_tf.layers.pooling import MaskedNgramPooling
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.preprocessing.single_vocab_preprocessor import ENCODER_INPUTS
from mixvocab_tf.tasks import task_registry
POOLING_CLS = "cls"
POOLING_MEAN = "mean"
POOLING_NGRAM = "ngram"
POOLINGS = (POOLING_CLS, POOLING_MEAN, POOLING_NGRAM)
# Fine-tuning's default: the pooling measured best for the encoder (`resolve_pooling`).
POOLING_AUTO = "auto"


def _initializer():
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class ClassificationHead(keras.layers.Layer):
    """Dropout and a dense layer from a pooled vector [B, H] to logits [B, C].

    Example:
    >>> ClassificationHead(num_classes=2)(pooled).shape  # [B, 2]
    """

    def __init__(self, num_classes, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.dense = keras.layers.Dense(
            num_classes, kernel_initializer=_initializer(), dtype=self.dtype_policy,
            name="logits")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, pooled, training=None):
        return self.dense(self.dropout_layer(pooled, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class TaggingHead(ClassificationHead):
    """Per-token logits [B, L, T] from the sequence output [B, L, H].

    The same computation as `ClassificationHead`, applied at every position; the word-level
    tag of a word is read at its first sub-token.

    Example:
    >>> TaggingHead(num_classes=72)(sequence_output).shape  # [B, L, 72]
    """


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class ResponseEmbeddingHead(keras.layers.Layer):
    """Projects a pooled vector to an L2-normalised embedding [B, D].

    Example:
    >>> ResponseEmbeddingHead(embedding_dim=128)(pooled).shape  # [B, 128]
    """

    def __init__(self, embedding_dim=128, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.dense = keras.layers.Dense(
            embedding_dim, kernel_initializer=_initializer(), dtype=self.dtype_policy,
            name="projection")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, pooled):
        embedding = ops.cast(self.dense(pooled), "float32")
        return embedding / ops.sqrt(ops.maximum(ops.sum(embedding * embedding, -1, keepdims=True), 1e-12))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({"embedding_dim": self.embedding_dim})
        return config


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class InBatchSimilarity(keras.layers.Layer):
    """Scaled cosine similarities of every context to every response of a batch: [B, B].

    Row i's true response is column i; the other columns are the in-batch negatives, so a
    softmax cross-entropy with labels `range(B)` trains the dual encoder.

    Example:
    >>> InBatchSimilarity(scale=20.0)(context_embedding, response_embedding).shape  # [B, B]
    """

    def __init__(self, scale=20.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, context_embedding, response_embedding):
        return self.scale * ops.matmul(context_embedding, ops.transpose(response_embedding))

    def compute_output_shape(self, context_embedding_shape, response_embedding_shape=None):
        return (context_embedding_shape[0], response_embedding_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class EmbeddingOutput(keras.layers.Layer):
    """The embedding output [B, L, H] from stacked hidden states [B, layers + 1, L, H].

    Example:
    >>> EmbeddingOutput()(student(inputs)["hidden_states"]).shape  # [B, L, H]
    """

    def call(self, hidden_states):
        return hidden_states[:, 0]

    def compute_output_shape(self, hidden_states_shape):
        return (hidden_states_shape[0],) + tuple(hidden_states_shape[2:])


def encoder_inputs(prefix=""):
    """Named int32 inputs [B, L] of the encoder (optionally prefixed, for two-tower models)."""
    return {
        prefix + name: keras.Input(shape=(None,), dtype="int32", name=prefix + name)
        for name in ENCODER_INPUTS
    }


def _ngram_input(outputs):
    """What the n-gram convolutions read: the embedding output beside the last layer when
    the encoder returns its hidden states (a `StudentEncoder`, whose Stage I word-piece table
    carries the teacher's lexical knowledge; docs/RESULTS.md), else the last layer alone (a
    keras-hub `BertBackbone`)."""
    if "hidden_states" not in outputs:
        return outputs["sequence_output"]
    embedded = EmbeddingOutput(name="embedding_output")(outputs["hidden_states"])
    return keras.layers.Concatenate(name="ngram_input")([embedded, outputs["sequence_output"]])


def resolve_pooling(pooling, encoder):
    """The pooling fine-tuning uses: `pooling` as given, or for "auto" (or None) the one
    measured best for `encoder`.

    "ngram" for a `StudentEncoder` (the comparison with mean pooling: docs/RESULTS.md).
    "mean" for a teacher (a keras-hub `BertBackbone`): sentence-transformers models were
    trained on their mean-pooled vectors.

    Example:
    >>> resolve_pooling("auto", StudentEncoder.from_size("6x128", vocabulary_size=100))
    'ngram'
    """
    if pooling in (None, POOLING_AUTO):
        return POOLING_NGRAM if isinstance(encoder, StudentEncoder) else POOLING_MEAN
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected {POOLING_AUTO!r} or one of "
                         f"{POOLINGS}")
    return pooling


def build_task_model(encoder, task_type, num_labels=None, dropout=0.1, embedding_dim=128,
                     name=None, pooling=POOLING_MEAN, ngram_bag_buckets=0, ngram_bag_dim=32):
    """Builds the inference model of a task around `encoder`.

    Args:
      encoder: a keras-hub `BertBackbone` or a `StudentEncoder` (shared, not copied).
      task_type: one of `task_registry.TASK_TYPES`.
      num_labels: classes (classification) or tags (tagging).
      dropout: head dropout.
      embedding_dim: response-selection embedding size.
      name: the model's name.
      pooling: the sentence vector of (pair) classification: "mean" (masked mean of the
        sequence output), "cls" (the encoder's pooled output) or "ngram" (the mean,
        concatenated with `MaskedNgramPooling`'s 2- and 3-token convolution features over
        the embedding output and the last layer: 2 x 128 more features, about 164K more
        parameters for a 128-wide student). Which is better where: docs/RESULTS.md.
        Tagging and response selection ignore it (per-token logits; always mean pooling).
      ngram_bag_buckets: (pair) classification: with > 0, a `HashedNgramBag` of this many
        rows (a prime above the vocabulary size, e.g. 65521) adds a learned vector of the
        input's word pieces and adjacent pairs to the sentence vector (docs/RESULTS.md);
        0 for none.
      ngram_bag_dim: the width of the bag's vectors.

    Returns:
      A functional `keras.Model` on {"token_ids", "segment_ids", "padding_mask"}.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
    inputs = encoder_inputs()
    outputs = encoder(inputs)
    if task_type in (task_registry.CLASSIFICATION, task_registry.PAIR_CLASSIFICATION):
        if pooling in (POOLING_MEAN, POOLING_NGRAM):
            pooled = MaskedMeanPooling(name="mean_pooling")(
                outputs["sequence_output"], inputs["padding_mask"])
            if pooling == POOLING_NGRAM:
                ngrams = MaskedNgramPooling(name="ngram_pooling")(
                    _ngram_input(outputs), inputs["padding_mask"])
                pooled = keras.layers.Concatenate(name="sentence_features")([pooled, ngrams])
        else:
            pooled = outputs["pooled_output"]
        if ngram_bag_buckets:
            bag = HashedNgramBag(encoder.vocabulary_size, ngram_bag_buckets, ngram_bag_dim,
                                 name="ngram_bag")(inputs["token_ids"], inputs["padding_mask"])
            pooled = keras.layers.Concatenate(name="sentence_and_bag")([pooled, bag])
        logits = ClassificationHead(num_labels, dropout=dropout, name="classifier")(pooled)
    elif task_type == task_registry.TAGGING:
        logits = TaggingHead(num_labels, dropout=dropout, name="tagger")(
            outputs["sequence_output"])
    elif task_type == task_registry.RESPONSE_SELECTION:
        pooled = MaskedMeanPooling(name="mean_pooling")(
            outputs["sequence_output"], inputs["padding_mask"])
        logits = {
            "context_embedding": ResponseEmbeddingHead(embedding_dim, name="context_embedding")(pooled),
            "response_embedding": ResponseEmbeddingHead(embedding_dim, name="response_embedding")(pooled),
        }
    else:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {task_registry.TASK_TYPES}")
    return keras.Model(inputs, logits, name=name or f"{task_type}_model")


def with_sentence_features(task_model, concatenated=False):
    """A (pair) classification model that also returns its sentence features: the input of
    its "classifier" layer (the pooled vector, with any n-gram features and bag).

    Shares `task_model`'s layers and weights.

    Args:
      task_model: a model `build_task_model` made (or loaded) for (pair) classification.
      concatenated: one output, [logits, features] side by side (for `predict_by_length`),
        instead of the two.

    Returns:
      A functional `keras.Model` on the same inputs.
    """
    try:
        features = task_model.get_layer("classifier").input
    except ValueError:
        raise ValueError(f"model {task_model.name!r} has no 'classifier' layer: sentence "
                         "features exist for sentence and pair classification models only.")
    logits, = task_model.outputs  # a loaded model may list its one output
    if concatenated:
        return keras.Model(task_model.inputs, keras.layers.Concatenate(
            name="logits_and_features")([logits, features]))
    return keras.Model(task_model.inputs, [logits, features])


def build_dual_encoder_trainer(task_model, scale=20.0):
    """Wraps a response-selection task model into the two-tower in-batch training model.

    Inputs are the encoder inputs prefixed "context_" and "response_"; the output is the
    [B, B] similarity logits (labels: `range(B)`). Weights are shared with `task_model`.
    """
    context, response = encoder_inputs("context_"), encoder_inputs("response_")
    strip = lambda d, prefix: {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in d.items()}
    context_embedding = task_model(strip(context, "context_"))["context_embedding"]
    response_embedding = task_model(strip(response, "response_"))["response_embedding"]
    logits = InBatchSimilarity(scale, name="in_batch_similarity")(context_embedding, response_embedding)
    return keras.Model({**context, **response}, logits, name="dual_encoder_trainer")
