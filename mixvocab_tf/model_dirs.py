"""Finds the model in a folder a user names: the model folder itself or its run folder.

Every training stage writes a run folder (`flags.json`, `checkpoints/`, `logs/`) and,
when it finishes, the model in its `export/` folder. Users naturally pass the run folder
(`--model_dir` of the stage that wrote it); tools that read a model accept both, through
`resolve_model_dir`, and log which folder they read.

Example:
>>> resolve_model_dir("runs/stage2", STUDENT)   # a finished tools/distill_student.py run
'runs/stage2/export'
>>> resolve_model_dir("runs/stage2/export", STUDENT)
'runs/stage2/export'
"""

import dataclasses
import os

from absl import logging

# The folder inside a run folder that holds its finished model.
from mixvocab_tf.training.checkpointing import EXPORT_DIR
# What a run folder holds before its model exists (`training.run_setup.prepare_model_dir`).
RUN_MARKERS = ("flags.json", "checkpoints")


@dataclasses.dataclass(frozen=True)
class ModelKind:
    """A kind of model folder: what it is, the files that identify it, what writes it."""

    name: str
    files: tuple
    writer: str


STAGE1 = ModelKind("Stage I teacher", ("teacher.keras", "stage1_config.json"),
                   "tools/train_teacher.py --model_dir")
STUDENT = ModelKind("Stage II student", ("student.keras", "config.json"),
                    "tools/distill_student.py --model_dir")
# Fine-tuning writes the task model straight into its --output_dir; a run folder that
# trains a task model (task distillation) holds it in export/.
TASK = ModelKind("task model", ("model.keras", "task_config.json"),
                 "tools/finetune.py --output_dir")
KINDS = (STAGE1, STUDENT, TASK)


class ModelDirError(ValueError):
    """A folder holds no model of the kind a tool needs (or a different kind)."""


def model_kind(directory):
    """The `ModelKind` whose files `directory` holds, or `None`."""
    for kind in KINDS:
        if all(os.path.exists(os.path.join(directory, name)) for name in kind.files):
            return kind
    return None


def _listing(directory):
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def resolve_model_dir(path, kinds, flag="--model_dir"):
    """Returns the folder holding the model: `path` itself, or `path/export` of a run folder.

    Args:
      path: what the user passed: a model folder (e.g. `runs/stage2/export`,
        `runs/snips`) or the run folder of the stage that wrote it (`runs/stage2`).
      kinds: the `ModelKind` (or a sequence of them) the caller reads.
      flag: the flag or argument name, for messages.

    Returns:
      The folder to read, as a string; the choice is logged (absl INFO). A folder that
      holds none of the known kinds (e.g. a BERT teacher, which fine-tuning also reads)
      comes back unchanged: the caller's loader reads it or names what it lacks.

    Raises:
      FileNotFoundError: `path` does not exist.
      ModelDirError: `path` holds another kind of model or is a run folder that has not
        finished (no `export/` yet); the message says what it found and the fix.
    """
    path = os.fspath(path)
    kinds = (kinds,) if isinstance(kinds, ModelKind) else tuple(kinds)
    wanted = " or ".join(k.name for k in kinds)
    writers = " or ".join(f"a {k.writer}" for k in kinds)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{flag} {path} does not exist. Fix: pass {writers} folder.")
    export = os.path.join(path, EXPORT_DIR)
    for directory in (path, export):
        kind = model_kind(directory)
        if kind is None:
            continue
        if kind not in kinds:
            raise ModelDirError(
                f"{flag} {path} holds a {kind.name} ({directory}), but this needs a {wanted}. "
                f"Fix: pass {writers} folder.")
        where = "the run folder's export/" if directory == export else "the model folder"
        logging.info("%s %s: reading the %s in %s (%s).", flag, path, kind.name, directory, where)
        return directory
    found = _listing(path)
    if any(name in found for name in RUN_MARKERS) and EXPORT_DIR not in found:
        raise ModelDirError(
            f"{flag} {path} is a run folder without a model yet: it has no {EXPORT_DIR}/ "
            f"(found {found}); a run writes {EXPORT_DIR}/ when it finishes. Fix: let the run "
            "finish, or rerun its command to resume it from the last checkpoint.")
    return path
