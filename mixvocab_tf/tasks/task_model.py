"""The task model directory: what fine-tuning writes and evaluation and export read.

Layout (written atomically: a temporary sibling directory, then a rename):
  model.keras       the inference model on {"token_ids", "segment_ids", "padding_mask"} (int32)
  vocab.txt         the encoder's WordPiece vocabulary, index = id
  labels.txt        the class or tag names, index = output unit (empty for response selection)
  task_config.json  task name and type, lower_case, sequence_length, labels, metrics, outputs,
                    the training settings and the final scores

Example:
>>> task_model = load_task_model("runs/snips_minilm")
>>> task_model.config["type"], task_model.labels[:2]
"""

import dataclasses
import json
import os
import shutil
import tempfile

import keras
import keras_hub  # noqa: F401 (registers the keras-hub classes a model.keras names)
import numpy as np

from mixvocab_tf.file_io import replace_directory
from mixvocab_tf.model_dirs import TASK
from mixvocab_tf.model_dirs import resolve_model_dir
from mixvocab_tf.models import student_encoder  # noqa: F401 (registers StudentEncoder)
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.models.student_directory import read_vocabulary

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
CONFIG_FILE = "task_config.json"


@dataclasses.dataclass
class TaskModel:
    """A loaded task model directory."""

    model: keras.Model
    vocabulary: list
    labels: list
    config: dict
    # The folder it was read from (None when built in memory).
    directory: str = None

    @property
    def task_type(self):
        return self.config["type"]

    @property
    def sequence_length(self):
        return int(self.config["sequence_length"])

    @property
    def lower_case(self):
        return bool(self.config["lower_case"])

    @property
    def normalization(self):
        """The text normalisation it was trained with ("bert" for older models)."""
        return self.config.get("normalization", "bert")


def _write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def base_task_config(task, lower_case, normalization, sequence_length):
    """The keys every task config starts with: the task and how its inputs are encoded."""
    return {
        "task": task.name,
        "type": task.type,
        "lower_case": lower_case,
        "normalization": normalization,
        "sequence_length": sequence_length,
        "metrics": list(task.metrics),
        "inputs": list(heads.ENCODER_INPUTS),
    }


def save_task_model(output_dir, model, vocabulary, labels, config):
    """Writes a task model directory atomically (replacing an existing one).

    Args:
      output_dir: the directory to (re)create.
      model: the inference `keras.Model`.
      vocabulary: the token list.
      labels: the label (or tag) list; may be empty.
      config: the task config dict; `labels` and the file names are added.

    Returns:
      The path of the directory.
    """
    output_dir = os.path.abspath(output_dir)
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.tmp-", dir=parent)
    try:
        if getattr(model, "optimizer", None) is not None:
            # A fitted model would also save its optimizer's slots (about 3x the file); the same
            # layers in an uncompiled model save the weights only.
            model = keras.Model(model.inputs, model.outputs, name=model.name)
        model.save(os.path.join(staging, MODEL_FILE))
        _write_text(os.path.join(staging, VOCAB_FILE), "".join(t + "\n" for t in vocabulary))
        _write_text(os.path.join(staging, LABELS_FILE), "".join(l + "\n" for l in labels))
        config = dict(config, labels=list(labels), model_file=MODEL_FILE, vocab_file=VOCAB_FILE,
                      labels_file=LABELS_FILE)
        _write_text(os.path.join(staging, CONFIG_FILE),
                    json.dumps(config, indent=2, default=_json_default) + "\n")
        replace_directory(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _read_labels(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f if line.rstrip("\r\n")]


def load_task_model(model_dir):
    """Loads a task model directory written by `save_task_model`.

    Args:
      model_dir: the task model folder (`tools/finetune.py --output_dir`), or a run folder
        holding one in `export/` (`model_dirs.resolve_model_dir`).

    Raises:
      FileNotFoundError: a file is missing (names it and how the directory is made).
      model_dirs.ModelDirError: the folder holds another kind of model.
    """
    model_dir = resolve_model_dir(model_dir, TASK)
    for name in (MODEL_FILE, VOCAB_FILE, LABELS_FILE, CONFIG_FILE):
        if not os.path.isfile(os.path.join(model_dir, name)):
            raise FileNotFoundError(
                f"{os.path.join(model_dir, name)} not found: --model_dir must be a task model "
                "directory written by tools/finetune.py.")
    with open(os.path.join(model_dir, CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("type") not in task_registry.TASK_TYPES:
        raise ValueError(f"{model_dir}/{CONFIG_FILE}: unknown task type {config.get('type')!r}")
    model = keras.saving.load_model(os.path.join(model_dir, MODEL_FILE), compile=False)
    return TaskModel(
        model=model,
        vocabulary=read_vocabulary(os.path.join(model_dir, VOCAB_FILE)),
        labels=_read_labels(os.path.join(model_dir, LABELS_FILE)),
        config=config,
        directory=model_dir,
    )
