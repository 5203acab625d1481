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
