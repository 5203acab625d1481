"""Flags generated from config dataclasses: each default and help written once."""

import dataclasses
from typing import Optional

import pytest
from absl import flags

from mixvocab_tf.tasks.transfer_text import TransferTextConfig
from mixvocab_tf.training.flag_defs import config_field
from mixvocab_tf.training.flag_defs import config_from_flags
from mixvocab_tf.training.flag_defs import define_config_flags


@dataclasses.dataclass(frozen=True)
class _Training:
    batch_size: int = config_field(32, "Batch size.")
    learning_rate: float = config_field(1e-4, "Peak rate.")


@dataclasses.dataclass(frozen=True)
class _Stage:
    task: Optional[str] = config_field(None, "Task name.")
    pooling: str = config_field("auto", "Sentence vector.", choices=("auto", "mean", "cls"))
    files: tuple = config_field((), "Text files.")
    steps: Optional[int] = config_field(None, "Steps instead of epochs.")
    bucket: bool = config_field(True, "Bucket by length.")
    training: _Training = dataclasses.field(default_factory=_Training)


@dataclasses.dataclass(frozen=True)
class _OtherStage:
    training: _Training = dataclasses.field(default_factory=lambda: _Training(learning_rate=5e-4))


def _parse(config_class, argv, **kwargs):
    values = flags.FlagValues()
    define_config_flags(config_class, flag_values=values, **kwargs)
    values(["prog", *argv])
    return values


def test_defaults_round_trip_and_flags_override_nested_fields():
    values = _parse(_Stage, [])
    assert config_from_flags(_Stage, values) == _Stage()
    values = _parse(_Stage, ["--task=sst2", "--pooling=mean", "--files=a.txt,b.txt",
                             "--steps=7", "--nobucket", "--batch_size=8"])
    config = config_from_flags(_Stage, values)
    assert config == _Stage(task="sst2", pooling="mean", files=("a.txt", "b.txt"), steps=7,
                            bucket=False, training=_Training(batch_size=8))
    assert values["pooling"].help.endswith("Sentence vector.") and values["learning_rate"].value == 1e-4


def test_choices_are_enforced_and_skipped_fields_get_no_flag():
    with pytest.raises(flags.IllegalFlagValueError):
        _parse(_Stage, ["--pooling=max"])
    values = _parse(_Stage, [], skip=("task",))
    assert "task" not in values and "pooling" in values
    assert config_from_flags(_Stage, values, skip=("task",), steps=3).steps == 3


def test_prefixed_flags_build_the_transfer_text_config():
    values = _parse(TransferTextConfig, [], prefix="transfer_")
    assert config_from_flags(TransferTextConfig, values, prefix="transfer_") == TransferTextConfig()
    values = _parse(TransferTextConfig, ["--transfer_max_words=12"], prefix="transfer_")
    assert config_from_flags(TransferTextConfig, values, prefix="transfer_").max_words == 12


def test_a_mutable_default_is_refused():
    with pytest.raises(TypeError, match="immutable"):
        config_field([], "files")


def test_a_nested_config_takes_its_parents_defaults():
    values = _parse(_OtherStage, [])
    assert values["learning_rate"].value == 5e-4
    assert config_from_flags(_OtherStage, values) == _OtherStage()


def test_a_binary_can_list_the_flags_as_its_own():
    values = flags.FlagValues()
    define_config_flags(_Stage, flag_values=values, module_name="tools/some_tool.py")
    listed = {flag.name for flag in values.flags_by_module_dict()["tools/some_tool.py"]}
    assert listed == {"task", "pooling", "files", "steps", "bucket", "batch_size",
                      "learning_rate"}
