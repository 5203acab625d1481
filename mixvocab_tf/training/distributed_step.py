"""What a custom `train_step` needs to run under every `tf.distribute` strategy."""

import tensorflow as tf


def scale_for_replicas(loss):
    """Divides a per-replica mean loss by the replica count.

    Each replica averages over its own share of the global batch and the
    strategy sums gradients across replicas, so this keeps the gradient that
    of the global-batch mean.
    """
    return loss / tf.distribute.get_strategy().num_replicas_in_sync


def replica_weighted_mean(values, weights):
    """A weighted mean over the GLOBAL batch, from inside one replica.

    Each replica divides its weighted sum by the weight summed over all
    replicas (an all-reduce), times the replica count, so that the mean over
    replicas (what metrics report) and the replica-scaled gradients (see
    `scale_for_replicas`) are exactly those of the whole batch on one device,
    however the masked positions fall across replicas.
    """
    values = tf.cast(values, tf.float32)
    weights = tf.cast(weights, tf.float32)
    local_sum = tf.reduce_sum(values * weights)
    count = tf.reduce_sum(weights)
    context = tf.distribute.get_replica_context()
    replicas = 1
    if context is not None and context.num_replicas_in_sync > 1:
        replicas = context.num_replicas_in_sync
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return local_sum * replicas / tf.maximum(count, 1.0)


def logs_for_strategy(logs):
    """Shapes scalar logs so `fit` can reduce them under every strategy.

    Under `MultiWorkerMirroredStrategy` Keras 3 reduces logs with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
    (tensorflow#72388); a length-1 vector reduces to the same scalar.
    """
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs


class DistributedFitMixin:
    """Lets `fit` start under `MultiWorkerMirroredStrategy` (tensorflow#72388).

    Keras 3's `fit` first "symbolically builds" the model from a batch it
    averages with `strategy.reduce`, which `MultiWorkerMirroredStrategy`
    cannot do eagerly. Our models are built (and their optimizer too) before
    `fit`, so that build is skipped for them.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def apply_gradients(optimizer, tape, scaled_loss, variables):
    """Applies the gradients of `scaled_loss`, skipping variables that get none.

    Frozen-path variables (e.g. BERT's pooler, on no MLM or distillation path)
    have no gradient; leaving them out keeps Keras from warning every step.
    """
    pairs = [
        (gradient, variable)
        for gradient, variable in zip(tape.gradient(scaled_loss, variables), variables)
        if gradient is not None
    ]
    optimizer.apply(*zip(*pairs))
