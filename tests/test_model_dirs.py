"""A model folder or the run folder above it: every loader reads both, and says which."""

import os

import keras
import pytest
from absl import logging as absl_logging

from mixvocab_tf import model_dirs
from mixvocab_tf.models.student_directory import load_student_directory
from mixvocab_tf.models.stage1_directory import Stage1Error
from mixvocab_tf.models.stage1_directory import load_stage1
from mixvocab_tf.model_dirs import ModelDirError
from mixvocab_tf.model_dirs import resolve_model_dir
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import task_model as task_model_lib
from mixvocab_tf.models.encoders import load_encoder


def _touch(directory, *names):
    os.makedirs(directory, exist_ok=True)
    for name in names:
        open(os.path.join(directory, name), "w").close()


def _run_folder(root, kind, finished=True):
    """A run folder as the training binaries leave it, its model in export/."""
    run = os.path.join(root, "run")
    _touch(run, "flags.json")
    os.makedirs(os.path.join(run, "checkpoints"))
    if finished:
        _touch(os.path.join(run, "export"), *kind.files)
    return run


@pytest.fixture
def info_logs(monkeypatch):
    lines = []
    monkeypatch.setattr(absl_logging, "info", lambda message, *args: lines.append(message % args))
    return lines


@pytest.mark.parametrize("kind", model_dirs.KINDS, ids=lambda k: k.name)
def test_a_run_folder_reads_as_its_export_and_says_so(tmp_path, kind, info_logs):
    run = _run_folder(str(tmp_path), kind)
    export = os.path.join(run, "export")
    assert resolve_model_dir(run, kind) == export
    assert resolve_model_dir(export, kind) == export
    assert f"reading the {kind.name} in {export} (the run folder's export/)" in info_logs[0]
    assert f"reading the {kind.name} in {export} (the model folder)" in info_logs[1]


def test_a_task_model_folder_is_its_own_run_folder(tmp_path, info_logs):
    # Fine-tuning and task distillation write the task model straight into --output_dir.
    task = str(tmp_path / "snips")
    _touch(task, *model_dirs.TASK.files)
    assert resolve_model_dir(task, model_dirs.TASK) == task


def test_wrong_kind_unfinished_run_and_missing_folder_name_the_fix(tmp_path):
    stage1_run = _run_folder(str(tmp_path / "a"), model_dirs.STAGE1)
    with pytest.raises(ModelDirError, match="holds a Stage I teacher.*needs a Stage II student"
                       ".*Fix: pass a tools/distill_student.py --model_dir folder"):
        resolve_model_dir(stage1_run, model_dirs.STUDENT, flag="--model")
    unfinished = _run_folder(str(tmp_path / "b"), model_dirs.STUDENT, finished=False)
    with pytest.raises(ModelDirError, match="run folder without a model yet.*rerun its command"):
        resolve_model_dir(unfinished, model_dirs.STUDENT)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model_dir(str(tmp_path / "nowhere"), model_dirs.TASK)
    # Anything else (a BERT teacher folder) is the caller's to read.
    _touch(str(tmp_path / "bert"), "config.json", "model.safetensors", "vocab.txt")
    assert resolve_model_dir(str(tmp_path / "bert"), model_dirs.STUDENT) == str(tmp_path / "bert")


def test_export_dir_is_the_one_training_writes(tmp_path, write_tiny_student):
    """A run folder that `fit_and_export` finished is read through its export by the loaders."""
    import shutil

    import numpy as np
    import tensorflow as tf

    from mixvocab_tf.training import checkpointing

    student = write_tiny_student(tmp_path / "student",
                                 ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    batches = tf.data.Dataset.from_tensors(
        (np.ones((4, 2), np.float32), np.ones((4, 1), np.float32))).repeat()
    run = tmp_path / "run"
    result = checkpointing.fit_and_export(
        model, batches, 2, str(run),
        lambda directory, metrics: shutil.copytree(student, directory, dirs_exist_ok=True),
        steps_per_loop=1, verbose=0)
    backbone, vocabulary, _ = load_encoder(str(run))
    assert result["export_dir"] == str(run / model_dirs.EXPORT_DIR)
    assert backbone.num_layers == 1 and vocabulary[-1] == "b"


@pytest.fixture(scope="module")
def stage2_run(tmp_path_factory, write_tiny_student):
    """A finished Stage II run folder: flags.json, checkpoints/, logs/, export/ (a student)."""
    run = tmp_path_factory.mktemp("runs") / "stage2"
    write_tiny_student(run / "export", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
    (run / "flags.json").write_text("{}")
    (run / "checkpoints").mkdir()
    (run / "logs").mkdir()
    return str(run)


def test_stage2_run_folder_loads_for_finetuning_and_as_a_student(stage2_run, info_logs):
    """The issue's case: tools/finetune.py --model=runs/stage2 after distill_student."""
    backbone, vocabulary, _ = load_encoder(stage2_run)
    assert backbone.num_layers == 1 and vocabulary[-1] == "b"
    student, student_vocabulary, _ = load_student_directory(stage2_run)
    assert student.hidden_dim == 32 and student_vocabulary.size == 7
    assert all(os.path.join(stage2_run, "export") in line for line in info_logs)


def test_task_model_run_folder_loads(stage2_run, tmp_path):
    backbone, vocabulary, _ = load_encoder(stage2_run)
    model = heads.build_task_model(backbone, "classification", num_labels=2)
    run = tmp_path / "task_run"
    task_model_lib.save_task_model(str(run / "export"), model, vocabulary, ["x", "y"],
                                   {"task": "sst2", "type": "classification",
                                    "lower_case": True, "sequence_length": 16})
    (run / "flags.json").write_text("{}")
    loaded = task_model_lib.load_task_model(str(run))
    assert loaded.labels == ["x", "y"] and loaded.directory == str(run / "export")


def test_stage1_loader_names_a_student_run_instead_of_loading_it(stage2_run, tmp_path):
    with pytest.raises(ModelDirError, match="--teacher_dir .* holds a Stage II student"):
        load_stage1(stage2_run)
    with pytest.raises(Stage1Error, match="not a finished Stage I directory"):
        load_stage1(str(tmp_path))
    with pytest.raises(ModelDirError, match="holds a Stage II student.*needs a task model"):
        task_model_lib.load_task_model(stage2_run)
