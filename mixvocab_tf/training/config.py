"""The training settings Stage I and Stage II share, as frozen config dataclasses.

A stage's config (`stage1.config.Stage1Config`, `stage2.config.Stage2Config`) nests one
`TrainingConfig` and one `MaskingConfig`; each setting's default and help are written once,
in its field, and the tools' flags are generated from them (`flag_defs.define_config_flags`,
flags of nested fields unprefixed). `flatten_config` and `config_from_keywords` convert a
stage config to and from flat keywords: the run record `flags.json` and the stage runners'
0.1 keyword call.

Example:
>>> config = Stage2Config(training=TrainingConfig(learning_rate=5e-4, train_steps=2000))
>>> config = config_from_keywords(Stage2Config, train_steps=2000)   # the same config
>>> flatten_config(config)["train_steps"]
2000
"""

import dataclasses
import functools
import inspect
import warnings
from typing import Optional

from mixvocab_tf.training.flag_defs import config_field
from mixvocab_tf.training.strategy import STRATEGIES

MIXED_PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")


def check_choices(config):
    """Raises `ValueError` where a field with `choices` holds another value (None passes)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        choices = field.metadata.get("choices")
        if choices is not None and value is not None and value not in choices:
            raise ValueError(f"{field.name}={value!r}; choose one of "
                             f"{', '.join(repr(c) for c in choices)}.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Sizes, schedule, seed and devices of a Stage I or II run.

    `learning_rate` has no default here: each stage nests its own (Stage I 5e-5, Stage II
    5e-4, in its `training` field's `default_factory`).
    """

    sequence_length: int = config_field(128, "Tokens per sequence, [CLS] and [SEP] included.")
    batch_size: int = config_field(32, "Global batch size (split over replicas).")
    train_steps: int = config_field(10_000, "Optimizer steps.")
    steps_per_loop: int = config_field(500, "Steps between checkpoints and evaluations.")
    eval_steps: int = config_field(20, "Evaluation batches per loop.")
    learning_rate: float = config_field(dataclasses.MISSING, "Peak AdamW learning rate.")
    warmup_fraction: float = config_field(0.1, "Share of steps in linear warm-up.")
    seed: int = config_field(0, "Seed for masking, word choices and shuffling.")
    strategy: str = config_field("default", "tf.distribute strategy.", choices=STRATEGIES)
    mixed_precision: Optional[str] = config_field(
        None, "Mixed-precision policy.", choices=MIXED_PRECISION_POLICIES)

    def __post_init__(self):
        check_choices(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaskingConfig:
    """How the masked-LM examples are made from the text lines."""

    masking_rate: float = config_field(0.15, "Share of tokens masked for the MLM.")
    max_predictions: int = config_field(20, "Most masked tokens per sequence.")
    pack_lines: bool = config_field(
        True, "Join consecutive lines of a file into sequences of about --sequence_length "
        "tokens, as BERT's pretraining data; --nopack_lines: one line a sequence, padded.")


def flatten_config(config):
    """`dataclasses.asdict(config)` with each nested config's fields at the top level.

    This is the run record (`flags.json`) of a stage: the keys are the flag names, as in
    the 0.1 records, so a run started before configs resumes.
    """
    record = dataclasses.asdict(config)
    for field in dataclasses.fields(config):
        if dataclasses.is_dataclass(getattr(config, field.name)):
            record.pop(field.name)
            for name, value in flatten_config(getattr(config, field.name)).items():
                if name in record:
                    raise ValueError(f"{type(config).__name__}: two fields named {name!r}.")
                record[name] = value
    return record


def config_from_keywords(config_class, **settings):
    """`config_class()` with the given flat settings (a nested config's fields by name).

    The inverse of `flatten_config`; a setting not given keeps its default, a nested
    config's defaults being its parent's `default_factory` instance.

    Raises:
      TypeError: a setting no field of the config (or of its nested configs) names.
    """
    remaining = dict(settings)
    config = _with_settings(config_class(), remaining)
    if remaining:
        raise TypeError(f"{config_class.__name__} has no setting "
                        f"{', '.join(sorted(remaining))}.")
    return config


def _with_settings(instance, remaining):
    values = {}
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if dataclasses.is_dataclass(value):
            values[field.name] = _with_settings(value, remaining)
        elif field.name in remaining:
            values[field.name] = remaining.pop(field.name)
    return dataclasses.replace(instance, **values)


def accepts_keyword_settings(config_class):
    """Lets a stage runner `run(config, inputs...)` also be called the 0.1 way, for one release.

    The 0.1 call passed the inputs (the runner's parameters after `config`) positionally or
    by name and every setting as a keyword: `train_teacher(teacher, vocab, files, model_dir,
    train_steps=2000)`. Such a call builds the config with `config_from_keywords` and warns
    (`DeprecationWarning`) with the new call. Remove in the release after 0.2.
    """

    def decorate(run):
        parameters = list(inspect.signature(run).parameters.values())[1:]
        positional = [p.name for p in parameters
                      if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        inputs = {p.name for p in parameters}
        new_call = (f"{run.__name__}({config_class.__name__}(...), "
                    f"{', '.join(positional)})")

        @functools.wraps(run)
        def runner(*args, **kwargs):
            first = args[0] if args else kwargs.get("config")
            if isinstance(first, config_class):
                return run(*args, **kwargs)
            if dataclasses.is_dataclass(first) or "config" in kwargs:
                raise TypeError(f"{run.__name__} takes a {config_class.__name__}, got "
                                f"{type(first).__name__}.")
            if len(args) > len(positional):
                raise TypeError(f"{run.__name__} takes at most {len(positional)} inputs "
                                f"positionally; pass the settings in a {config_class.__name__}.")
            arguments = dict(zip(positional, args))
            for name, value in kwargs.items():
                if name in arguments:
                    raise TypeError(f"{run.__name__} got multiple values for {name!r}.")
                arguments[name] = value
            settings = {k: arguments.pop(k) for k in list(arguments) if k not in inputs}
            try:
                config = config_from_keywords(config_class, **settings)
            except TypeError as error:
                raise TypeError(f"{run.__name__}: {error}") from None
            warnings.warn(
                f"{run.__name__}(..., setting=value) is deprecated: call {new_call} "
                f"({config_class.__module__}; `config_from_keywords({config_class.__name__}, "
                "**settings)` builds it from the old keywords). The keyword call goes in the "
                "next release.", DeprecationWarning, stacklevel=2)
            return run(config, **arguments)

        return runner

    return decorate
