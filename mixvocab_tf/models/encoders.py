"""Loads the encoder a task is fine-tuned from: a Stage II student or any teacher.

Example:
>>> backbone, vocabulary, lower_case = load_encoder("runs/stage2")   # a Stage II run folder
>>> backbone, vocabulary, lower_case = load_encoder(minilm_path)      # a teacher
"""

import json
import os

import keras

from mixvocab_tf.model_dirs import STUDENT
from mixvocab_tf.model_dirs import resolve_model_dir
from mixvocab_tf.models import pretrained
from mixvocab_tf.models.student_directory import STUDENT_CONFIG_FILE
from mixvocab_tf.models.student_directory import STUDENT_MODEL_FILE
from mixvocab_tf.models.student_directory import STUDENT_VOCAB_FILE
from mixvocab_tf.models.student_directory import is_student_dir
from mixvocab_tf.models.student_directory import read_vocabulary
from mixvocab_tf.models.teacher_loading import load_teacher



def load_encoder(model_path):
    """Loads an encoder to fine-tune.

    Args:
      model_path: a Stage II student directory (`student.keras`, `vocab.txt`,
        `config.json` with "lower_case"), the Stage II run folder holding it in `export/`
        (`tools/distill_student.py --model_dir`), a published student's name (e.g.
        `"6x128"`, see `mixvocab_tf.models.pretrained`) or folder, or any teacher directory
        `load_teacher` reads (Hugging Face, keras-hub preset, Google BERT checkpoint).

    Returns:
      (backbone, vocabulary, lower_case): a Keras model on {"token_ids", "segment_ids",
      "padding_mask"} returning "sequence_output" and "pooled_output"; its token list; and
      whether its text is lower-cased (and accent-stripped).

    Raises:
      FileNotFoundError: the path does not exist or a student file is missing.
      model_dirs.ModelDirError: the path holds a Stage I teacher or a task model, or is an
        unfinished run folder.
    """
    model_path = os.fspath(model_path)
    # A published student (pretrained/<name>, float16 weights) loads by name or folder.
    if pretrained.names_published_student(model_path):
        student, vocabulary, config = pretrained.load_student(model_path)
        return student, list(vocabulary.tokens), bool(config["lower_case"])
    if not os.path.exists(model_path):
        raise FileNotFoundError(
            f"--model {model_path} does not exist. Fix: pass a Stage II student directory "
            "(student.keras, vocab.txt, config.json) or a teacher directory.")
    # A Stage II run folder reads as its export/; a teacher directory comes back as it is.
    model_path = resolve_model_dir(model_path, STUDENT, flag="--model")
    if is_student_dir(model_path):
        for name in (STUDENT_VOCAB_FILE, STUDENT_CONFIG_FILE):
            if not os.path.isfile(os.path.join(model_path, name)):
                raise FileNotFoundError(
                    f"student directory {model_path} lacks {name}; it is written by the "
                    "distillation tool next to student.keras.")
        with open(os.path.join(model_path, STUDENT_CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
        backbone = keras.saving.load_model(
            os.path.join(model_path, STUDENT_MODEL_FILE), compile=False)
        vocabulary = read_vocabulary(os.path.join(model_path, STUDENT_VOCAB_FILE))
        return backbone, vocabulary, bool(config.get("lower_case", True))
    teacher = load_teacher(model_path)
    return teacher.backbone, list(teacher.vocabulary), bool(teacher.lower_case)
