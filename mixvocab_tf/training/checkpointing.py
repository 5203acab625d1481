"""Resumable training: `tf.train.CheckpointManager` around `model.fit`."""

import math
import os

import keras
import tensorflow as tf

from mixvocab_tf.training.callbacks import NanGuard


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


def restore_latest(model, checkpoint_dir, max_to_keep=3):
    """Restores the newest checkpoint in `checkpoint_dir`, if any.

    The model and its optimizer must be built (called once, and
    `optimizer.build(model.trainable_variables)`) so every variable exists.

    Returns:
      `(manager, restored_step)`; `restored_step` is 0 on a fresh start.
    """
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=max_to_keep)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
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
    manager, step = restore_latest(model, os.path.join(model_dir, "checkpoints"))
    loops = max(math.ceil(train_steps / steps_per_loop), 1)
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
            keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
            CheckpointEveryLoop(manager),
        ],
        verbose=verbose,
    )
