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


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedKLDivergence(keras.losses.Loss):
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), averaged over weighted rows.

    `y_true` packs the teacher's logits and a weight: [..., C + 1]; `y_pred` holds the
    student's logits [..., C]. The sum over the batch is divided by the sum of the weights,
    so rows with weight 0 (padding words) neither count nor dilute the mean. The T^2 factor
    keeps gradient sizes comparable across temperatures (Hinton et al.). Zero exactly when
    the student's logits equal the teacher's (up to a constant per row).

    Example:
    >>> loss = WeightedKLDivergence(temperature=2.0)
    >>> loss(np.concatenate([logits, np.ones_like(logits[..., :1])], -1), logits)  # 0.0
    """

    def __init__(self, temperature=2.0, name="weighted_kl", **kwargs):
        kwargs["reduction"] = "sum"
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        teacher, weight = y_true[..., :-1], y_true[..., -1]
        t = self.temperature
        teacher_log_probs = ops.log_softmax(teacher / t, -1)
        student_log_probs = ops.log_softmax(ops.cast(y_pred, "float32") / t, -1)
        kl = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), -1)
        return t * t * kl * weight / ops.maximum(ops.sum(weight), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedLogitMSE(keras.losses.Loss):
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
        kwargs["reduction"] = "sum"
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        teacher, weight = y_true[..., :-1], y_true[..., -1]
        error = ops.mean(ops.square(ops.cast(y_pred, "float32") - teacher), -1)
        return error * weight / ops.maximum(ops.sum(weight), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return config


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class WeightedHardLoss(keras.losses.Loss):
    """Cross-entropy to gold label ids, averaged over the rows that have one.

    `y_true` packs (label id, weight) in its last axis: [..., 2]; unlabelled transfer
    examples have weight 0.
    """

    def __init__(self, name="weighted_hard", **kwargs):
        kwargs["reduction"] = "sum"
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        labels, weight = ops.cast(y_true[..., 0], "int32"), y_true[..., 1]
        ce = keras.losses.sparse_categorical_crossentropy(
            labels, ops.cast(y_pred, "float32"), from_logits=True)
        return ce * weight / ops.maximum(ops.sum(weight), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return config
