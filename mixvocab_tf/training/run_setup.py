"""What every training binary does first: the run directory and the precision policy."""

import json
import os

import keras

from mixvocab_tf.training.strategy import is_chief
from mixvocab_tf.file_io import write_json_atomic


def prepare_model_dir(model_dir, config):
    """Creates `model_dir` and records the resolved configuration as `flags.json`.

    Rerunning with a different configuration in the same directory would mix
    two runs' checkpoints, so that is an error.

    Raises:
      ValueError: when `model_dir` holds a run with another configuration.
    """
    os.makedirs(model_dir, exist_ok=True)
    if not is_chief():
        return
    path = os.path.join(model_dir, "flags.json")
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
        resumable = {"train_steps", "steps_per_loop", "strategy", "verbose"}
        if set(changed) - resumable:
            raise ValueError(
                f"{model_dir} holds a run with different settings ({', '.join(changed)}). "
                "Fix: use a new --model_dir, or the same flags to resume."
            )
    write_json_atomic(path, config)


def set_precision(mixed_precision):
    """Sets Keras' global dtype policy (`mixed_float16` on GPUs, `mixed_bfloat16` on TPUs)."""
    keras.mixed_precision.set_global_policy(mixed_precision or "float32")
