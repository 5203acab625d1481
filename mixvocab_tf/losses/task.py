"""Task losses for fine-tuning and task distillation: soft targets at a temperature, and
weighted hard and KL losses over a transfer set that mixes labelled and unlabelled rows."""

import keras


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class SoftTargetLoss(keras.losses.Loss):
    """Cross-entropy to a teacher's temperature-softened distribution, times T^2.

    `y_true` holds the teacher's probabilities at temperature T; `y_pred` the student's
    logits. The T^2 factor keeps gradient sizes comparable across temperatures (Hinton et al.).
    """

    def __init__(self, temperature=2.0, name="soft_target", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def call(self, y_true, y_pred):
        log_probs = keras.ops.log_softmax(keras.ops.cast(y_pred, "float32") / self.temperature, -1)
        return -self.temperature ** 2 * keras.ops.sum(y_true * log_probs, axis=-1)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class _WeightedRowsLoss(keras.losses.Loss):
    """A per-row loss averaged over weighted rows: `y_true` packs a row's target and, last,
    its weight ([..., K + 1]). The sum over the batch is divided by the sum of the weights,
    so rows with weight 0 (unlabelled rows, padding words) neither count nor dilute the mean.
    Subclasses write `row_loss(target, logits)`."""

    def __init__(self, name, **kwargs):
        kwargs["reduction"] = "sum"
        super().__init__(name=name, **kwargs)

    def row_loss(self, target, logits):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        target, weight = y_true[..., :-1], y_true[..., -1]
        loss = self.row_loss(target, ops.cast(y_pred, "float32"))
        return loss * weight / ops.maximum(ops.sum(weight), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return config


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedKLDivergence(_WeightedRowsLoss):
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), averaged over weighted rows.

    `y_true` packs the teacher's logits and a weight: [..., C + 1]; `y_pred` holds the
    student's logits [..., C]. The T^2 factor keeps gradient sizes comparable across
    temperatures (Hinton et al.). Zero exactly when the student's logits equal the teacher's
    (up to a constant per row).

    Example:
    >>> loss = WeightedKLDivergence(temperature=2.0)
    >>> loss(np.concatenate([logits, np.ones_like(logits[..., :1])], -1), logits)  # 0.0
    """

    def __init__(self, temperature=2.0, name="weighted_kl", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def row_loss(self, target, logits):
        ops, t = keras.ops, self.temperature
        teacher_log_probs = ops.log_softmax(target / t, -1)
        student_log_probs = ops.log_softmax(logits / t, -1)
        kl = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), -1)
        return t * t * kl

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedLogitMSE(_WeightedRowsLoss):
    """Mean squared error between the student's and the teacher's logits, averaged over
    classes and weighted rows (Tang et al. 2019, "Distilling task-specific knowledge from BERT
    into simple neural networks").

    Packed like `WeightedKLDivergence` (`y_true` [..., C + 1]: the teacher's logits and a
    weight). Unlike KL it is not blind to a constant shift of a row: it matches the logits
    themselves, not only the distribution they give.

    Example:
    >>> loss = WeightedLogitMSE()
    >>> loss(np.concatenate([logits, np.ones_like(logits[..., :1])], -1), logits)  # 0.0
    """

    def __init__(self, name="weighted_logit_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def row_loss(self, target, logits):
        return keras.ops.mean(keras.ops.square(logits - target), -1)


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedHardLoss(_WeightedRowsLoss):
    """Cross-entropy to gold label ids, averaged over the rows that have one.

    `y_true` packs (label id, weight) in its last axis: [..., 2]; unlabelled transfer
    examples have weight 0.
    """

    def __init__(self, name="weighted_hard", **kwargs):
        super().__init__(name=name, **kwargs)

    def row_loss(self, target, logits):
        labels = keras.ops.cast(target[..., 0], "int32")
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedCosineDistance(_WeightedRowsLoss):
    """1 - cosine between the student's (projected) vectors and the teacher's, averaged over
    weighted rows.

    Packed like `WeightedKLDivergence` (`y_true` [..., D + 1]: the teacher's vector and a
    weight); `y_pred` holds the student's vector [..., D]. Blind to each row's scale, so a
    projection from a narrower student needs to match directions only.

    Example:
    >>> loss = WeightedCosineDistance()
    >>> loss(np.concatenate([vectors, np.ones_like(vectors[..., :1])], -1), 2 * vectors)  # 0.0
    """

    def __init__(self, name="weighted_cosine_distance", **kwargs):
        super().__init__(name=name, **kwargs)

    def row_loss(self, target, vectors):
        ops = keras.ops
        dot = ops.sum(target * vectors, -1)
        norms = ops.sqrt(ops.sum(ops.square(target), -1) * ops.sum(ops.square(vectors), -1))
        return 1.0 - dot / ops.maximum(norms, 1e-12)
