"""Callbacks every training stage shares: the p_sv ramp and the NaN guard."""

import math

import keras


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class PsvRamp(keras.callbacks.Callback):
    """Ramps the preprocessor's `p_sv` linearly over training.

    The value is a function of the optimizer's step counter, so a resumed run
    continues the schedule where it stopped.

    Args:
      p_sv: the preprocessor's `p_sv` variable (`MixedVocabPreprocessor.p_sv`).
      start: value at step 0.
      end: value at `ramp_steps` and after.
      ramp_steps: length of the ramp in optimizer steps.

    Example:
    ```python
    model.fit(dataset, callbacks=[PsvRamp(preprocessor.p_sv, 0.1, 1.0, 10_000)])
    ```
    """

    def __init__(self, p_sv, start, end, ramp_steps):
        super().__init__()
        for name, value in (("start", start), ("end", end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"p_sv {name}={value} must be in [0, 1].")
        self.p_sv = p_sv
        self.start = float(start)
        self.end = float(end)
        self.ramp_steps = max(int(ramp_steps), 1)

    def value_at(self, step):
        fraction = min(step / self.ramp_steps, 1.0)
        return self.start + (self.end - self.start) * fraction

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.p_sv.assign(self.value_at(step))

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs["p_sv"] = float(self.p_sv.numpy())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["p_sv"] = float(self.p_sv.numpy())


class ExtraEvaluation(keras.callbacks.Callback):
    """Evaluates more held-out datasets at the end of each loop, into the logs.

    `fit` takes one `validation_data`; Stage I is also scored at a second
    p_sv (the fully student-segmented text Stage II feeds it). Each dataset's
    metrics are logged as `<prefix><metric>`, so TensorBoard and the history
    show them beside `val_*`.

    Args:
      datasets: `{prefix: dataset}`.
      steps: batches of each dataset per evaluation.
    """

    def __init__(self, datasets, steps):
        super().__init__()
        self.datasets = dict(datasets)
        self.steps = steps

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix, dataset in self.datasets.items():
            results = self.model.evaluate(dataset, steps=self.steps, verbose=0, return_dict=True)
            logs.update({prefix + name: float(value) for name, value in results.items()})


class NanGuard(keras.callbacks.Callback):
    """Stops training with a clear error as soon as the loss is not finite.

    Unlike `keras.callbacks.TerminateOnNaN`, it raises, so a training binary
    exits non-zero, and it runs before any checkpoint callback of the same
    batch, so the last checkpoint on disk is a good one.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise TrainingDivergedError(
                f"The training loss became {float(loss)} at step {step}. The last good "
                "checkpoint is kept. Fix: lower --learning_rate, lengthen warm-up, or "
                "turn off --mixed_precision, then rerun the same command to resume."
            )
