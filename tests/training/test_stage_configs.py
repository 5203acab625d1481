"""The stage configs: their flags, their flat settings, and the runners' 0.1 keyword call."""

import dataclasses
import inspect
import warnings

import pytest
from absl import flags

from mixvocab_tf.stage1.config import Stage1Config
from mixvocab_tf.stage1.teacher_training import train_teacher
from mixvocab_tf.stage2.config import SentenceEmbeddingConfig
from mixvocab_tf.stage2.config import Stage2Config
from mixvocab_tf.stage2.sentence_embedding import distill_sentence_embeddings
from mixvocab_tf.stage2.student_distillation import distill_student
from mixvocab_tf.training.config import MaskingConfig
from mixvocab_tf.training.config import TrainingConfig
from mixvocab_tf.training.config import accepts_keyword_settings
from mixvocab_tf.training.config import config_from_keywords
from mixvocab_tf.training.config import flatten_config
from mixvocab_tf.training.flag_defs import config_from_flags
from mixvocab_tf.training.flag_defs import define_config_flags

CONFIGS = (Stage1Config, Stage2Config, SentenceEmbeddingConfig)


def _parse(config_class, argv):
    values = flags.FlagValues()
    define_config_flags(config_class, flag_values=values)
    values(["prog", *argv])
    return values


@pytest.mark.parametrize("config_class", CONFIGS)
def test_a_flag_for_every_setting_and_the_defaults_round_trip(config_class):
    values = _parse(config_class, [])
    assert sorted(values) == sorted(flatten_config(config_class()))
    assert config_from_flags(config_class, values) == config_class()


def test_flags_set_nested_settings_and_each_stage_keeps_its_learning_rate():
    assert _parse(Stage1Config, [])["learning_rate"].value == 5e-5
    assert _parse(Stage2Config, [])["learning_rate"].value == 5e-4
    values = _parse(Stage1Config, [
        "--train_steps=7", "--learning_rate=1e-3", "--nopack_lines", "--new_parameter_steps=0",
        "--student_init=random", "--mixed_precision=mixed_bfloat16", "--whole_word_masking"])
    assert config_from_flags(Stage1Config, values) == Stage1Config(
        student_init="random", new_parameter_steps=0, whole_word_masking=True,
        training=TrainingConfig(learning_rate=1e-3, train_steps=7,
                                mixed_precision="mixed_bfloat16"),
        masking=MaskingConfig(pack_lines=False))
    values = _parse(SentenceEmbeddingConfig, ["--max_sentences=100", "--epochs=0.5"])
    assert config_from_flags(SentenceEmbeddingConfig, values) == SentenceEmbeddingConfig(
        max_sentences=100, epochs=0.5)
    with pytest.raises(flags.IllegalFlagValueError):
        _parse(Stage2Config, ["--projection=sideways"])


def test_flat_settings_round_trip_and_unknown_ones_are_refused():
    config = Stage2Config(student_size=None, num_layers=2,
                          training=TrainingConfig(learning_rate=1e-3, batch_size=8),
                          masking=MaskingConfig(masking_rate=0.2))
    assert config_from_keywords(Stage2Config, **flatten_config(config)) == config
    # A setting not given keeps the stage's default, its learning rate included.
    assert config_from_keywords(Stage2Config, batch_size=8).training == TrainingConfig(
        learning_rate=5e-4, batch_size=8)
    with pytest.raises(TypeError, match="Stage2Config has no setting whole_word_masking"):
        config_from_keywords(Stage2Config, whole_word_masking=True)
    with pytest.raises(TypeError, match="learning_rate"):
        TrainingConfig()  # each stage names its own rate
    assert Stage1Config(training=TrainingConfig(learning_rate=1e-3, train_steps=9)
                        ).new_parameter_phase_steps() == 4


def _capturing(runner, config_class):
    """`runner`'s call handling around a stand-in that returns what it was given."""

    def capture(config, *args, **kwargs):
        return config, args, kwargs

    capture.__signature__ = inspect.signature(runner)
    capture.__name__ = runner.__name__
    return accepts_keyword_settings(config_class)(capture)


def test_the_old_keyword_call_gives_the_new_calls_config_and_warns():
    teacher = _capturing(train_teacher, Stage1Config)
    settings = dict(student_embedding_dim=8, new_parameter_steps=4, train_steps=8,
                    learning_rate=1e-3, max_predictions=6, whole_word_masking=True)
    new = Stage1Config(student_embedding_dim=8, new_parameter_steps=4, whole_word_masking=True,
                       training=TrainingConfig(learning_rate=1e-3, train_steps=8),
                       masking=MaskingConfig(max_predictions=6))
    inputs = dict(teacher="bert", student_vocab="vocab.txt", train_files=["a.txt"],
                  model_dir="runs/s1")
    with pytest.warns(DeprecationWarning, match=r"call train_teacher\(Stage1Config\(\.\.\.\), "
                                                r"teacher, student_vocab, train_files, "
                                                r"model_dir, eval_files\)"):
        called = teacher("bert", "vocab.txt", ["a.txt"], "runs/s1", eval_files=["b.txt"],
                         verbose=0, **settings)
    assert called == (new, (), dict(inputs, eval_files=["b.txt"], verbose=0))
    with pytest.warns(DeprecationWarning):
        assert teacher(**inputs, **settings) == (new, (), inputs)
    # The new call goes straight through, without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert teacher(new, *inputs.values()) == (new, tuple(inputs.values()), {})
        assert teacher(config=new, **inputs) == (new, (), inputs)

    student = _capturing(distill_student, Stage2Config)
    with pytest.warns(DeprecationWarning, match=r"call distill_student\(Stage2Config"):
        config = student("runs/s1", ["a.txt"], "runs/s2", student_size=None, num_layers=2,
                         kd_weight=0.0, sequence_length=32)[0]
    assert config == Stage2Config(student_size=None, num_layers=2, kd_weight=0.0,
                                  training=TrainingConfig(learning_rate=5e-4, sequence_length=32))

    sentences = _capturing(distill_sentence_embeddings, SentenceEmbeddingConfig)
    with pytest.warns(DeprecationWarning):
        config = sentences(student_dir="s", teacher_path="t", train_files=["a"], model_dir="m",
                           epochs=3, max_sentences=10)[0]
    assert config == SentenceEmbeddingConfig(epochs=3, max_sentences=10)


def test_a_wrong_old_call_fails_as_a_function_call_would():
    student = _capturing(distill_student, Stage2Config)
    with pytest.raises(TypeError, match="distill_student: Stage2Config has no setting p_sv_start"):
        student("runs/s1", ["a.txt"], "runs/s2", p_sv_start=0.2)
    with pytest.raises(TypeError, match="multiple values for 'train_files'"):
        student("runs/s1", ["a.txt"], "runs/s2", train_files=["b.txt"])
    with pytest.raises(TypeError, match="takes a Stage2Config, got Stage1Config"):
        student(Stage1Config(), "runs/s1", ["a.txt"], "runs/s2")
    with pytest.raises(TypeError, match="at most 4 inputs positionally"):
        student("runs/s1", ["a.txt"], "runs/s2", None, "6x128")
    # Settings are checked when the config is made.
    with pytest.raises(ValueError, match="held_out_sentences=0: each must be positive"):
        _capturing(distill_sentence_embeddings, SentenceEmbeddingConfig)(
            "s", "t", ["a"], "m", held_out_sentences=0)


def test_the_runners_show_the_new_signature():
    assert list(inspect.signature(train_teacher).parameters) == [
        "config", "teacher", "student_vocab", "train_files", "model_dir", "eval_files", "verbose"]
    assert list(inspect.signature(distill_student).parameters)[:4] == [
        "config", "teacher_dir", "train_files", "model_dir"]
    assert dataclasses.is_dataclass(Stage1Config) and Stage2Config.student_size == "6x128"
