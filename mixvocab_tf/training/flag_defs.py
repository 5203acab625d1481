"""The absl flags the binaries share, and flags generated from config dataclasses."""

import dataclasses
import sys
import types
import typing

from absl import flags


def define_stage_input_flags(module_name=None):
    """The inputs of the Stage I and II binaries: --train_files, --eval_files, --model_dir.

    Their settings are flags of their config (`define_config_flags(Stage1Config)`, ...);
    `module_name` as there.
    """
    where = {} if module_name is None else {"module_name": _absl_module_name(module_name)}
    flags.DEFINE_list("train_files", None, "Text files or globs, one document or sentence a line.",
                      **where)
    flags.DEFINE_list("eval_files", None, "Held-out text files or globs for per-loop evaluation.",
                      **where)
    flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, logs, flags.json, export/.",
                        **where)


def _absl_module_name(module_name):
    """absl names the main module by its file (`sys.argv[0]`), not `__main__`."""
    return sys.argv[0] if module_name == "__main__" else module_name


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
                        defaults=None, module_name=None):
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
      module_name: the module `--help` lists the flags under: a binary passes `__name__`
        to list them as its own (default: this module).

    Example:
    >>> define_config_flags(TransferTextConfig, prefix="transfer_")
    >>> config = config_from_flags(TransferTextConfig, FLAGS, prefix="transfer_")
    """
    if module_name is not None:
        module_name = _absl_module_name(module_name)
    definers = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                float: flags.DEFINE_float, str: flags.DEFINE_string, tuple: flags.DEFINE_list}
    for field, flag_type in _fields(config_class):
        if field.name in skip:
            continue
        default = _default(field, defaults)
        if dataclasses.is_dataclass(flag_type):
            define_config_flags(flag_type, prefix, flag_values, skip, defaults=default,
                                module_name=module_name)
            continue
        name = prefix + field.name
        help_text = field.metadata.get("help", field.name)
        where = {"flag_values": flag_values}
        if module_name is not None:
            where["module_name"] = module_name
        if "choices" in field.metadata:
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, **where)
        else:
            definers[flag_type](name, list(default) if flag_type is tuple and default else default,
                                help_text, **where)


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
