"""Stage I: the teacher that learns to read the student's vocabulary.

Token ids live in one joint space (see `mixvocab_tf.preprocessing`): teacher
WordPieces are `[0, V_t)`, student WordPieces are `V_t + [0, V_s)`. A teacher id
is embedded by the teacher's own table; a student id `V_t + j` by `E_s[j] P`,
where `E_s` (`V_s x d`) is a new student table and `P` (`d -> D`) a trainable
projection. Position and segment embeddings and every transformer layer are the
teacher's. A masked position is predicted over the vocabulary of its label:
teacher labels by the teacher's output layer (tied to `E_t`), student labels by
a second output layer tied to `E_s P`, each with its own bias. Both share the
MLM transform (dense + GELU + LayerNorm), which comes from the checkpoint's
MLM head when it has one.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from keras_hub.layers import ReversibleEmbedding

from mixvocab_tf.training.distributed_step import DistributedFitMixin
from mixvocab_tf.training.distributed_step import apply_gradients
from mixvocab_tf.training.distributed_step import logs_for_strategy
from mixvocab_tf.training.distributed_step import replica_weighted_mean
from mixvocab_tf.training.distributed_step import scale_for_replicas


def _initializer():
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class MixedVocabMaskedLMHead(keras.layers.Layer):
    """Two masked-LM softmax layers over the teacher and student vocabularies.

    Args:
      teacher_vocabulary_size: `V_t`.
      student_vocabulary_size: `V_s`.
      hidden_dim: `D`, the teacher's width.
      activation: the transform's activation (the checkpoint's `hidden_act`).
      layer_norm_epsilon: the transform's LayerNorm epsilon.

    Call arguments:
      sequence_output: `[batch, length, D]`.
      mask_positions: `[batch, P]` positions to predict.
      teacher_embeddings: `[V_t, D]`, the teacher's token table.
      student_embeddings: `[V_s, D]`, the projected student table `E_s P`.

    Returns:
      `(teacher_logits [batch, P, V_t], student_logits [batch, P, V_s])`.
    """

    def __init__(
        self,
        teacher_vocabulary_size,
        student_vocabulary_size,
        hidden_dim,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.teacher_vocabulary_size = teacher_vocabulary_size
        self.student_vocabulary_size = student_vocabulary_size
        self.hidden_dim = hidden_dim
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.transform_dense = keras.layers.Dense(
            hidden_dim,
            activation=self.activation,
            kernel_initializer=_initializer(),
            dtype=self.dtype_policy,
            name="transform_dense",
        )
        self.transform_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="transform_layer_norm"
        )

    def build(self, sequence_output_shape, *args):
        self.transform_dense.build((None, None, self.hidden_dim))
        self.transform_layer_norm.build((None, None, self.hidden_dim))
        self.teacher_bias = self.add_weight(
            name="teacher_output_bias", shape=(self.teacher_vocabulary_size,), initializer="zeros"
        )
        self.student_bias = self.add_weight(
            name="student_output_bias", shape=(self.student_vocabulary_size,), initializer="zeros"
        )

    def call(self, sequence_output, mask_positions, teacher_embeddings, student_embeddings):
        x = ops.take_along_axis(sequence_output, ops.expand_dims(mask_positions, -1), axis=1)
        x = self.transform_layer_norm(self.transform_dense(x))
        x = ops.cast(x, "float32")  # the softmaxes run in float32 under mixed precision
        teacher_logits = ops.matmul(x, ops.transpose(ops.cast(teacher_embeddings, "float32")))
        student_logits = ops.matmul(x, ops.transpose(ops.cast(student_embeddings, "float32")))
        return teacher_logits + self.teacher_bias, student_logits + self.student_bias

    def student_logits(self, sequence_output, mask_positions, student_embeddings):
        """Only the student-vocabulary logits (Stage II needs no teacher softmax)."""
        x = ops.take_along_axis(sequence_output, ops.expand_dims(mask_positions, -1), axis=1)
        x = ops.cast(self.transform_layer_norm(self.transform_dense(x)), "float32")
        return ops.matmul(x, ops.transpose(ops.cast(student_embeddings, "float32"))) + self.student_bias

    def load_pretrained_head(self, masked_lm_head):
        """Copies a keras-hub `MaskedLMHead`'s transform and bias (BERT's cls/predictions)."""
        self.transform_dense.set_weights(masked_lm_head._intermediate_dense.get_weights())
        self.transform_layer_norm.set_weights(
            masked_lm_head._intermediate_layer_norm.get_weights()
        )
        self.teacher_bias.assign(masked_lm_head._bias)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "teacher_vocabulary_size": self.teacher_vocabulary_size,
                "student_vocabulary_size": self.student_vocabulary_size,
                "hidden_dim": self.hidden_dim,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


def masked_lm_losses(teacher_vocabulary_size, mask_ids, mask_weights, teacher_logits, student_logits):
    """Per-position cross-entropy, each label over its own vocabulary.

    Args:
      teacher_vocabulary_size: `V_t`; labels `>= V_t` are student tokens.
      mask_ids: `[batch, P]` joint-space labels.
      mask_weights: `[batch, P]`, 0 for padding predictions.
      teacher_logits: `[batch, P, V_t]`.
      student_logits: `[batch, P, V_s]`.

    Returns:
      A dict of `[batch, P]` tensors: `loss`, `correct`, and the weights of
      teacher-vocabulary and student-vocabulary positions.
    """
    is_student = mask_ids >= teacher_vocabulary_size
    teacher_labels = ops.where(is_student, 0, mask_ids)
    student_labels = ops.where(is_student, mask_ids - teacher_vocabulary_size, 0)
    teacher_loss = keras.losses.sparse_categorical_crossentropy(
        teacher_labels, teacher_logits, from_logits=True
    )
    student_loss = keras.losses.sparse_categorical_crossentropy(
        student_labels, student_logits, from_logits=True
    )
    teacher_correct = ops.cast(ops.argmax(teacher_logits, -1), "int32") == ops.cast(teacher_labels, "int32")
    student_correct = ops.cast(ops.argmax(student_logits, -1), "int32") == ops.cast(student_labels, "int32")
    weights = ops.cast(mask_weights, "float32")
    student_weight = weights * ops.cast(is_student, "float32")
    return {
        "loss": ops.where(is_student, student_loss, teacher_loss),
        "correct": ops.cast(ops.where(is_student, student_correct, teacher_correct), "float32"),
        "teacher_weight": weights - student_weight,
        "student_weight": student_weight,
    }


def _teacher_pieces(token, teacher_index):
    """The teacher's greedy WordPiece segmentation of a student token's text."""
    continuation = token.startswith("##")
    text = token[2:] if continuation else token
    pieces, start = [], 0
    while start < len(text):
        for end in range(len(text), start, -1):
            piece = ("##" if start > 0 or continuation else "") + text[start:end]
            if piece in teacher_index:
                pieces.append(teacher_index[piece])
                start = end
                break
        else:
            return []
    return pieces


def teacher_rows(teacher_vocabulary, student_vocabulary):
    """The teacher rows that stand for each student token: `[[teacher id, ...], ...]`.

    The token's own row when the teacher has the token, else the teacher's WordPiece pieces
    of its text (a `##` token's first piece is a `##` piece too); `[]` when the teacher
    cannot spell it.

    Example:
    >>> teacher_rows(["[UNK]", "play", "##list", "##ing"], ["play", "playlist", "##ing"])
    [[1], [1, 2], [3]]
    """
    index = {token: i for i, token in enumerate(teacher_vocabulary)}
    return [[index[token]] if token in index else _teacher_pieces(token, index)
            for token in student_vocabulary]


def student_table_from_teacher(teacher_embeddings, teacher_vocabulary, student_vocabulary, dim):
    """`E_s` and `P` whose product best approximates the teacher's embeddings.

    Each student token's target is its teacher embedding when the teacher has
    the token, else the mean of the teacher pieces that spell it; a rank-`dim`
    SVD of those targets gives `E_s = U S` and `P = V^T`. The teacher then
    reads student-segmented text sensibly from the first step, instead of
    through a random table.

    Args:
      teacher_embeddings: `[V_t, D]` array.
      teacher_vocabulary: the teacher's tokens.
      student_vocabulary: the student's tokens.
      dim: `d`; beyond the fit's rank `min(V_s, D)` the extra columns of
        `E_s` start small and random and their rows of `P` at zero.

    Returns:
      `(E_s [V_s, dim], P [dim, D], covered)`: `covered` is the share of
      student tokens with a teacher target (the rest get the mean target).
    """
    teacher_embeddings = np.asarray(teacher_embeddings, dtype=np.float64)
    targets, found = [], []
    for rows in teacher_rows(teacher_vocabulary, student_vocabulary):
        found.append(bool(rows))
        targets.append(teacher_embeddings[rows].mean(0) if rows else None)
    mean = np.mean([t for t in targets if t is not None], axis=0)
    matrix = np.stack([mean if t is None else t for t in targets])
    u, singular, vt = np.linalg.svd(matrix, full_matrices=False)
    rank = min(dim, len(singular))
    table = np.zeros((len(student_vocabulary), dim))
    projection = np.zeros((dim, teacher_embeddings.shape[1]))
    table[:, :rank] = u[:, :rank] * singular[:rank]
    projection[:rank] = vt[:rank]
    if rank < dim:
        # Wider than the fit's rank (d > D): the extra columns start small and
        # random, their projection rows at zero, so E_s P is still the fit.
        table[:, rank:] = np.random.default_rng(0).normal(0, 0.02, (len(table), dim - rank))
    return table.astype("float32"), projection.astype("float32"), float(np.mean(found))


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class MixedVocabTeacher(DistributedFitMixin, keras.Model):
    """A BERT teacher trained with mixed-vocabulary masked LM (Stage I).

    Args:
      backbone: a `keras_hub.models.BertBackbone` (from `load_teacher`).
      student_vocabulary_size: `V_s`.
      student_embedding_dim: `d`, the width of the student table; match the
        student's hidden size (or its factorised embedding width).
      masked_lm_head: the checkpoint's keras-hub `MaskedLMHead`, if any; its
        transform, activation, epsilon and teacher bias initialise the MLM head.
      mlm_activation, mlm_layer_norm_epsilon: the MLM transform's settings
        when there is no `masked_lm_head` (BERT's defaults).

    Inputs are the preprocessor's dict: `token_ids` (joint space), `segment_ids`,
    `padding_mask`, and, for the MLM outputs, `mask_positions`. Outputs a dict
    with `sequence_output`, `hidden_states` (`[batch, layers + 1, length, D]`),
    and with `mask_positions` given, `teacher_logits` and `student_logits`
    (only the latter with `student_logits_only=True`, as Stage II needs).

    Example:
    ```python
    teacher = mixvocab_tf.load_teacher(path)
    model = MixedVocabTeacher(teacher.backbone, student_vocabulary_size=5000,
                              masked_lm_head=teacher.masked_lm_head)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4))
    model.fit(dataset.map(mixed_vocab_preprocessor), steps_per_epoch=100)
    ```
    """

    def __init__(
        self,
        backbone,
        student_vocabulary_size,
        student_embedding_dim=128,
        masked_lm_head=None,
        mlm_activation="gelu",
        mlm_layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if masked_lm_head is not None:
            mlm_activation = masked_lm_head.intermediate_activation
            mlm_layer_norm_epsilon = masked_lm_head.layer_norm_epsilon
        self.mlm_activation = keras.activations.get(mlm_activation)
        self.mlm_layer_norm_epsilon = mlm_layer_norm_epsilon
        self.backbone = backbone
        self.teacher_vocabulary_size = backbone.vocabulary_size
        self.student_vocabulary_size = student_vocabulary_size
        self.student_embedding_dim = student_embedding_dim
        hidden_dim = backbone.hidden_dim
        self.student_embedding = ReversibleEmbedding(
            student_vocabulary_size,
            student_embedding_dim,
            embeddings_initializer=_initializer(),
            dtype=backbone.dtype_policy,
            name="student_embedding",
        )
        self.student_projection = keras.layers.Dense(
            hidden_dim,
            use_bias=False,
            kernel_initializer=_initializer(),
            dtype=backbone.dtype_policy,
            name="student_projection",
        )
        self.mlm_head = MixedVocabMaskedLMHead(
            self.teacher_vocabulary_size,
            student_vocabulary_size,
            hidden_dim,
            activation=self.mlm_activation,
            layer_norm_epsilon=mlm_layer_norm_epsilon,
            dtype=backbone.dtype_policy,
            name="mlm_head",
        )
        self.student_embedding.build((None,))
        self.student_projection.build((None, student_embedding_dim))
        self.mlm_head.build((None, None, hidden_dim))
        # BERT's pooler is not on the MLM path; freezing it keeps gradients defined.
        backbone.pooled_dense.trainable = False
        if masked_lm_head is not None:
            self.mlm_head.load_pretrained_head(masked_lm_head)
        self._metric_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "loss",
                "teacher_mlm_loss",
                "teacher_mlm_accuracy",
                "student_mlm_loss",
                "student_mlm_accuracy",
            )
        }

    @property
    def metrics(self):
        return list(self._metric_trackers.values())

    def initialize_student_table(self, teacher_vocabulary, student_vocabulary):
        """Sets `E_s` and `P` from the teacher's embeddings (`student_table_from_teacher`).

        Returns:
          The share of student tokens the teacher could spell.
        """
        table, projection, covered = student_table_from_teacher(
            keras.ops.convert_to_numpy(self.backbone.token_embedding.embeddings),
            list(teacher_vocabulary),
            list(student_vocabulary),
            self.student_embedding_dim,
        )
        self.student_embedding.embeddings.assign(table)
        self.student_projection.kernel.assign(projection)
        return covered

    def set_encoder_trainable(self, trainable):
        """Freezes or unfreezes the pretrained encoder (every backbone weight).

        With it frozen only the parameters the checkpoint did not provide
        train: `E_s`, `P` and the MLM head. BERT's pooler, on no MLM path,
        stays frozen either way. Recompile after a change.
        """
        self.backbone.trainable = trainable
        self.backbone.pooled_dense.trainable = False

    def projected_student_embeddings(self):
        """`E_s P`: `[V_s, D]`, the student table in the teacher's space."""
        return self.student_projection(self.student_embedding.embeddings)

    def embed(self, token_ids, segment_ids, training=False):
        """Embeds joint-space ids (teacher rows or `E_s P` rows) plus positions and segments."""
        backbone = self.backbone
        is_student = token_ids >= self.teacher_vocabulary_size
        teacher_tokens = backbone.token_embedding(ops.where(is_student, 0, token_ids))
        student_tokens = self.student_projection(
            self.student_embedding(
                ops.where(is_student, token_ids - self.teacher_vocabulary_size, 0)
            )
        )
        tokens = ops.where(ops.expand_dims(is_student, -1), student_tokens, teacher_tokens)
        x = backbone.embeddings_add(
            (tokens, backbone.position_embedding(tokens), backbone.segment_embedding(segment_ids))
        )
        return backbone.embeddings_dropout(backbone.embeddings_layer_norm(x), training=training)

    def call(
        self, inputs, training=False, return_attention_scores=False, student_logits_only=False
    ):
        x = self.embed(inputs["token_ids"], inputs["segment_ids"], training=training)
        padding_mask = inputs["padding_mask"]
        hidden_states = [x]
        attention_scores = []
        for layer in self.backbone.transformer_layers:
            if return_attention_scores:
                x, scores = layer(
                    x, padding_mask=padding_mask, training=training, return_attention_scores=True
                )
                attention_scores.append(scores)
            else:
                x = layer(x, padding_mask=padding_mask, training=training)
            hidden_states.append(x)
        outputs = {"sequence_output": x, "hidden_states": ops.stack(hidden_states, axis=1)}
        if return_attention_scores:
            outputs["attention_scores"] = ops.stack(attention_scores, axis=1)
        if "mask_positions" in inputs and student_logits_only:
            outputs["student_logits"] = self.mlm_head.student_logits(
                x, inputs["mask_positions"], self.projected_student_embeddings()
            )
        elif "mask_positions" in inputs:
            teacher_logits, student_logits = self.mlm_head(
                x,
                inputs["mask_positions"],
                self.backbone.token_embedding.embeddings,
                self.projected_student_embeddings(),
            )
            outputs["teacher_logits"] = teacher_logits
            outputs["student_logits"] = student_logits
        return outputs

    def _step_losses(self, data, training):
        outputs = self(data, training=training)
        parts = masked_lm_losses(
            self.teacher_vocabulary_size,
            data["mask_ids"],
            data["mask_weights"],
            outputs["teacher_logits"],
            outputs["student_logits"],
        )
        weights = parts["teacher_weight"] + parts["student_weight"]
        return replica_weighted_mean(parts["loss"], weights), parts

    def _update_metrics(self, loss, parts):
        trackers = self._metric_trackers
        trackers["loss"].update_state(loss)
        for vocab in ("teacher", "student"):
            weight = parts[f"{vocab}_weight"]
            trackers[f"{vocab}_mlm_loss"].update_state(parts["loss"], sample_weight=weight)
            trackers[f"{vocab}_mlm_accuracy"].update_state(parts["correct"], sample_weight=weight)
        return {name: tracker.result() for name, tracker in trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, parts = self._step_losses(data, training=True)
            scaled_loss = self.optimizer.scale_loss(scale_for_replicas(loss))
        apply_gradients(self.optimizer, tape, scaled_loss, self.trainable_variables)
        return logs_for_strategy(self._update_metrics(loss, parts))

    def test_step(self, data):
        loss, parts = self._step_losses(data, training=False)
        return logs_for_strategy(self._update_metrics(loss, parts))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "student_vocabulary_size": self.student_vocabulary_size,
                "student_embedding_dim": self.student_embedding_dim,
                "mlm_activation": keras.activations.serialize(self.mlm_activation),
                "mlm_layer_norm_epsilon": self.mlm_layer_norm_epsilon,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
