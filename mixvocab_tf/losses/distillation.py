"""Stage II loss terms, each a plain function of tensors.

Masked positions carry weights (0 for padding predictions) and hidden states a
padding mask, so every term is a weighted mean over real positions only. That
is why these are not `keras.distillation`'s `LogitsDistillation` /
`FeatureDistillation`: those average over every output position and have no
place for the trainable shared projection.
"""

import keras
from keras import ops

from mixvocab_tf.training.distributed_step import replica_weighted_mean


def _weighted_mean(values, weights):
    return replica_weighted_mean(values, weights)


def masked_lm_loss(labels, logits, weights):
    """Cross-entropy at masked positions. `labels`/`weights` `[B, P]`, `logits` `[B, P, V]`."""
    loss = keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(logits, "float32"), from_logits=True
    )
    return _weighted_mean(loss, weights)


def masked_lm_accuracy(labels, logits, weights):
    correct = ops.cast(ops.argmax(logits, axis=-1), "int32") == ops.cast(labels, "int32")
    return _weighted_mean(ops.cast(correct, "float32"), weights)


def logit_distillation_loss(teacher_logits, student_logits, weights, temperature=1.0):
    """KL(teacher || student) of the softened distributions, times `T^2`.

    Args:
      teacher_logits: `[B, P, V]`.
      student_logits: `[B, P, V]`, over the same vocabulary.
      weights: `[B, P]`.
      temperature: the softmax temperature `T`.
    """
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    teacher_log_probs = ops.log_softmax(t, axis=-1)
    kl = ops.sum(
        ops.exp(teacher_log_probs) * (teacher_log_probs - ops.log_softmax(s, axis=-1)), axis=-1
    )
    return _weighted_mean(kl, weights) * temperature**2


def hidden_state_loss(teacher_hidden, student_hidden, padding_mask):
    """Mean squared error over real tokens. Hidden states `[B, L, H]`, mask `[B, L]`."""
    error = ops.mean(
        ops.square(ops.cast(teacher_hidden, "float32") - ops.cast(student_hidden, "float32")),
        axis=-1,
    )
    return _weighted_mean(error, padding_mask)


def attention_loss(teacher_scores, student_scores, padding_mask):
    """KL between attention distributions of real query tokens.

    Scores are `[B, heads, L, L]` probabilities. With different head counts the
    distributions are averaged over heads first (head-averaged attention).
    """
    teacher_scores = ops.cast(teacher_scores, "float32")
    student_scores = ops.cast(student_scores, "float32")
    if teacher_scores.shape[1] != student_scores.shape[1]:
        teacher_scores = ops.mean(teacher_scores, axis=1, keepdims=True)
        student_scores = ops.mean(student_scores, axis=1, keepdims=True)
    eps = 1e-9
    kl = ops.sum(
        teacher_scores * (ops.log(teacher_scores + eps) - ops.log(student_scores + eps)), axis=-1
    )  # [B, heads, L]
    weights = ops.broadcast_to(ops.expand_dims(padding_mask, 1), ops.shape(kl))
    return _weighted_mean(kl, weights)


def uniform_layer_map(student_layers, teacher_layers):
    """Pairs every student layer with a teacher layer, spread uniformly (a ceiling map).

    Student hidden index `i >= 1` pairs with teacher index
    `ceil(i * L_t / L_s)`, and the embedding outputs (index 0) pair with each
    other. The ceiling keeps every student transformer layer on a teacher
    transformer layer: with a deeper student (12 layers from a 6-layer
    teacher) a floor would pair student layer 1 with the teacher's embedding
    output and push it towards the identity. For a student at most as deep as
    its teacher the ceiling equals the floor whenever `L_t / L_s` is whole,
    and the last layers always pair.

    Returns:
      A list of `(student_index, teacher_index)` over hidden-state indices.
    """
    return [(0, 0)] + [
        (i, -(-i * teacher_layers // student_layers)) for i in range(1, student_layers + 1)
    ]


def attention_layer_pairs(layer_map):
    """Transformer-layer pairs `(student, teacher)` of a hidden-state layer map.

    Hidden index `i >= 1` is transformer layer `i - 1`; the embedding pair has
    no attention. Every teacher index is a transformer layer (never `-1`,
    the last layer by Python indexing) because the map pairs student layers
    only with teacher layers `>= 1`.
    """
    pairs = [(s - 1, t - 1) for s, t in layer_map if s > 0]
    if any(t < 0 for _, t in pairs):
        raise ValueError(f"layer map {layer_map} pairs a transformer layer with embeddings.")
    return pairs
