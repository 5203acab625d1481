"""Resumable training: `tf.train.CheckpointManager` around `model.fit` (a stage run of
optimizer steps, `fit_resumable`; a task run of epochs, `fit_epochs_resumable`)."""

import json
import math
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from mixvocab_tf.file_io import write_directory_atomic
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.training.callbacks import NanGuard
from mixvocab_tf.training.strategy import is_chief


# The finished model of a run: `model_dir/export`.
EXPORT_DIR = "export"


class CheckpointEveryLoop(keras.callbacks.Callback):
    """Saves a checkpoint at the end of each `fit` epoch (one training loop).

    `CheckpointManager` writes the checkpoint files first and the small
    `checkpoint` index last, so a run killed mid-write still resumes from the
    previous complete checkpoint.
    """

    def __init__(self, manager):
        super().__init__()
        self.manager = manager

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        self.manager.save(checkpoint_number=self.model.optimizer.iterations)


def restore_latest(model, checkpoint_dir, save_dir=None, max_to_keep=3):
    """Restores the newest checkpoint in `checkpoint_dir`, if any.

    The model and its optimizer must be built (called once, and
    `optimizer.build(model.trainable_variables)`) so every variable exists.

    Args:
      model: the compiled model.
      checkpoint_dir: where checkpoints are read from.
      save_dir: where the returned manager writes (default `checkpoint_dir`).
      max_to_keep: checkpoints kept.

    Returns:
      `(manager, restored_step)`; `restored_step` is 0 on a fresh start.
    """
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"Resuming from {latest} at step {int(model.optimizer.iterations.numpy())}.")
    manager = tf.train.CheckpointManager(
        checkpoint, save_dir or checkpoint_dir, max_to_keep=max_to_keep
    )
    return manager, int(model.optimizer.iterations.numpy())


def fit_resumable(
    model,
    dataset,
    train_steps,
    model_dir,
    steps_per_loop=100,
    eval_dataset=None,
    eval_steps=None,
    callbacks=(),
    verbose="auto",
):
    """Runs `model.fit` for `train_steps` optimizer steps, resuming if it can.

    Checkpoints go to `model_dir/checkpoints` every `steps_per_loop` steps,
    TensorBoard logs to `model_dir/logs`. Rerunning the same call after a
    crash or a kill continues from the last checkpoint: weights, optimizer
    state and step (and so every step-driven schedule).

    Args:
      model: a compiled, built model whose optimizer is built.
      dataset: an infinite `tf.data.Dataset` of batches.
      train_steps: total optimizer steps.
      model_dir: run directory.
      steps_per_loop: steps between checkpoints (and evaluations).
      eval_dataset: optional evaluation batches, run after each loop.
      eval_steps: batches of `eval_dataset` per evaluation.
      callbacks: more Keras callbacks.
      verbose: `fit`'s verbosity.

    Returns:
      The `keras.callbacks.History` of this run (empty when already done).
    """
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    log_dir = os.path.join(model_dir, "logs")
    save_dir = checkpoint_dir
    if not is_chief():
        # Every worker restores from the chief's checkpoints and saves too (a
        # collective), but only the chief's copy and logs are kept.
        scratch = tempfile.mkdtemp(prefix="mixvocab-worker-")
        save_dir, log_dir = os.path.join(scratch, "checkpoints"), os.path.join(scratch, "logs")
    manager, step = restore_latest(model, checkpoint_dir, save_dir)
    # A run shorter than one loop (a smoke test's few steps) still stops at train_steps.
    steps_per_loop = max(min(steps_per_loop, train_steps), 1)
    loops = max(math.ceil(train_steps / steps_per_loop), 1)
    # Equal loops that cover train_steps: fewer than `loops` steps past it, not up to a loop.
    steps_per_loop = max(math.ceil(train_steps / loops), 1)
    initial_loop = step // steps_per_loop
    if step >= train_steps:
        return keras.callbacks.History()
    return model.fit(
        dataset,
        epochs=loops,
        initial_epoch=initial_loop,
        steps_per_epoch=steps_per_loop,
        validation_data=eval_dataset,
        validation_steps=eval_steps,
        callbacks=[
            NanGuard(),
            *callbacks,
            keras.callbacks.TensorBoard(log_dir),
            CheckpointEveryLoop(manager),
        ],
        verbose=verbose,
    )


def fit_and_export(model, dataset, train_steps, model_dir, write_export, **fit_kwargs):
    """`fit_resumable`, then writes `model_dir/export` atomically on the chief.

    Args:
      model, dataset, train_steps, model_dir: as in `fit_resumable`.
      write_export: `write_export(directory, metrics)` fills the export
        directory; `metrics` are the last logged values of this run.
      **fit_kwargs: more `fit_resumable` arguments.

    Returns:
      A dict: `export_dir`, `metrics` and the training `history`. A run that
      was already complete trains nothing and keeps its export.
    """
    history = fit_resumable(model, dataset, train_steps, model_dir, **fit_kwargs)
    metrics = {k: float(v[-1]) for k, v in history.history.items() if v}
    export_dir = os.path.join(model_dir, EXPORT_DIR)
    if is_chief() and (metrics or not os.path.isdir(export_dir)):
        write_directory_atomic(export_dir, lambda directory: write_export(directory, metrics))
    return {"export_dir": export_dir, "metrics": metrics, "history": history.history}


# Steps between the checkpoints of a resumable `fit_epochs` (a 2M-parameter student and its
# Adam slots save in well under a second: under 1% of 500 CPU steps).
RESUME_SAVE_STEPS = 500
RESUME_RECORD = "run.json"


class SaveEverySteps(keras.callbacks.Callback):
    """Saves a checkpoint every `every` optimizer steps (the global step, across `fit` calls)."""

    def __init__(self, manager, every):
        super().__init__()
        self.manager, self.every = manager, every

    def on_train_begin(self, logs=None):
        # Read once a fit call, then counted: no device read on every step.
        self.step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.manager.save(checkpoint_number=self.step)


def fit_epochs_resumable(model, dataset, epochs, steps_per_epoch, resume_dir, record,
                         save_steps=None, verbose=1, log=print):
    """`model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch)` that a killed run
    continues where its last checkpoint left it.

    Every `save_steps` steps the weights, the optimizer (its step drives the schedule) and
    the layers' random state go to `resume_dir`, beside `record` (what the run is: its
    config and inputs). A rerun with an equal record restores them and skips the batches
    already trained on (`dataset` must be deterministic: a seeded shuffle), so it trains on
    what the killed run would have; a different record starts afresh. The caller removes
    `resume_dir` once its output is written. A run that is not resumed is exactly one
    `fit` call (same history); a resumed one finishes the interrupted epoch first.

    Args:
      model: a compiled model whose optimizer is built (`optimization.build_for_fit`).
      dataset: an infinite, deterministic `tf.data.Dataset` of batches.
      epochs, steps_per_epoch: as `fit` takes them.
      resume_dir: the checkpoint folder (created).
      record: a JSON-ready dict identifying the run.
      save_steps: steps between checkpoints (default `RESUME_SAVE_STEPS`).
      verbose: `fit`'s verbosity.
      log: where the one resume line goes.

    Returns:
      `(history, resumed_step)`: the last `fit` call's `History` (None when nothing was
      left to train) and the step the run resumed from (0 on a fresh start).
    """
    record_path = os.path.join(resume_dir, RESUME_RECORD)
    # The layers' random state (dropout's seed generators) is no weight the model tracks for a
    # checkpoint: saved beside it, a resumed run draws the dropout masks an unbroken one would.
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                     random_state=[v for v in model.variables if not v.trainable])
    start = 0
    if os.path.isdir(resume_dir):
        try:
            with open(record_path, encoding="utf-8") as f:
                same = json.load(f) == json.loads(json.dumps(record))
        except (OSError, ValueError):
            same = False
        latest = tf.train.latest_checkpoint(resume_dir)
        if same and latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
            start = int(model.optimizer.iterations.numpy())
            log(f"student pass: resuming at step {start} of {epochs * steps_per_epoch} from "
                f"{resume_dir}")
        else:
            shutil.rmtree(resume_dir)
    os.makedirs(resume_dir, exist_ok=True)
    write_json_atomic(record_path, record)
    manager = tf.train.CheckpointManager(checkpoint, resume_dir, max_to_keep=1)
    callbacks = [SaveEverySteps(manager, save_steps or RESUME_SAVE_STEPS)]
    history, step, total = None, start, epochs * steps_per_epoch
    if step % steps_per_epoch:  # finish the interrupted epoch
        history = model.fit(dataset.skip(step), epochs=1,
                            steps_per_epoch=steps_per_epoch - step % steps_per_epoch,
                            callbacks=callbacks, verbose=verbose)
        step = int(model.optimizer.iterations.numpy())
    if step < total:
        history = model.fit(dataset.skip(step) if step else dataset, epochs=epochs,
                            initial_epoch=step // steps_per_epoch,
                            steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                            verbose=verbose)
    return history, start
