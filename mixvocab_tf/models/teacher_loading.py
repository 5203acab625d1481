"""`load_teacher`: a pretrained BERT teacher from any of its three directory formats.

Hugging Face (`config.json` + `model.safetensors` + `vocab.txt`), a keras-hub preset, or an
original Google BERT checkpoint (`bert_config.json` + `bert_model.ckpt.*` + `vocab.txt`); see
`models/teacher.py` for what each holds and how the masked-LM head is rebuilt.
"""

import os

from mixvocab_tf.models.bert_checkpoint import load_google_checkpoint
from mixvocab_tf.models.teacher import GOOGLE_CONFIG_FILE
from mixvocab_tf.models.teacher import HF_CONFIG_FILE
from mixvocab_tf.models.teacher import TeacherFileNotFoundError
from mixvocab_tf.models.teacher import TeacherLoadError
from mixvocab_tf.models.teacher import load_huggingface
from mixvocab_tf.models.teacher import load_keras_hub_preset
from mixvocab_tf.models.teacher import read_json


def load_teacher(path):
    """Loads a pretrained BERT teacher from a local directory.

    Args:
      path: a Hugging Face BERT directory, a keras-hub preset directory or an
        original Google BERT checkpoint directory (see the module docstring).

    Returns:
      A `Teacher`.

    Raises:
      TeacherFileNotFoundError: a file the format needs is missing.
      TeacherLoadError: the directory is not a BERT teacher or its files
        disagree (the message names the file and the fix).

    Example:

    >>> teacher = load_teacher("/path/to/all-MiniLM-L6-v2")
    >>> teacher.backbone.hidden_dim, teacher.lower_case, len(teacher.vocabulary)
    (384, True, 30522)
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise TeacherFileNotFoundError(
            f"Teacher directory {path} does not exist. Fix: pass a Hugging Face "
            "BERT directory, a keras-hub preset directory or a Google BERT "
            "checkpoint directory."
        )
    if not os.path.isdir(path):
        raise TeacherLoadError(
            f"{path} is a file; load_teacher expects a directory. Fix: pass the "
            "directory that holds it."
        )
    source_format = detect_format(path)
    if source_format == "google_checkpoint":
        return load_google_checkpoint(path)
    if source_format == "keras_hub":
        return load_keras_hub_preset(path)
    return load_huggingface(path)


def detect_format(path):
    """Returns the format of a teacher directory (one of `SOURCE_FORMATS`).

    Raises:
      TeacherLoadError: when the directory holds none of the formats.
    """
    config_path = os.path.join(path, HF_CONFIG_FILE)
    if os.path.isfile(config_path):
        config = read_json(config_path)
        if "class_name" in config and "module" in config:
            return "keras_hub"
        if "hidden_size" in config or "model_type" in config:
            return "huggingface"
        raise TeacherLoadError(
            f"{config_path} is neither a Hugging Face config (no `hidden_size` "
            "or `model_type`) nor a keras-hub config (no `class_name` and "
            "`module`). Fix: pass a BERT teacher directory."
        )
    if os.path.isfile(os.path.join(path, GOOGLE_CONFIG_FILE)):
        return "google_checkpoint"
    found = sorted(os.listdir(path))[:10]
    raise TeacherLoadError(
        f"{path} is not a BERT teacher directory: it has no {HF_CONFIG_FILE} "
        f"(Hugging Face or keras-hub) and no {GOOGLE_CONFIG_FILE} (Google BERT "
        f"checkpoint); found {found}. Fix: pass a directory with config.json + "
        "model.safetensors + vocab.txt, a keras-hub preset, or bert_config.json "
        "+ bert_model.ckpt.* + vocab.txt."
    )
