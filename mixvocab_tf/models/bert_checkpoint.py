"""Original Google BERT TensorFlow checkpoints <-> keras-hub `BertBackbone`.

A Google BERT release (e.g. `uncased_L-24_H-1024_A-16`, the paper's
BERT-LARGE teacher) is a directory with `bert_config.json`,
`bert_model.ckpt.index` + `bert_model.ckpt.data-*` and `vocab.txt`. Its
variables are named as in `google-research/bert/modeling.py`:

    bert/embeddings/{word,position,token_type}_embeddings
    bert/embeddings/LayerNorm/{gamma,beta}
    bert/encoder/layer_N/attention/self/{query,key,value}/{kernel,bias}
    bert/encoder/layer_N/attention/output/dense/{kernel,bias}
    bert/encoder/layer_N/attention/output/LayerNorm/{gamma,beta}
    bert/encoder/layer_N/intermediate/dense/{kernel,bias}
    bert/encoder/layer_N/output/dense/{kernel,bias}
    bert/encoder/layer_N/output/LayerNorm/{gamma,beta}
    bert/pooler/dense/{kernel,bias}
    cls/predictions/transform/dense/{kernel,bias}      (MLM head, optional)
    cls/predictions/transform/LayerNorm/{gamma,beta}
    cls/predictions/output_bias

Every tensor maps onto a keras-hub variable by a reshape only (attention
kernels are split per head in keras-hub). Optimizer slots (`adam_m`, `adam_v`),
`global_step` and the next-sentence head (`cls/seq_relationship`) are ignored.

Example:

>>> teacher = load_google_checkpoint("uncased_L-12_H-768_A-12")
>>> convert_bert_checkpoint("uncased_L-12_H-768_A-12", "bert_base_preset")
>>> teacher = mixvocab_tf.load_teacher("bert_base_preset")  # same outputs
"""

import glob
import json
import os
import re

import keras_hub
import numpy as np
import tensorflow as tf

from mixvocab_tf.models import teacher as teacher_lib

CHECKPOINT_PREFIX = "bert_model.ckpt"
HEAD_PREFIX = "cls/predictions/"

# bert_config.json fields the backbone needs.
_REQUIRED_CONFIG_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)


def load_google_checkpoint(checkpoint_dir):
    """Loads an original Google BERT checkpoint directory as a `Teacher`.

    The vocabulary is `vocab.txt`; lower-casing is inferred from it (an uncased
    vocabulary has no upper-case tokens). The MLM head is kept when the
    checkpoint has `cls/predictions/*`.

    Args:
      checkpoint_dir: a directory with `bert_config.json`, one checkpoint
        (`bert_model.ckpt.index` + `.data-*`, or any single `*.index`) and
        `vocab.txt`.

    Returns:
      A `Teacher` with `source_format="google_checkpoint"`.

    Raises:
      TeacherFileNotFoundError: a file is missing.
      TeacherLoadError: the files disagree (e.g. `bert_config.json` does not
        describe the checkpoint's shapes).
    """
    checkpoint_dir = os.path.abspath(os.fspath(checkpoint_dir))
    if not os.path.isdir(checkpoint_dir):
        raise teacher_lib.TeacherFileNotFoundError(
            f"Checkpoint directory {checkpoint_dir} does not exist. Fix: pass "
            "the unzipped Google BERT directory (bert_config.json, "
            "bert_model.ckpt.*, vocab.txt)."
        )
    config_path = os.path.join(checkpoint_dir, teacher_lib.GOOGLE_CONFIG_FILE)
    config = read_bert_config(config_path)
    prefix = find_checkpoint_prefix(checkpoint_dir)
    vocab_path = os.path.join(checkpoint_dir, teacher_lib.VOCAB_FILE)
    vocabulary = teacher_lib.read_vocabulary(vocab_path)
    teacher_lib.check_vocabulary_size(
        vocabulary, config["vocab_size"], vocab_path, config_path
    )
    reader = _open_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    has_head = any(name.startswith(HEAD_PREFIX) for name in shapes)
    expected = expected_shapes(config, with_head=has_head)
    _check_shapes(expected, shapes, prefix, config_path)
    # After the shape check, which names the likelier mistake (a wrong config).
    if config["hidden_size"] % config["num_attention_heads"]:
        raise teacher_lib.TeacherLoadError(
            f"{config_path}: hidden_size={config['hidden_size']} is not a "
            f"multiple of num_attention_heads={config['num_attention_heads']}. "
            "Fix: use the bert_config.json released with this checkpoint."
        )

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        dropout=float(config.get("hidden_dropout_prob", 0.1)),
        max_sequence_length=config.get("max_position_embeddings", 512),
        num_segments=config.get("type_vocab_size", 2),
    )
    head = None
    if has_head:
        head = teacher_lib.build_masked_lm_head(
            backbone,
            # Google's modeling.py computes "gelu" with the tanh approximation
            # and every LayerNorm with epsilon 1e-12.
            teacher_lib.GOOGLE_ACTIVATIONS[config.get("hidden_act", "gelu")],
            1e-12,
        )
    for name, variable in variable_map(backbone, head).items():
        variable.assign(np.reshape(reader.get_tensor(name), variable.shape))

    return teacher_lib.Teacher(
        backbone=backbone,
        vocabulary=vocabulary,
        lower_case=teacher_lib.infer_lower_case(vocabulary),
        masked_lm_head=head,
        source_format="google_checkpoint",
    )


def convert_bert_checkpoint(checkpoint_dir, output_dir, overwrite=False):
    """Converts a Google BERT checkpoint directory into a keras-hub preset.

    Writes `output_dir` atomically (built beside it, then renamed). With an MLM
    head the preset is a `keras_hub.models.BertMaskedLM` task preset plus
    `mlm_head_config.json` (see `Teacher.save_to_preset`); `load_teacher` reads
    it back to the same outputs.

    Args:
      checkpoint_dir: the Google BERT directory.
      output_dir: the keras-hub preset directory to create.
      overwrite: replace an existing `output_dir`.

    Returns:
      The converted `Teacher`.
    """
    teacher = load_google_checkpoint(checkpoint_dir)
    teacher.save_to_preset(output_dir, overwrite=overwrite)
    return teacher


def save_google_checkpoint(teacher, checkpoint_dir):
    """Writes a `Teacher` in the original Google BERT checkpoint format.

    The inverse of `load_google_checkpoint`: `bert_config.json`,
    `bert_model.ckpt.{index,data-00000-of-00001}` with the original variable
    names, and `vocab.txt`. Useful to hand a model to tools that read Google
    checkpoints, and to test the conversion.

    Args:
      teacher: a `Teacher` (its `masked_lm_head`, when set, becomes
        `cls/predictions/*`; it must use tanh GELU to mean the same thing).
      checkpoint_dir: the directory to write (created if needed).
    """
    backbone = teacher.backbone
    os.makedirs(checkpoint_dir, exist_ok=True)
    names, tensors = [], []
    for name, variable in variable_map(backbone, teacher.masked_lm_head).items():
        names.append(name)
        tensors.append(
            tf.reshape(
                tf.convert_to_tensor(variable),
                _google_shape(name, variable, backbone.hidden_dim),
            )
        )
    prefix = os.path.join(checkpoint_dir, CHECKPOINT_PREFIX)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=tensors,
    )
    config = {
        "attention_probs_dropout_prob": backbone.dropout,
        "hidden_act": "gelu",
        "hidden_dropout_prob": backbone.dropout,
        "hidden_size": backbone.hidden_dim,
        "initializer_range": 0.02,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "num_attention_heads": backbone.num_heads,
        "num_hidden_layers": backbone.num_layers,
        "type_vocab_size": backbone.num_segments,
        "vocab_size": backbone.vocabulary_size,
    }
    _write_text(
        os.path.join(checkpoint_dir, teacher_lib.GOOGLE_CONFIG_FILE),
        json.dumps(config, indent=2),
    )
    _write_text(
        os.path.join(checkpoint_dir, teacher_lib.VOCAB_FILE),
        "".join(token + "\n" for token in teacher.vocabulary),
    )


def read_bert_config(config_path):
    """Reads and checks `bert_config.json`."""
    if not os.path.isfile(config_path):
        raise teacher_lib.TeacherFileNotFoundError(
            f"{config_path} is missing. Fix: copy the bert_config.json released "
            "with this checkpoint into the directory."
        )
    config = teacher_lib.read_json(config_path)
    missing = [key for key in _REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise teacher_lib.TeacherLoadError(
            f"{config_path} lacks {missing}. Fix: use the bert_config.json "
            "released with this checkpoint."
        )
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act != "gelu":
        # keras-hub's BertBackbone hard-codes tanh GELU, BERT's activation.
        raise teacher_lib.TeacherLoadError(
            f"{config_path} has hidden_act={hidden_act!r}; keras-hub's "
            "BertBackbone implements only BERT's 'gelu'."
        )
    return config


def find_checkpoint_prefix(checkpoint_dir):
    """Returns the checkpoint prefix in `checkpoint_dir` (`.../bert_model.ckpt`)."""
    preferred = os.path.join(checkpoint_dir, CHECKPOINT_PREFIX)
    if os.path.isfile(preferred + ".index"):
        return preferred
    indexes = sorted(glob.glob(os.path.join(checkpoint_dir, "*.index")))
    if len(indexes) == 1:
        return indexes[0][: -len(".index")]
    if not indexes:
        raise teacher_lib.TeacherFileNotFoundError(
            f"{preferred}.index is missing (no *.index file in "
            f"{checkpoint_dir}). Fix: copy bert_model.ckpt.index and "
            "bert_model.ckpt.data-* of the release into the directory."
        )
    raise teacher_lib.TeacherLoadError(
        f"{checkpoint_dir} holds several checkpoints "
        f"{[os.path.basename(i) for i in indexes]}. Fix: keep one, or rename "
        f"the one to use to {CHECKPOINT_PREFIX}.*."
    )


def expected_shapes(config, with_head=False):
    """The Google variable shapes that `config` (bert_config.json) implies."""
    hidden = config["hidden_size"]
    inter = config["intermediate_size"]
    shapes = {
        "bert/embeddings/word_embeddings": (config["vocab_size"], hidden),
        "bert/embeddings/position_embeddings": (
            config.get("max_position_embeddings", 512),
            hidden,
        ),
        "bert/embeddings/token_type_embeddings": (
            config.get("type_vocab_size", 2),
            hidden,
        ),
        "bert/embeddings/LayerNorm/gamma": (hidden,),
        "bert/embeddings/LayerNorm/beta": (hidden,),
        "bert/pooler/dense/kernel": (hidden, hidden),
        "bert/pooler/dense/bias": (hidden,),
    }
    for i in range(config["num_hidden_layers"]):
        layer = f"bert/encoder/layer_{i}/"
        for part in ("query", "key", "value"):
            shapes[f"{layer}attention/self/{part}/kernel"] = (hidden, hidden)
            shapes[f"{layer}attention/self/{part}/bias"] = (hidden,)
        for dense, shape in (
            ("attention/output/dense", (hidden, hidden)),
            ("intermediate/dense", (hidden, inter)),
            ("output/dense", (inter, hidden)),
        ):
            shapes[f"{layer}{dense}/kernel"] = shape
            shapes[f"{layer}{dense}/bias"] = (shape[1],)
        for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[f"{layer}{norm}/gamma"] = (hidden,)
            shapes[f"{layer}{norm}/beta"] = (hidden,)
    if with_head:
        shapes.update(
            {
                "cls/predictions/transform/dense/kernel": (hidden, hidden),
                "cls/predictions/transform/dense/bias": (hidden,),
                "cls/predictions/transform/LayerNorm/gamma": (hidden,),
                "cls/predictions/transform/LayerNorm/beta": (hidden,),
                "cls/predictions/output_bias": (config["vocab_size"],),
            }
        )
    return shapes


def variable_map(backbone, masked_lm_head=None):
    """Maps each Google variable name onto its keras-hub variable.

    Args:
      backbone: a `keras_hub.models.BertBackbone`.
      masked_lm_head: an optional built `keras_hub.layers.MaskedLMHead`.

    Returns:
      A dict {google name: keras variable}; values convert by reshape only.
    """
    mapping = {
        "bert/embeddings/word_embeddings": backbone.token_embedding.embeddings,
        "bert/embeddings/position_embeddings": backbone.get_layer(
            "position_embedding"
        ).position_embeddings,
        "bert/embeddings/token_type_embeddings": backbone.get_layer(
            "segment_embedding"
        ).embeddings,
    }
    mapping.update(_norm("bert/embeddings/LayerNorm", backbone.get_layer(
        "embeddings_layer_norm")))
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attention = block._self_attention_layer
        layer = f"bert/encoder/layer_{i}/"
        mapping.update(_dense(f"{layer}attention/self/query", attention.query_dense))
        mapping.update(_dense(f"{layer}attention/self/key", attention.key_dense))
        mapping.update(_dense(f"{layer}attention/self/value", attention.value_dense))
        mapping.update(
            _dense(f"{layer}attention/output/dense", attention.output_dense)
        )
        mapping.update(
            _norm(f"{layer}attention/output/LayerNorm",
                  block._self_attention_layer_norm)
        )
        mapping.update(
            _dense(f"{layer}intermediate/dense",
                   block._feedforward_intermediate_dense)
        )
        mapping.update(
            _dense(f"{layer}output/dense", block._feedforward_output_dense)
        )
        mapping.update(
            _norm(f"{layer}output/LayerNorm", block._feedforward_layer_norm)
        )
    mapping.update(_dense("bert/pooler/dense", backbone.get_layer("pooled_dense")))
    if masked_lm_head is not None:
        mapping.update(
            _dense("cls/predictions/transform/dense",
                   masked_lm_head._intermediate_dense)
        )
        mapping.update(
            _norm("cls/predictions/transform/LayerNorm",
                  masked_lm_head._intermediate_layer_norm)
        )
        mapping["cls/predictions/output_bias"] = masked_lm_head._bias
    return mapping


def _dense(name, layer):
    return {f"{name}/kernel": layer.kernel, f"{name}/bias": layer.bias}


def _norm(name, layer):
    return {f"{name}/gamma": layer.gamma, f"{name}/beta": layer.beta}


def _google_shape(name, variable, hidden):
    """The Google shape of a variable: attention tensors are not split by head."""
    if re.search(r"attention/(self/\w+|output/dense)/kernel$", name):
        return (hidden, hidden)
    if re.search(r"attention/self/\w+/bias$", name):
        return (hidden,)
    return tuple(variable.shape)


def _open_checkpoint(prefix):
    if not glob.glob(prefix + ".data-*"):
        raise teacher_lib.TeacherFileNotFoundError(
            f"{prefix}.data-00000-of-00001 (the checkpoint's data file) is "
            f"missing beside {os.path.basename(prefix)}.index. Fix: copy every "
            f"{os.path.basename(prefix)}.data-* file of the release into the "
            "directory."
        )
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        what = f"Checkpoint {prefix}.index / .data-* cannot be read"
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise teacher_lib.TeacherLoadError(
            f"{what} ({type(error).__name__}: {first_line}). Fix: copy the "
            "complete checkpoint (index and data files) of the release."
        ) from error


def _check_shapes(expected, shapes, prefix, config_path):
    for name, shape in expected.items():
        if name not in shapes:
            raise teacher_lib.TeacherLoadError(
                f"Checkpoint {prefix} has no variable {name!r}, which "
                f"{config_path} implies. Fix: use the bert_config.json of this "
                "checkpoint (or a complete original BERT checkpoint)."
            )
        if tuple(shapes[name]) != tuple(shape):
            raise teacher_lib.TeacherLoadError(
                f"Shape mismatch: checkpoint {prefix} has {name} of shape "
                f"{tuple(shapes[name])} but {config_path} implies {tuple(shape)}"
                f" ({_describe_checkpoint(shapes)}). Fix: use the "
                "bert_config.json released with this checkpoint."
            )


def _describe_checkpoint(shapes):
    """The sizes a checkpoint's shapes imply, for error messages."""
    parts = []
    embeddings = shapes.get("bert/embeddings/word_embeddings")
    if embeddings:
        parts.append(f"vocab_size={embeddings[0]}, hidden_size={embeddings[1]}")
    layers = {
        int(m.group(1))
        for name in shapes
        if (m := re.match(r"bert/encoder/layer_(\d+)/", name))
    }
    if layers:
        parts.append(f"num_hidden_layers={max(layers) + 1}")
    inter = shapes.get("bert/encoder/layer_0/intermediate/dense/kernel")
    if inter:
        parts.append(f"intermediate_size={inter[1]}")
    return "the checkpoint has " + ", ".join(parts) if parts else "unknown sizes"


def _write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
