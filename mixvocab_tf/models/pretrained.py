"""Pre-distilled students: publish, load by name, and write as keras-hub presets.

A published student is a folder (committed under the repository's `pretrained/`,
one folder a name such as `6x128`) of small files:

- `weights.npz`: the `StudentEncoder` weights as float16 (halves the size: a
  12x128 student with a 5K vocabulary is about 6 MB instead of 12), in
  `student.weights` order, with `weight_names` in the config to check them;
- `config.json`: `"format"`, the encoder's shape (`"encoder"`), `"lower_case"`,
  `"sequence_length"` and the provenance (teacher, corpora, steps, metrics);
- `vocab.txt`: the student vocabulary;
- `MODEL_CARD.md`: what it is, how it was made, how it scores, its limits.

Loading rebuilds a float32 `StudentEncoder` from the config and the float16
weights, so fine-tuning runs in float32 as from a Stage II directory.

Example:

>>> student, vocabulary, config = mixvocab_tf.load_student("6x128")  # doctest: +SKIP
>>> # tools/finetune.py --model=6x128 reads the same student.
>>> write_keras_hub_preset("6x128", "/tmp/student_preset")  # doctest: +SKIP
>>> keras_hub.models.BertTextClassifier.from_preset("/tmp/student_preset", num_classes=2)
"""

import hashlib
import json
import os

import h5py
import keras
import keras_hub
import numpy as np

from mixvocab_tf.models.student_directory import load_student_directory
from mixvocab_tf.paths import REPO_ROOT
from mixvocab_tf.models.student_directory import save_student_directory
from mixvocab_tf.file_io import write_directory_atomic
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.file_io import write_text_atomic
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.vocab.vocabulary import Vocabulary

FORMAT = "mixvocab_tf.pretrained_student/1"
WEIGHTS_FILE = "weights.npz"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
CARD_FILE = "MODEL_CARD.md"
# Every committed file stays below this (the repository's limit for weights).
MAX_FILE_BYTES = 10 * 1024 * 1024
_ENCODER_KEYS = ("vocabulary_size", "num_layers", "hidden_dim", "num_heads", "intermediate_dim",
                 "embedding_dim", "max_sequence_length", "num_segments")


class PretrainedStudentError(ValueError):
    """A pretrained student name or folder cannot be read."""


def pretrained_root():
    """The folder of committed students: `$MIXVOCAB_PRETRAINED` or the repository's `pretrained/`."""
    env = os.environ.get("MIXVOCAB_PRETRAINED")
    if env:
        return env
    return os.path.join(REPO_ROOT, "pretrained")


def available_students(root=None):
    """Names of the published students under `root` (default `pretrained_root()`), sorted."""
    root = root or pretrained_root()
    if not os.path.isdir(root):
        return []
    return sorted(name for name in os.listdir(root)
                  if os.path.isfile(os.path.join(root, name, CONFIG_FILE))
                  and os.path.isfile(os.path.join(root, name, WEIGHTS_FILE)))


def is_pretrained_dir(path):
    """Whether `path` is a published student folder (not a Stage II directory)."""
    path = os.fspath(path)
    return os.path.isfile(os.path.join(path, WEIGHTS_FILE)) and os.path.isfile(
        os.path.join(path, CONFIG_FILE))


def names_published_student(name_or_path):
    """Whether `name_or_path` is a published student folder, or the name of one under
    `pretrained_root()` that is not also an existing path (a local folder wins)."""
    path = os.fspath(name_or_path)
    return is_pretrained_dir(path) or (not os.path.exists(path)
                                       and path in available_students())


def resolve_student(name_or_path):
    """The folder of a published student: an existing folder as it is, else a name under
    `pretrained_root()`.

    Raises:
      PretrainedStudentError: neither, naming the published students and the fix.
    """
    path = os.fspath(name_or_path)
    if is_pretrained_dir(path):
        return path
    candidate = os.path.join(pretrained_root(), path)
    if os.sep not in path and is_pretrained_dir(candidate):
        return candidate
    names = available_students()
    listed = ", ".join(names) if names else "none is committed yet"
    raise PretrainedStudentError(
        f"{path!r} is neither a published student folder ({WEIGHTS_FILE}, {CONFIG_FILE}, "
        f"{VOCAB_FILE}) nor a name under {pretrained_root()} (published: {listed}). Fix: pass "
        "one of those names, or publish a Stage II student with tools/publish_student.py.")


def load_student(name_or_path):
    """Loads a published student as a float32 `StudentEncoder`.

    Args:
      name_or_path: a name under `pretrained/` (e.g. `"6x128"`) or a published folder.

    Returns:
      `(student, vocabulary, config)`: the `StudentEncoder`, its `Vocabulary` and the
      folder's config dict (with `"lower_case"` and `"sequence_length"`).

    Raises:
      PretrainedStudentError: unknown name, wrong format or weights that do not fit.
    """
    path = resolve_student(name_or_path)
    with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("format") != FORMAT:
        raise PretrainedStudentError(
            f"{path}/{CONFIG_FILE} has format {config.get('format')!r}, not {FORMAT!r}. Fix: "
            "republish it with this version's tools/publish_student.py.")
    student = StudentEncoder(**config["encoder"])
    with np.load(os.path.join(path, WEIGHTS_FILE)) as arrays:
        values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    shapes = [tuple(v.shape) for v in student.weights]
    if [tuple(v.shape) for v in values] != shapes or len(values) != len(shapes):
        raise PretrainedStudentError(
            f"{path}/{WEIGHTS_FILE} holds {len(values)} arrays that do not fit the encoder of "
            f"{CONFIG_FILE} ({len(shapes)} weights). Fix: republish the folder.")
    student.set_weights([v.astype("float32") for v in values])
    vocabulary = Vocabulary.load(os.path.join(path, VOCAB_FILE), config["lower_case"])
    if vocabulary.size != student.vocabulary_size:
        raise PretrainedStudentError(
            f"{path}/{VOCAB_FILE} has {vocabulary.size} tokens, the encoder "
            f"{student.vocabulary_size}. Fix: republish the folder.")
    return student, vocabulary, config


def student_directory(name_or_path, cache_dir=None):
    """A Stage II-format student directory (`student.keras`, `vocab.txt`, `config.json`)
    of a published student, written once into a cache, for every tool that reads one.

    Args:
      name_or_path: as in `load_student`.
      cache_dir: where to write (default `$MIXVOCAB_CACHE` or `~/.cache/mixvocab_tf`).

    Returns:
      The directory path.
    """
    path = resolve_student(name_or_path)
    with open(os.path.join(path, CONFIG_FILE), "rb") as f:
        digest = hashlib.sha256(f.read())
    with open(os.path.join(path, WEIGHTS_FILE), "rb") as f:
        digest.update(f.read())
    cache_dir = cache_dir or os.environ.get("MIXVOCAB_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "mixvocab_tf")
    target = os.path.join(cache_dir, "pretrained",
                          f"{os.path.basename(os.path.abspath(path))}-{digest.hexdigest()[:12]}")
    if not os.path.isfile(os.path.join(target, "student.keras")):
        student, vocabulary, config = load_student(path)
        stage2_config = {k: v for k, v in config.items() if k not in ("encoder", "weight_names")}
        stage2_config["pretrained"] = os.path.abspath(path)
        write_directory_atomic(
            target, lambda staging: save_student_directory(staging, student, vocabulary,
                                                           stage2_config),
            keep_existing=True)
    return target


def model_card(config):
    """The text of `MODEL_CARD.md` for a published student's config."""
    encoder = config["encoder"]
    provenance = config.get("provenance", {})
    student_config = provenance.get("stage2_config", {})
    subcloning = student_config.get("subcloning")
    distilled = bool(student_config.get("sentence_embedding_distillation"))
    if subcloning:
        how = ("(the word-embedding table and the layers subcloned from the teacher's most "
               "important neurons, Samragh et al. 2023"
               + ("; then sentence-embedding distillation toward the teacher's mean-pooled "
                  "vectors)" if distilled else ")"))
        sample = subcloning.get("sample_sentences")
        start_row = ("| start | weight subcloning: the teacher's most important residual "
                     "dimensions, heads and feed-forward units"
                     + (f", measured on {sample:,} sentences" if sample else "") + " |")
    else:
        how = ("(the word-embedding table by mixed-vocabulary training, Zhao et al., EACL 2021; "
               "the layers by sentence-embedding distillation toward the teacher's mean-pooled "
               "vectors)" if distilled else
               "by mixed-vocabulary training (Zhao et al., EACL 2021)")
        start_row = (f"| Stage I / Stage II steps | {provenance.get('stage1_steps', '?')} / "
                     f"{provenance.get('stage2_steps', '?')} |")
    lines = [
        f"# mixvocab-tf student `{config['name']}`",
        "",
        f"A {encoder['num_layers']}-layer, {encoder['hidden_dim']}-hidden BERT encoder "
        f"({encoder['num_heads']} heads, feed-forward {encoder['intermediate_dim']}) with a "
        f"{encoder['vocabulary_size']:,}-token WordPiece vocabulary "
        f"({'uncased' if config['lower_case'] else 'cased'}), distilled from a pretrained BERT "
        + how + ". A general encoder: fine-tune it on a task.",
        "",
        "| | |",
        "|---|---|",
        f"| parameters | {config['parameters']:,} |",
        f"| weights | float16, {config['weights_bytes'] / 1e6:.2f} MB ({WEIGHTS_FILE}) |",
        f"| sequence length trained at | {config['sequence_length']} |",
        f"| teacher | {provenance.get('teacher', 'not recorded')} |",
        f"| corpora | {', '.join(provenance.get('corpora', [])) or 'not recorded'} |",
        start_row,
        *_sentence_embedding_rows(student_config),
        "",
        "## Use",
        "",
        "```python",
        "import mixvocab_tf",
        f'student, vocabulary, config = mixvocab_tf.load_student("{config["name"]}")',
        "```",
        "",
        f"`tools/finetune.py --model={config['name']} --task=...` fine-tunes it; "
        f"`mixvocab_tf.write_keras_hub_preset(\"{config['name']}\", dir)` writes a keras-hub "
        "`BertBackbone` + `BertTokenizer` preset for `keras_hub.models.BertTextClassifier."
        "from_preset(dir, num_classes=...)`.",
        "",
        "## Evaluation",
        "",
    ]
    evaluation = config.get("evaluation") or {}
    if evaluation:
        lines += ["| task | metric | score |", "|---|---|---:|"]
        for task, scores in sorted(evaluation.items()):
            for metric, value in sorted(scores.items()):
                lines.append(f"| {task} | {metric} | {value} |")
    else:
        lines.append("Not evaluated yet.")
    lines += [
        "",
        "## Recipe",
        "",
        *(["```", provenance["recipe"], "```"] if provenance.get("recipe") else ["Not recorded."]),
        "",
        "## Limitations",
        "",
        "English only; trained on the corpora above and inherits their biases; a small model "
        "that trails its teacher on every task. Weights are stored as float16 (loaded as "
        "float32), which moves outputs by about 1e-3.",
        "",
        "## Licence",
        "",
        config.get("license", "Apache-2.0 (code); see the teacher's and the corpora's terms."),
        "",
    ]
    return "\n".join(lines)


def _sentence_embedding_rows(student_config):
    """Model-card rows of the sentence-embedding stage, when the student had one."""
    record = student_config.get("sentence_embedding_distillation")
    if not record:
        return []
    final = record.get("final_metrics", {})
    cosine = final.get("val_cosine")
    return [
        f"| sentence-embedding distillation | {record['sentences']:,} corpus sentences, "
        f"{record['epochs']} epoch(s), {record['train_steps']:,} steps, toward the teacher's "
        "mean-pooled vectors |",
        f"| held-out cosine to the teacher | {record['held_out_cosine_start']:.3f} before, "
        f"{cosine:.3f} after |" if cosine is not None else
        f"| held-out cosine to the teacher | {record['held_out_cosine_start']:.3f} before |",
    ]


def portable_paths(value):
    """`value` with every absolute path cut to what means something on another machine: an
    installed package's path from the package on, others to their last two parts (the run
    folders of the machine that trained a student are not shipped with it).

    Example:
    >>> portable_paths({"teacher": "/v/lib/python3.11/site-packages/gt_x/model", "n": 3})
    {'teacher': 'gt_x/model', 'n': 3}
    """
    if isinstance(value, dict):
        return {key: portable_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [portable_paths(item) for item in value]
    if isinstance(value, str) and os.path.isabs(value):
        marker = "site-packages" + os.sep
        if marker in value:
            return value.split(marker, 1)[1]
        return os.path.join(*value.rstrip(os.sep).split(os.sep)[-2:])
    return value


def publish_student(student_dir, output_dir, name, provenance=None, evaluation=None,
                    license=None):
    """Writes a published student folder from a Stage II student directory, atomically.

    Args:
      student_dir: a Stage II student directory or run folder (`load_student_directory`).
      output_dir: the folder to write (e.g. `pretrained/6x128`).
      name: the name users load it by (the folder's base name by convention).
      provenance: a dict for the card: `teacher`, `corpora` (list), `stage1_steps`,
        `stage2_steps`, `recipe` (the commands).
      evaluation: `{task: {metric: score}}` for the card.
      license: the card's licence line.

    Returns:
      The config dict written.

    Raises:
      PretrainedStudentError: a file would exceed 10 MB (the fix: a smaller student).
    """
    student, vocabulary, stage2 = load_student_directory(student_dir)
    values = [np.asarray(keras.ops.convert_to_numpy(v), dtype="float16") for v in student.weights]
    student_config = student.get_config()
    config = {
        "format": FORMAT,
        "name": name,
        "encoder": {key: student_config[key] for key in _ENCODER_KEYS},
        "lower_case": bool(stage2["lower_case"]),
        "sequence_length": stage2.get("sequence_length", 128),
        "parameters": int(student.count_params()),
        "weight_names": [v.path for v in student.weights],
        "provenance": dict(provenance or {}, stage2_config=portable_paths(stage2)),
        "evaluation": evaluation or {},
    }
    if license:
        config["license"] = license

    def write(staging):
        weights_path = os.path.join(staging, WEIGHTS_FILE)
        np.savez(weights_path, *values)
        config["weights_bytes"] = os.path.getsize(weights_path)
        vocabulary.save(os.path.join(staging, VOCAB_FILE))
        write_json_atomic(os.path.join(staging, CONFIG_FILE), config)
        write_text_atomic(os.path.join(staging, CARD_FILE), model_card(config))
        for file_name in os.listdir(staging):
            size = os.path.getsize(os.path.join(staging, file_name))
            if size > MAX_FILE_BYTES:
                raise PretrainedStudentError(
                    f"{file_name} would be {size / 1e6:.1f} MB, over the 10 MB limit. Fix: "
                    "publish a smaller student (fewer layers, a narrower hidden size).")

    write_directory_atomic(output_dir, write)
    return config


def write_keras_hub_preset(name_or_path, preset_dir, sequence_length=None, float16=True):
    """Writes a published student as a keras-hub `BertBackbone` + `BertTokenizer` preset.

    The student has `BertBackbone`'s architecture (same layers, names and tanh-GELU), so
    its weights are copied as they are; `keras_hub.models.BertTextClassifier.from_preset
    (preset_dir, num_classes=...)` then builds a classifier on it in plain keras-hub code.

    Args:
      name_or_path: a published student (name or folder), or a Stage II student
        directory.
      preset_dir: the preset folder to write (atomically).
      sequence_length: the preprocessor's length (default: the student's training length).
      float16: store the weights file as float16 (the backbone still loads as float32);
        keeps a 12x128 preset under 10 MB.

    Returns:
      The preset directory.

    Raises:
      PretrainedStudentError: a factorised-embedding student (no `BertBackbone`
        equivalent).
    """
    if is_pretrained_dir(name_or_path) or not os.path.isdir(os.fspath(name_or_path)):
        student, vocabulary, config = load_student(name_or_path)
    else:
        student, vocabulary, config = load_student_directory(name_or_path)
    if student.embedding_dim not in (None, student.hidden_dim):
        raise PretrainedStudentError(
            f"The student has a factorised embedding ({student.embedding_dim} -> "
            f"{student.hidden_dim}); keras-hub's BertBackbone has none. Fix: distil with "
            "--student_embedding_dim equal to the hidden size.")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=student.vocabulary_size,
        num_layers=student.num_layers,
        num_heads=student.num_heads,
        hidden_dim=student.hidden_dim,
        intermediate_dim=student.intermediate_dim,
        dropout=student.dropout,
        max_sequence_length=student.max_sequence_length,
        num_segments=student.num_segments,
    )
    backbone.set_weights(student.get_weights())
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=list(vocabulary.tokens), lowercase=bool(config["lower_case"]))
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length or config.get("sequence_length", 128))

    def write(staging):
        backbone.save_to_preset(staging)
        preprocessor.save_to_preset(staging)
        if float16:
            _weights_to_float16(os.path.join(staging, "model.weights.h5"))

    write_directory_atomic(preset_dir, write)
    return preset_dir


def _weights_to_float16(path):
    """Rewrites a Keras weights file with every float32 array stored as float16.

    Keras assigns stored values to the variables it builds (float32 from the
    config), so the file halves and the model loads unchanged but for rounding.
    The arrays are copied into a new file (HDF5 does not reclaim the space of
    arrays deleted in place, which left the file at its float32 size).
    """
    staging = path + ".float16"
    with h5py.File(path, "r") as source, h5py.File(staging, "w") as target:
        for key, value in source.attrs.items():
            target.attrs[key] = value

        def copy(name, item):
            if isinstance(item, h5py.Group):
                copied = target.require_group(name)
            else:
                value = item[()]
                if item.dtype == np.float32:
                    value = value.astype("float16")
                copied = target.create_dataset(name, data=value)
            for key, attr in item.attrs.items():
                copied.attrs[key] = attr

        source.visititems(copy)
    os.replace(staging, path)
