"""The task runners' configs: flags generated from them, flat and old-style calls, defaults."""

import dataclasses
import inspect

import pytest
from absl import flags

from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import joint_distillation
from mixvocab_tf.tasks import task_distillation
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.configs import DistillTrainingConfig
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.configs import SentenceHeadConfig
from mixvocab_tf.tasks.configs import TaskTrainingConfig
from mixvocab_tf.tasks.transfer_text import TransferTextConfig


def _parse(config_class, argv):
    values = flags.FlagValues()
    configs.define_flags(config_class, flag_values=values)
    if config_class is DistillTaskConfig:  # as tools/distill_task.py
        flags.DEFINE_alias("max_transfer_lines", "transfer_max_lines", flag_values=values)
    values(["prog", *argv])
    return configs.config_from_flags(config_class, values), values


def test_finetune_config_round_trips_through_its_flags():
    config, values = _parse(FinetuneConfig, [])
    assert config == FinetuneConfig()
    # The tool's defaults (the documented ones) are the config's.
    assert (values["batch_size"].value, values["learning_rate"].value) == (16, 1e-4)
    config, _ = _parse(FinetuneConfig, [
        "--task=sst2", "--epochs=3", "--batch_size=8", "--nobucket_by_length", "--pooling=cls",
        "--ngram_bag_buckets=101", "--max_train_examples=64", "--train_selection=longest",
        "--eval_split=none", "--normalization=mediapipe", "--kd_weight=0.7"])
    assert config == FinetuneConfig(
        task="sst2", normalization="mediapipe", kd_weight=0.7,
        training=TaskTrainingConfig(epochs=3, batch_size=8, bucket_by_length=False),
        head=SentenceHeadConfig(pooling="cls", ngram_bag_buckets=101),
        data=DataSelectionConfig(max_train_examples=64, train_selection="longest",
                                 eval_split="none"))
    with pytest.raises(flags.IllegalFlagValueError):
        _parse(FinetuneConfig, ["--pooling=max"])


def test_distill_task_config_round_trips_through_its_flags():
    config, values = _parse(DistillTaskConfig, [])
    assert config == DistillTaskConfig()
    assert values["epochs"].value is None and values["transfer_max_lines"].value == 0
    config, _ = _parse(DistillTaskConfig, [
        "--task=snips", "--augment=4", "--replacer=mlm", "--transfer_files=a.txt,b.txt.gz",
        "--max_transfer_lines=500", "--transfer_min_words=2", "--transfer_seed=3", "--seed=1",
        "--learning_rate=3e-4", "--examples_per_class=10", "--slot_weight=2"])
    assert config == DistillTaskConfig(
        task="snips", augment=4, replacer="mlm", transfer_files=("a.txt", "b.txt.gz"),
        slot_weight=2.0,
        transfer_text=TransferTextConfig(max_lines=500, min_words=2, seed=3),
        training=DistillTrainingConfig(seed=1, learning_rate=3e-4),
        data=DataSelectionConfig(examples_per_class=10))


def test_distillation_defaults_resolve_per_task_type():
    training = DistillTrainingConfig()
    assert training.resolved(joint=False, teacher_sequence_length=32) == DistillTrainingConfig(
        epochs=2, learning_rate=1e-4, sequence_length=32)
    assert training.resolved(joint=True) == DistillTrainingConfig(epochs=6, learning_rate=1e-3)
    given = DistillTrainingConfig(epochs=3, learning_rate=5e-4, sequence_length=48)
    assert given.resolved(joint=True, teacher_sequence_length=32) == given


def test_flat_config_finds_nested_fields_by_name():
    assert configs.flat_config(
        FinetuneConfig, task="snips", epochs=1, pooling="mean", max_eval_examples=10,
        embedding_dim=64) == FinetuneConfig(
            task="snips", embedding_dim=64, training=TaskTrainingConfig(epochs=1),
            head=SentenceHeadConfig(pooling="mean"),
            data=DataSelectionConfig(max_eval_examples=10))
    # A nested config keeps its own class's defaults (the distillation ones here).
    assert configs.flat_config(DistillTaskConfig, batch_size=8).training == DistillTrainingConfig(
        batch_size=8)
    with pytest.raises(TypeError, match="no setting 'epoch'"):
        configs.flat_config(FinetuneConfig, epoch=1)
    with pytest.raises(TypeError, match="given whole and as"):
        configs.flat_config(FinetuneConfig, training=TaskTrainingConfig(), epochs=1)


def test_old_style_calls_build_the_new_config_with_a_deprecation_warning():
    calls = []

    @configs.accepts_legacy_call(DistillTaskConfig)
    def runner(config, student_path, teacher_dir, data_dir, output_dir, cache_dir=None,
               verbose=1):
        calls.append((config, student_path, teacher_dir, data_dir, output_dir, cache_dir,
                      verbose))

    new = DistillTaskConfig(task="snips", augment=2, transfer_files=("a.txt",),
                            transfer_text=TransferTextConfig(max_lines=7, min_words=2),
                            training=DistillTrainingConfig(epochs=3),
                            head=SentenceHeadConfig(pooling="mean"))
    runner(new, "s", "t", "d", "o", cache_dir="c", verbose=0)
    with pytest.warns(DeprecationWarning, match=r"runner\(DistillTaskConfig\(task=.*"
                                                r"student_path, teacher_dir, data_dir, output_dir"):
        runner("snips", "s", "t", "d", "o", augment=2, transfer_files=["a.txt"],
               max_transfer_lines=7, transfer_text=TransferTextConfig(min_words=2), epochs=3,
               pooling="mean", cache_dir="c", verbose=0)
    with pytest.warns(DeprecationWarning):
        runner(task_name="snips", student_path="s", teacher_dir="t", data_dir="d",
               output_dir="o", augment=2, transfer_files=["a.txt"], max_transfer_lines=7,
               transfer_text=TransferTextConfig(min_words=2), epochs=3, pooling="mean",
               cache_dir="c", verbose=0)
    assert calls[0] == calls[1] == calls[2]
    with pytest.raises(TypeError, match="no setting 'augmnet'"):
        runner("snips", "s", "t", "d", "o", augmnet=2)
    with pytest.raises(TypeError, match="at most 5 positional"):
        runner("snips", "s", "t", "d", "o", "c")
    with pytest.raises(TypeError, match="takes a DistillTaskConfig first, got FinetuneConfig"):
        runner(FinetuneConfig(task="snips"), "s", "t", "d", "o")


def test_the_runners_take_a_config_and_inputs():
    for runner, config_class in ((finetuning.finetune, FinetuneConfig),
                                 (joint.finetune_joint, FinetuneConfig),
                                 (task_distillation.distill_task, DistillTaskConfig),
                                 (joint_distillation.distill_joint, DistillTaskConfig)):
        parameters = list(inspect.signature(runner).parameters)
        assert parameters[0] == "config" and len(parameters) <= 7, (runner, parameters)
    # An old call reaches the runner's checks with its settings (here before any work).
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="classification"):
        finetuning.finetune("snips_slots", "no_model", "no_data", "no_output",
                            normalization="mediapipe", verbose=0)
    with pytest.raises(ValueError, match=r"FinetuneConfig.task is not set"):
        finetuning.finetune(FinetuneConfig(), "no_model", "no_data", "no_output")


def test_every_setting_has_help_without_measured_scores():
    for config_class in (TaskTrainingConfig, DistillTrainingConfig, SentenceHeadConfig,
                         DataSelectionConfig, FinetuneConfig, DistillTaskConfig):
        for field in dataclasses.fields(config_class):
            if field.default_factory is dataclasses.MISSING:  # not a nested config
                help_text = field.metadata.get("help", "")
                assert help_text and "README" not in help_text, (config_class, field.name)
