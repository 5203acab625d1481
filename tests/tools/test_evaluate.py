"""tools/evaluate.py: JSON report equal to the library's, any file in the format, bad input."""

import json
import os
import shutil

import pytest

from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.configs import TaskTrainingConfig


@pytest.fixture(scope="module")
def tiny_student(write_tiny_student, minilm_path):
    """Writes a tiny student with the MiniLM vocabulary at a path."""
    from mixvocab_tf.models.student_directory import read_vocabulary

    vocabulary = read_vocabulary(os.path.join(minilm_path, "vocab.txt"))
    return lambda path: write_tiny_student(path, vocabulary, seed=3, sequence_length=64)


@pytest.fixture(scope="module")
def slots_model(tmp_path_factory, data_dir, tiny_student):
    """A tiny student fine-tuned on SNIPS slots (a few steps: scores need not be good)."""
    root = tmp_path_factory.mktemp("eval")
    student = tiny_student(str(root / "student"))
    output = str(root / "snips_slots")
    finetuning.finetune(
        FinetuneConfig(task="snips_slots",
                       training=TaskTrainingConfig(train_steps=30, batch_size=32,
                                                   learning_rate=3e-3, sequence_length=48),
                       data=DataSelectionConfig(max_train_examples=1000, eval_split="none")),
        student, os.path.join(data_dir, "tasks"), output, verbose=0)
    return output


def test_report_matches_library_and_counts_unknown_labels(slots_model, data_dir, tmp_path, run_tool):
    tasks = os.path.join(data_dir, "tasks")
    output = tmp_path / "report.json"
    result = run_tool(
        "evaluate", f"--model_dir={slots_model}", f"--data_dir={tasks}", "--split=valid",
        f"--output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    expected = evaluation.evaluate_model_dir(slots_model, data_dir=tasks, split="valid")
    assert report["metrics"] == pytest.approx(expected["metrics"])
    assert report["examples"] == 700 and 0.0 <= report["metrics"]["slot_f1"] <= 1.0
    assert report["spans"]["gold"] > 700  # SNIPS valid: several slots a sentence
    assert "slot_f1" in result.stdout
    # Valid tags the 1,000 training utterances lack are reported, and so is one more.
    known_unknowns = report["unknown_labels"]
    assert known_unknowns == expected["unknown_labels"] and known_unknowns
    folder = tmp_path / "with_unknown"
    shutil.copytree(os.path.join(tasks, "snips", "valid"), folder)
    lines = (folder / "seq.out").read_text(encoding="utf-8").split("\n")
    tags = lines[0].split()
    lines[0] = " ".join(["B-unheard_of_slot"] + tags[1:])
    (folder / "seq.out").write_text("\n".join(lines), encoding="utf-8")
    result = run_tool("evaluate", f"--model_dir={slots_model}", f"--eval_file={folder}",
                      f"--output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    unknowns = json.loads(output.read_text())["unknown_labels"]
    assert unknowns == {**known_unknowns, "B-unheard_of_slot": 1}
    assert "gold labels unknown to the model (wrong):" in result.stdout
    assert "'B-unheard_of_slot': 1" in result.stdout


def test_any_file_in_the_format_and_bad_input(slots_model, data_dir, tmp_path, run_tool):
    folder = tmp_path / "held_out"
    shutil.copytree(os.path.join(data_dir, "tasks", "snips", "valid"), folder)
    result = run_tool("evaluate", f"--model_dir={slots_model}", f"--eval_file={folder}")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (folder / "seq.out").read_text(encoding="utf-8").split("\n")
    lines[6] += " O"  # one tag too many on line 7
    (folder / "seq.out").write_text("\n".join(lines), encoding="utf-8")
    result = run_tool("evaluate", f"--model_dir={slots_model}", f"--eval_file={folder}")
    assert result.returncode != 0
    assert "seq.out:7:" in result.stderr and "tags for" in result.stderr
    assert "Traceback" not in result.stderr
