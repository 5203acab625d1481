"""A student folder: `student.keras` (a `StudentEncoder`), `vocab.txt` and `config.json`.

Stage II writes it (`export/` of its run folder); fine-tuning, task distillation and
`models.pretrained` read it here, never through the Stage II runner.
"""

import json
import os

import keras

from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.model_dirs import STUDENT
from mixvocab_tf.model_dirs import resolve_model_dir
from mixvocab_tf.models import student_encoder  # noqa: F401 (registers StudentEncoder)
from mixvocab_tf.vocab.vocabulary import Vocabulary

STUDENT_MODEL_FILE = "student.keras"
STUDENT_VOCAB_FILE = "vocab.txt"
STUDENT_CONFIG_FILE = "config.json"


def is_student_dir(path):
    """True when `path` is a Stage II student directory (it holds `student.keras`)."""
    return os.path.isfile(os.path.join(path, STUDENT_MODEL_FILE))


def read_vocabulary(path):
    """Reads a vocab.txt (one token a line, index = id)."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\r\n") for line in f]
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise ValueError(f"{path} is empty; expected one WordPiece token a line.")
    return tokens


class StudentDirectoryError(ValueError):
    """A student directory is missing files."""


def save_student_directory(directory, student, vocabulary, config):
    """Writes `student.keras`, `vocab.txt` and `config.json` into `directory`."""
    os.makedirs(directory, exist_ok=True)
    student.save(os.path.join(directory, STUDENT_MODEL_FILE))
    vocabulary.save(os.path.join(directory, STUDENT_VOCAB_FILE))
    write_json_atomic(os.path.join(directory, STUDENT_CONFIG_FILE), config)


def load_student_directory(directory):
    """Loads a student directory (or its Stage II run folder): `(StudentEncoder, Vocabulary,
    config dict)`."""
    directory = resolve_model_dir(directory, STUDENT, flag="--model")
    for name in (STUDENT_MODEL_FILE, STUDENT_VOCAB_FILE, STUDENT_CONFIG_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            raise StudentDirectoryError(
                f"{os.path.join(directory, name)} is missing: not a student directory. Fix: "
                "point at a finished tools/distill_student.py --model_dir."
            )
    with open(os.path.join(directory, STUDENT_CONFIG_FILE)) as f:
        config = json.load(f)
    vocabulary = Vocabulary.load(os.path.join(directory, STUDENT_VOCAB_FILE), config["lower_case"])
    student = keras.saving.load_model(os.path.join(directory, STUDENT_MODEL_FILE))
    return student, vocabulary, config
