"""tools/finetune.py end to end: a tiny student directory on SGD response selection."""

import json
import os

import pytest


@pytest.fixture(scope="module")
def tiny_student(write_tiny_student, minilm_path):
    """Writes a tiny student with the MiniLM vocabulary at a path."""
    from mixvocab_tf.models.student_directory import read_vocabulary

    vocabulary = read_vocabulary(os.path.join(minilm_path, "vocab.txt"))
    return lambda path: write_tiny_student(path, vocabulary, seed=2, sequence_length=64)


def _finetune_tiny(tiny_student, run_tool, tmp_path, data_dir, task, *flags):
    """Runs tools/finetune.py on a fresh tiny student; returns (result, output folder)."""
    student = tiny_student(str(tmp_path / "student"))
    output = tmp_path / task
    result = run_tool(
        "finetune", f"--model={student}", f"--task={task}",
        f"--data_dir={os.path.join(data_dir, 'tasks')}", f"--output_dir={output}", *flags)
    return result, output


@pytest.mark.needs_data("tasks/sgd_response")
def test_response_selection_dual_encoder(tmp_path, data_dir, tiny_student, run_tool):
    result, output = _finetune_tiny(
        tiny_student, run_tool, tmp_path, data_dir, "sgd_response", "--max_train_examples=2000",
        "--epochs=2", "--batch_size=32", "--learning_rate=2e-3", "--sequence_length=32",
        "--max_eval_examples=1000")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((output / "task_config.json").read_text())
    assert config["outputs"] == ["context_embedding", "response_embedding"]
    scores = config["eval"]["metrics"]
    # Chance is 1% and 10%; in-batch training beats it by far even for a 1-layer student.
    assert scores["recall@1"] > 0.05 and scores["recall@10"] > 0.3, scores
    assert scores["recall@1"] <= scores["recall@10"]
    assert config["eval"]["examples"] == 1000
    assert "recall@10" in result.stdout  # the printed table


def test_bad_flags_are_clear(tmp_path, minilm_path, run_tool):
    result = run_tool(
        "finetune", f"--model={minilm_path}", "--task=snipz", f"--output_dir={tmp_path / 'x'}",
        "--data_dir=.")
    assert result.returncode != 0 and "unknown task 'snipz'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()


def test_pooling_flag_reaches_the_saved_task_model(tmp_path, data_dir, tiny_student, run_tool):
    import keras

    result, output = _finetune_tiny(
        tiny_student, run_tool, tmp_path, data_dir, "snips", "--max_train_examples=64",
        "--train_steps=2", "--sequence_length=16", "--eval_split=none", "--pooling=cls",
        "--ngram_bag_buckets=101", "--ngram_bag_dim=4")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((output / "task_config.json").read_text())
    assert config["pooling"] == "cls"  # not the default ("mean")
    assert config["ngram_bag"] == {"buckets": 101, "dim": 4}
    # The run's config, as the flags built it (the tool's defaults where no flag was given).
    assert config["run_config"]["head"] == {"pooling": "cls", "ngram_bag_buckets": 101,
                                            "ngram_bag_dim": 4}
    assert config["run_config"]["training"]["batch_size"] == 16
    assert config["run_config"]["training"]["train_steps"] == 2
    model = keras.saving.load_model(str(output / "model.keras"), compile=False)
    names = [layer.name for layer in model.layers]
    assert "mean_pooling" not in names and "ngram_bag" in names


@pytest.mark.parametrize("task", ["snips_slots", "snips_joint"])
def test_ngram_bag_on_a_slot_task_is_refused(tmp_path, data_dir, tiny_student, run_tool, task):
    result, output = _finetune_tiny(
        tiny_student, run_tool, tmp_path, data_dir, task, "--ngram_bag_buckets=101")
    assert result.returncode != 0
    assert "ngram_bag_buckets adds a sentence feature" in result.stderr
    assert "Fix: leave it at 0" in result.stderr
    assert "Traceback" not in result.stderr and not output.exists()
