"""The absl flags every training binary shares (Stage I and Stage II)."""

import dataclasses
import types
import typing

from absl import flags

from mixvocab_tf.training.strategy import STRATEGIES

_NAMES = (
    "train_files",
    "eval_files",
    "model_dir",
    "sequence_length",
    "batch_size",
    "train_steps",
    "steps_per_loop",
    "eval_steps",
    "learning_rate",
    "warmup_fraction",
    "masking_rate",
    "max_predictions",
    "pack_lines",
    "strategy",
    "mixed_precision",
    "seed",
)


def define_training_flags(learning_rate):
    """Defines the shared flags; `learning_rate` is the binary's default."""
    flags.DEFINE_list("train_files", None, "Text files or globs, one document or sentence a line.")
    flags.DEFINE_list("eval_files", None, "Held-out text files or globs for per-loop evaluation.")
    flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, logs, flags.json, export/.")
    flags.DEFINE_integer("sequence_length", 128, "Tokens per sequence, [CLS] and [SEP] included.")
    flags.DEFINE_integer("batch_size", 32, "Global batch size (split over replicas).")
    flags.DEFINE_integer("train_steps", 10_000, "Optimizer steps.")
    flags.DEFINE_integer("steps_per_loop", 500, "Steps between checkpoints and evaluations.")
    flags.DEFINE_integer("eval_steps", 20, "Evaluation batches per loop.")
    flags.DEFINE_float("learning_rate", learning_rate, "Peak AdamW learning rate.")
    flags.DEFINE_float("warmup_fraction", 0.1, "Share of steps in linear warm-up.")
    flags.DEFINE_float("masking_rate", 0.15, "Share of tokens masked for the MLM.")
    flags.DEFINE_integer("max_predictions", 20, "Most masked tokens per sequence.")
    flags.DEFINE_bool("pack_lines", True, "Join consecutive lines of a file into sequences of "
                      "about --sequence_length tokens, as BERT's pretraining data; "
                      "--nopack_lines: one line a sequence, padded.")
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
    flags.DEFINE_enum(
        "mixed_precision", None, ["mixed_float16", "mixed_bfloat16"], "Mixed-precision policy."
    )
    flags.DEFINE_integer("seed", 0, "Seed for masking, word choices and shuffling.")


def training_kwargs(flag_values):
    """The shared flags as keyword arguments of the stage runners."""
    return {name: flag_values[name].value for name in _NAMES}


_SENTENCE_HEAD_NAMES = ("pooling", "ngram_bag_buckets", "ngram_bag_dim")


def define_sentence_head_flags():
    """Flags of the (pair) classification sentence vector, shared by the task binaries."""
    flags.DEFINE_enum(
        "pooling", "auto", ["auto", "mean", "cls", "ngram"],
        "Classification sentence vector: 'ngram', the masked mean of the sequence output plus "
        "max-pooled 2- and 3-token convolutions (on the 6x128 student +2.5 on SST-2 and +3.3 "
        "on BANKING77 10-shot over 'mean'; README); 'mean' (how sentence-transformers "
        "teachers were trained); 'cls', the pooled [CLS] output; 'auto': ngram for a student, "
        "mean for a teacher.")
    flags.DEFINE_integer(
        "ngram_bag_buckets", 0,
        "(Pair) classification: rows of a hashed bag of word-piece uni- and bigrams added "
        "beside the sentence vector (a prime above the vocabulary size, e.g. 65521; "
        "within noise of --pooling=ngram alone on SST-2 and BANKING77, README); 0 for none.")
    flags.DEFINE_integer("ngram_bag_dim", 32, "Width of the n-gram bag's vectors.")


def sentence_head_kwargs(flag_values):
    """The sentence-vector flags as keyword arguments of finetune / distill_task."""
    return {name: flag_values[name].value for name in _SENTENCE_HEAD_NAMES}


def config_field(default, help, choices=None):  # noqa: A002 (absl's word)
    """A config dataclass field with its flag help (and its choices, for an enum flag).

    Example:
    >>> pooling: str = config_field("auto", "Sentence vector.", choices=("auto", "mean"))
    """
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if isinstance(default, (list, dict, set)):
        raise TypeError("a config default must be immutable: use a tuple.")
    return dataclasses.field(default=default, metadata=metadata)


def _flag_type(annotation):
    """The flag type of a field's annotation: bool, int, float, str, tuple or a dataclass."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):  # Optional[X] / X | None
        return _flag_type(args[0])
    if origin is tuple or annotation is tuple:
        return tuple
    if annotation in (bool, int, float, str):
        return annotation
    raise TypeError(f"no flag type for {annotation!r}")


def _fields(config_class):
    hints = typing.get_type_hints(config_class)
    return [(field, _flag_type(hints[field.name])) for field in dataclasses.fields(config_class)]


def _default(field, instance):
    if instance is not None:
        return getattr(instance, field.name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def define_config_flags(config_class, prefix="", flag_values=flags.FLAGS, skip=(),
                        defaults=None):
    """Defines an absl flag for each field of a frozen config dataclass.

    Each field's default and help (`metadata["help"]`) are written once, in the dataclass;
    the flag is named `prefix + field name` and typed by the field's annotation: bool, int,
    float, str (an enum flag where `metadata["choices"]` is given), a tuple of str (a list
    flag) or `Optional` of one. A field that is itself a config dataclass (nested, e.g. the
    training settings of a stage) defines its fields' flags with the same prefix.

    Args:
      config_class: a dataclass type.
      prefix: put before every flag name.
      flag_values: the absl `FlagValues` to define into.
      skip: field names that get no flag (the binary defines or fixes them itself).
      defaults: an instance whose values are the flags' defaults (default: the fields'
        defaults); a nested config's defaults are its parent's `default_factory()` instance,
        so Stage I and Stage II can nest one `TrainingConfig` with different learning rates.

    Example:
    >>> define_config_flags(TransferTextConfig, prefix="transfer_")
    >>> config = config_from_flags(TransferTextConfig, FLAGS, prefix="transfer_")
    """
    definers = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                float: flags.DEFINE_float, str: flags.DEFINE_string, tuple: flags.DEFINE_list}
    for field, flag_type in _fields(config_class):
        if field.name in skip:
            continue
        default = _default(field, defaults)
        if dataclasses.is_dataclass(flag_type):
            define_config_flags(flag_type, prefix, flag_values, skip, defaults=default)
            continue
        name = prefix + field.name
        help_text = field.metadata.get("help", field.name)
        if "choices" in field.metadata:
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text,
                              flag_values=flag_values)
        else:
            definers[flag_type](name, list(default) if flag_type is tuple and default else default,
                                help_text, flag_values=flag_values)


def config_from_flags(config_class, flag_values, prefix="", skip=(), **overrides):
    """The config dataclass built from the flags `define_config_flags` defined.

    Args:
      config_class, prefix, skip: as given to `define_config_flags` (a skipped field keeps
        its default unless `overrides` sets it).
      flag_values: the parsed absl `FlagValues`.
      **overrides: field values that win over the flags.
    """
    values = {}
    for field, flag_type in _fields(config_class):
        if field.name in overrides or field.name in skip:
            continue
        if dataclasses.is_dataclass(flag_type):
            values[field.name] = config_from_flags(flag_type, flag_values, prefix, skip)
            continue
        value = flag_values[prefix + field.name].value
        values[field.name] = tuple(value) if flag_type is tuple and value is not None else value
    return config_class(**{**values, **overrides})
