"""AdamW with linear warm-up then cosine decay, BERT's usual optimiser."""

import contextlib
import warnings

import keras


def create_optimizer(learning_rate, train_steps, warmup_fraction=0.1, weight_decay=0.01):
    """Builds AdamW on Keras' own warm-up + cosine schedule.

    LayerNorm parameters and biases are excluded from weight decay, as in BERT.

    Args:
      learning_rate: peak learning rate, reached at the end of warm-up.
      train_steps: total optimizer steps.
      warmup_fraction: share of `train_steps` spent warming up linearly.
      weight_decay: decoupled weight decay.

    Returns:
      A `keras.optimizers.AdamW`.
    """
    warmup_steps = int(train_steps * warmup_fraction)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(train_steps - warmup_steps, 1),
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=weight_decay, global_clipnorm=1.0
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def build_for_fit(model, x=None, y=None, sample_weight=None):
    """Creates a compiled model's optimizer, loss-tracker and metric variables before `fit`.

    Outside a `tf.distribute` strategy scope, Keras 3 creates them inside the first trace of
    the train step, and a `tf.function` whose first trace creates variables is traced again:
    every `fit` then pays two traces (seconds each for a BERT student on a CPU; about a
    sixth of a short fine-tuning). Building them first leaves one.

    Args:
      model: a compiled Keras model with the standard `train_step`.
      x, y, sample_weight: the training arrays (or nested dicts of arrays), as `fit` takes
        them; their first two rows run through the loss and the metrics, which are then
        reset. Needed when the model has compiled metrics or several outputs (a loss
        tracker each); without `y`, only the optimizer is built.

    Example:
    >>> model.compile(optimizer=create_optimizer(3e-4, 1000), loss=loss, metrics=["accuracy"])
    >>> build_for_fit(model, x, y)
    >>> model.fit(dataset, epochs=2)
    """
    model.optimizer.build(model.trainable_variables)
    if x is None or y is None:
        return
    x, y, sample_weight = (None if part is None else keras.tree.map_structure(
        lambda array: array[:2], part) for part in (x, y, sample_weight))
    y_pred = model(x, training=False)
    model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
    model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    model.reset_metrics()


@contextlib.contextmanager
def unread_pooler_ignored():
    """Silences the optimizer's "Gradients do not exist" warning for the encoder's pooler.

    Heads that do not read the pooled [CLS] output (mean pooling, tagging, response selection,
    sentence-embedding distillation) leave `pooled_dense` without gradients, as intended.

    Example:
    >>> with unread_pooler_ignored():
    ...     model.fit(dataset, epochs=2)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Gradients do not exist for variables.*pooled_dense")
        yield
