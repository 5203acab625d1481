"""A Stage I export folder: write and read the mixed-vocabulary teacher and both vocabularies.

`teacher.keras` (the `MixedVocabTeacher`), `teacher_vocab.txt`, `student_vocab.txt` and
`stage1_config.json`; Stage II and task distillation read it with `load_stage1`.
"""

import json
import os

import keras

from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.model_dirs import STAGE1
from mixvocab_tf.model_dirs import resolve_model_dir
from mixvocab_tf.models import mixed_vocab_teacher  # noqa: F401 (registers the model class)
from mixvocab_tf.vocab.vocabulary import Vocabulary

MODEL_FILE = "teacher.keras"
TEACHER_VOCAB_FILE = "teacher_vocab.txt"
STUDENT_VOCAB_FILE = "student_vocab.txt"
CONFIG_FILE = "stage1_config.json"


class Stage1Error(ValueError):
    """A Stage I directory is missing or inconsistent."""


def save_stage1(directory, model, teacher_vocabulary, student_vocabulary, config):
    """Writes a Stage I export into `directory` (a fresh folder the caller renames)."""
    model.save(os.path.join(directory, MODEL_FILE))
    teacher_vocabulary.save(os.path.join(directory, TEACHER_VOCAB_FILE))
    student_vocabulary.save(os.path.join(directory, STUDENT_VOCAB_FILE))
    write_json_atomic(os.path.join(directory, CONFIG_FILE), config)


class Stage1Teacher:
    """A loaded Stage I export: the model and both vocabularies."""

    def __init__(self, model, teacher_vocabulary, student_vocabulary, config):
        self.model = model
        self.teacher_vocabulary = teacher_vocabulary
        self.student_vocabulary = student_vocabulary
        self.config = config


def load_stage1(directory):
    """Loads a Stage I export (`model_dir` or `model_dir/export`).

    Raises:
      Stage1Error: when files are missing or the vocabularies disagree with the model.
      model_dirs.ModelDirError: the folder holds another kind of model or is an
        unfinished run.
    """
    directory = resolve_model_dir(directory, STAGE1, flag="--teacher_dir")
    needed = [MODEL_FILE, TEACHER_VOCAB_FILE, STUDENT_VOCAB_FILE, CONFIG_FILE]
    for name in needed:
        if not os.path.isfile(os.path.join(directory, name)):
            raise Stage1Error(
                f"{os.path.join(directory, name)} is missing: {directory} is not a finished "
                "Stage I directory. Fix: point at a tools/train_teacher.py --model_dir whose "
                "run completed."
            )
    with open(os.path.join(directory, CONFIG_FILE)) as f:
        config = json.load(f)
    lower_case = config["lower_case"]
    teacher_vocabulary = Vocabulary.load(os.path.join(directory, TEACHER_VOCAB_FILE), lower_case)
    student_vocabulary = Vocabulary.load(os.path.join(directory, STUDENT_VOCAB_FILE), lower_case)
    model = keras.saving.load_model(os.path.join(directory, MODEL_FILE))
    if model.student_vocabulary_size != student_vocabulary.size:
        raise Stage1Error(
            f"{directory}: the teacher has {model.student_vocabulary_size} student tokens but "
            f"student_vocab.txt has {student_vocabulary.size}. Fix: rerun Stage I."
        )
    return Stage1Teacher(model, teacher_vocabulary, student_vocabulary, config)
