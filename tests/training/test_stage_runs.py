"""Stage I and II runs end to end: tools, resume after SIGKILL, NaN guard, bad inputs."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.stage2.config import Stage2Config
from mixvocab_tf.stage2.student_distillation import distill_student
from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
from mixvocab_tf.models.student_directory import load_student_directory
from mixvocab_tf.models.stage1_directory import Stage1Error
from mixvocab_tf.models.stage1_directory import load_stage1
from mixvocab_tf.stage1.config import Stage1Config
from mixvocab_tf.stage1.teacher_training import train_teacher
from mixvocab_tf.training.callbacks import PsvRamp
from mixvocab_tf.training.callbacks import TrainingDivergedError
from mixvocab_tf.training.checkpointing import fit_resumable
from mixvocab_tf.training.config import MaskingConfig
from mixvocab_tf.training.config import config_from_keywords
from mixvocab_tf.training.config import flatten_config
from mixvocab_tf.training.text_data import CorpusError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The small sizes of every run here, and its Stage I config.
SMALL = dict(sequence_length=32, batch_size=8, eval_steps=2, max_predictions=6)
SMALL_MASKING = MaskingConfig(max_predictions=6)
STAGE1_SETTINGS = dict(student_embedding_dim=8, train_steps=8, steps_per_loop=4,
                       learning_rate=1e-3, new_parameter_steps=4, **SMALL)


def small_config(config_class, training=None, **settings):
    """`config_class` at the small sizes; `training`: more training settings."""
    return config_class(
        training=dataclasses.replace(config_class().training, sequence_length=32, batch_size=8,
                                     eval_steps=2, **(training or {})),
        masking=SMALL_MASKING, **settings)


STAGE1_CONFIG = small_config(Stage1Config, dict(train_steps=8, steps_per_loop=4,
                                                learning_rate=1e-3),
                             student_embedding_dim=8, new_parameter_steps=4)


@pytest.fixture(scope="module")
def stage1_dir(tiny_stage_inputs, tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("stage1"))
    result = train_teacher(
        STAGE1_CONFIG,
        tiny_stage_inputs["teacher_dir"],
        tiny_stage_inputs["student_vocab"],
        tiny_stage_inputs["train_file"],
        model_dir,
        eval_files=tiny_stage_inputs["eval_file"],
        verbose=0,
    )
    # p_sv reaches its end value at 60% of the steps and holds there.
    assert result["metrics"]["p_sv"] == 1.0
    # Held-out scores at p_sv 0.5 (val_) and on fully student-segmented text.
    for prefix in ("val_", "val_full_sv_"):
        assert 0.0 <= result["metrics"][prefix + "student_mlm_accuracy"] <= 1.0
    assert result["new_parameter_metrics"]["p_sv"] == 1.0
    assert "val_full_sv_student_mlm_accuracy" in result["new_parameter_metrics"]
    return model_dir


def test_new_parameter_phase_trains_only_what_the_checkpoint_lacks(tiny_stage_inputs, tmp_path):
    from mixvocab_tf.models.teacher_loading import load_teacher

    original = load_teacher(tiny_stage_inputs["teacher_dir"])
    config = small_config(Stage1Config, dict(train_steps=0, steps_per_loop=4),
                          student_embedding_dim=8, new_parameter_steps=3,
                          new_parameter_learning_rate=1e-2)
    result = train_teacher(
        config, tiny_stage_inputs["teacher_dir"], tiny_stage_inputs["student_vocab"],
        tiny_stage_inputs["train_file"], str(tmp_path / "run"), verbose=0)
    assert result["new_parameter_metrics"]["loss"] > 0
    stage1 = load_stage1(result["export_dir"])
    model = stage1.model
    # The encoder is the checkpoint's, weight for weight; the new parameters moved.
    for old, new in zip(original.backbone.get_weights(), model.backbone.get_weights()):
        np.testing.assert_array_equal(old, new)
    fresh = MixedVocabTeacher(
        original.backbone, stage1.student_vocabulary.size, student_embedding_dim=8,
        masked_lm_head=original.masked_lm_head)
    fresh.initialize_student_table(original.vocabulary, stage1.student_vocabulary.tokens)
    assert not np.allclose(fresh.student_embedding.embeddings.numpy(),
                           model.student_embedding.embeddings.numpy())
    assert stage1.config["new_parameter_steps"] == 3
    assert os.path.isdir(tmp_path / "run" / "new_parameters" / "checkpoints")
    # Frozen, only E_s, P and the MLM head are trainable; the pooler stays frozen after.
    model.set_encoder_trainable(False)
    names = {v.path.split("/")[0] for v in model.trainable_variables}
    assert names == {"student_embedding", "student_projection", "mlm_head"}
    model.set_encoder_trainable(True)
    assert not model.backbone.pooled_dense.trainable
    assert len(model.trainable_variables) > len(model.backbone.pooled_dense.weights) + 6


def test_stage1_export_loads_with_its_vocabularies(stage1_dir, tiny_stage_inputs):
    stage1 = load_stage1(stage1_dir)
    assert stage1.student_vocabulary.size == stage1.model.student_vocabulary_size
    assert stage1.config["train_steps"] == 8
    with open(os.path.join(stage1_dir, "flags.json")) as f:
        assert json.load(f)["p_sv_end"] == 1.0
    assert os.listdir(os.path.join(stage1_dir, "logs"))


def test_flags_json_holds_the_inputs_and_the_resolved_config(stage1_dir, tiny_stage_inputs):
    with open(os.path.join(stage1_dir, "flags.json")) as f:
        record = json.load(f)
    inputs = {"teacher": tiny_stage_inputs["teacher_dir"],
              "student_vocab": tiny_stage_inputs["student_vocab"],
              "train_files": tiny_stage_inputs["train_file"], "model_dir": stage1_dir,
              "eval_files": tiny_stage_inputs["eval_file"]}
    assert {name: record.pop(name) for name in inputs} == inputs
    # The settings flat, under their flag names (the keys the resume check reads).
    assert record == flatten_config(STAGE1_CONFIG)
    assert record["train_steps"] == 8 and record["learning_rate"] == 1e-3
    assert config_from_keywords(Stage1Config, **record) == STAGE1_CONFIG


def test_the_old_keyword_call_is_the_same_run_and_other_settings_are_refused(
        stage1_dir, tiny_stage_inputs):
    inputs = (tiny_stage_inputs["teacher_dir"], tiny_stage_inputs["student_vocab"],
              tiny_stage_inputs["train_file"], stage1_dir)
    # The 0.1 call (every setting a keyword) warns and resumes the finished run: its config
    # and flags.json are the new call's, so it trains nothing.
    with pytest.warns(DeprecationWarning, match=r"call train_teacher\(Stage1Config\(\.\.\.\), "
                                                r"teacher, student_vocab, train_files, model_dir"):
        result = train_teacher(*inputs, eval_files=tiny_stage_inputs["eval_file"], verbose=0,
                               **STAGE1_SETTINGS)
    assert result["metrics"] == {} and result["new_parameter_metrics"] == {}
    # A nested setting changed is another run.
    changed = dataclasses.replace(STAGE1_CONFIG, masking=MaskingConfig(max_predictions=5))
    with pytest.raises(ValueError, match=r"different settings \(max_predictions\)"):
        train_teacher(changed, *inputs, eval_files=tiny_stage_inputs["eval_file"], verbose=0)


def test_stage2_writes_a_student_directory(stage1_dir, tiny_stage_inputs, tmp_path):
    config = small_config(Stage2Config, dict(train_steps=4, steps_per_loop=2),
                          student_size=None, num_layers=2, hidden_dim=16, num_heads=2,
                          intermediate_dim=32)
    result = distill_student(config, stage1_dir, tiny_stage_inputs["train_file"], str(tmp_path),
                             verbose=0)
    student, vocabulary, config = load_student_directory(result["export_dir"])
    assert student.embedding_dim == 8  # factorised: Stage I d=8, H=16
    assert vocabulary.size == student.vocabulary_size
    assert config["lower_case"] is True and config["sequence_length"] == 32
    assert np.isfinite(result["metrics"]["kd_loss"])
    # Where distillation started: the teacher's and the student's masked-LM accuracy.
    start = config["start_metrics"]
    assert 0.0 <= start["teacher_mlm_accuracy"] <= 1.0 and start["text"] == "training"
    assert start["student_mlm_accuracy"] < 0.2  # a random student predicts next to nothing
    with open(os.path.join(str(tmp_path), "start_metrics.json")) as f:
        assert json.load(f) == start


def test_wrong_inputs_fail_before_training(stage1_dir, tiny_stage_inputs, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no non-empty line"):
        train_teacher(STAGE1_CONFIG, tiny_stage_inputs["teacher_dir"],
                      tiny_stage_inputs["student_vocab"], str(empty), str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError):
        train_teacher(STAGE1_CONFIG, str(tmp_path / "no_teacher"),
                      tiny_stage_inputs["student_vocab"], tiny_stage_inputs["train_file"],
                      str(tmp_path / "b"))
    with pytest.raises(Stage1Error, match="not a finished Stage I directory"):
        distill_student(small_config(Stage2Config), str(tmp_path),
                        tiny_stage_inputs["train_file"], str(tmp_path / "c"))
    # Bad settings fail when the config is made.
    with pytest.raises(ValueError, match="p_sv_ramp_fraction=0 must be in"):
        Stage1Config(p_sv_ramp_fraction=0)
    with pytest.raises(ValueError, match="student_init='svd'; choose one of 'teacher', 'random'"):
        Stage1Config(student_init="svd")
    with pytest.raises(ValueError, match="projection='sideways'"):
        Stage2Config(projection="sideways")
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "c")


def test_psv_ramp_is_a_function_of_the_step():
    ramp = PsvRamp(tf.Variable(0.0), 0.2, 1.0, 100)
    assert [ramp.value_at(s) for s in (0, 50, 100, 500)] == pytest.approx([0.2, 0.6, 1.0, 1.0])
    ramp = PsvRamp(tf.Variable(0.0), 0.1, 1.0, 0.6 * 1000)  # Stage I: ends at 60%, holds
    assert [ramp.value_at(s) for s in (0, 300, 600, 999)] == pytest.approx([0.1, 0.55, 1.0, 1.0])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        PsvRamp(tf.Variable(0.0), 0.2, 1.5, 10)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    x = np.ones((12, 3), "float32")
    x[8:] = np.nan  # batches 5 and 6 (of 2 rows) are poisoned
    data = tf.data.Dataset.from_tensor_slices((x, np.ones((12, 1), "float32"))).batch(2)
    with pytest.raises(TrainingDivergedError, match="at step 5.*last good checkpoint"):
        fit_resumable(model, data.repeat(), 6, str(tmp_path), steps_per_loop=2, verbose=0)
    latest = tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints"))
    assert latest.endswith("ckpt-4")
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.isfinite(value).all(), name


def _tool(name):
    return [sys.executable, os.path.join(REPO, "tools", f"{name}.py")]


def _run_tool(args, tool="train_teacher", **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [*_tool(tool), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **kwargs,
    )


def test_sigkill_then_rerun_resumes_step_optimizer_and_psv(tiny_stage_inputs, tmp_path,
                                                           sigkill_after_first_checkpoint):
    model_dir = str(tmp_path / "run")
    args = [
        f"--teacher={tiny_stage_inputs['teacher_dir']}",
        f"--student_vocab={tiny_stage_inputs['student_vocab']}",
        f"--train_files={tiny_stage_inputs['train_file']}",
        f"--model_dir={model_dir}",
        "--train_steps=400", "--steps_per_loop=5", "--batch_size=8", "--sequence_length=32",
        "--student_embedding_dim=8", "--p_sv_start=0.0", "--p_sv_end=1.0",
        "--p_sv_ramp_fraction=1.0", "--new_parameter_steps=0",
    ]
    killed_at = sigkill_after_first_checkpoint(_tool("train_teacher") + args, model_dir, 120)
    assert 0 < killed_at < 400, "the run must be killed mid-way"
    assert not os.path.exists(os.path.join(model_dir, "export"))

    # The same command resumes: same step (so the same p_sv); that the optimizer moments come
    # back too is checked in-process by tests/training/test_checkpointing.py.
    resumed = _run_tool(args)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-3000:]
    assert f"Epoch {killed_at // 5 + 1}/80" in output and "Epoch 1/80" not in output
    assert f"ckpt-{killed_at} at step {killed_at}." in output  # one line says where it resumes
    summary, _ = json.JSONDecoder().raw_decode(output[output.rindex('{\n  "export_dir"'):])
    assert summary["metrics"]["p_sv"] == pytest.approx(399 / 400)
    with open(os.path.join(model_dir, "export", "stage1_config.json")) as f:
        assert json.load(f)["train_steps"] == 400


def test_tools_report_bad_input_in_one_line(tiny_stage_inputs, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    bad = _run_tool([
        f"--teacher={tiny_stage_inputs['teacher_dir']}",
        f"--student_vocab={tiny_stage_inputs['student_vocab']}",
        f"--train_files={empty}", f"--model_dir={tmp_path / 'run'}",
    ])
    output, _ = bad.communicate(timeout=120)
    assert bad.returncode == 1
    assert "train_teacher.py: error:" in output and "no non-empty line" in output
    assert "Traceback" not in output


def test_stage2_sigkill_then_rerun_resumes_at_the_checkpointed_step(
        stage1_dir, tiny_stage_inputs, tmp_path, sigkill_after_first_checkpoint):
    model_dir = str(tmp_path / "run")
    args = [
        f"--teacher_dir={stage1_dir}", f"--train_files={tiny_stage_inputs['train_file']}",
        f"--model_dir={model_dir}", "--train_steps=400", "--steps_per_loop=5", "--batch_size=8",
        "--sequence_length=32", "--num_layers=1", "--hidden_dim=16", "--num_heads=2",
        "--intermediate_dim=32",
    ]
    killed_at = sigkill_after_first_checkpoint(_tool("distill_student") + args, model_dir)
    assert 0 < killed_at < 400, "the run must be killed mid-way"
    assert not os.path.exists(os.path.join(model_dir, "export"))

    resumed = _run_tool(args, tool="distill_student")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-3000:]
    assert f"ckpt-{killed_at} at step {killed_at}." in output  # the one resume line
    assert f"Epoch {killed_at // 5 + 1}/80" in output and "Epoch 1/80" not in output
    with open(os.path.join(model_dir, "export", "config.json")) as f:
        assert json.load(f)["train_steps"] == 400

