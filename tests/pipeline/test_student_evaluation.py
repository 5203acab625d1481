"""The card evaluation of a general student, on a tiny random student and real SNIPS."""

import json
import os

import pytest

from mixvocab_tf.pipeline import student_evaluation
from mixvocab_tf.tasks import baselines
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.selection import select_examples
from mixvocab_tf.models.student_directory import read_vocabulary


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, minilm_path, write_tiny_student):
    vocabulary = read_vocabulary(os.path.join(minilm_path, "vocab.txt"))
    return write_tiny_student(tmp_path_factory.mktemp("student") / "stage2", vocabulary,
                              sequence_length=32)


def test_a_card_evaluation_scores_seeds_int8_and_the_floor_then_resumes(
        student_dir, data_dir, tmp_path):
    config = student_evaluation.StudentEvaluationConfig(
        evaluations=("snips:0/1",), sequence_length=32, max_train_examples=300,
        max_eval_examples=120)
    lines = []
    evaluation = student_evaluation.evaluate_student(student_dir, data_dir, tmp_path, config,
                                                     log=lines.append)
    assert list(evaluation) == ["snips (valid 120)"]
    entry = evaluation["snips (valid 120)"]
    runs = [json.loads((tmp_path / f"snips_s{seed}" / "task_config.json").read_text())
            for seed in (0, 1)]
    floats = [round(100 * run["eval"]["metrics"]["accuracy"], 2) for run in runs]
    assert [run["training"]["examples"] for run in runs] == [300, 300]
    assert [run["training"]["seed"] for run in runs] == [0, 1]
    assert entry["accuracy float, seed 0/1"] == f"{floats[0]:.2f} / {floats[1]:.2f}"
    assert entry["accuracy float, mean"] == pytest.approx(sum(floats) / 2, abs=0.01)
    report = json.loads((tmp_path / "snips_s0.int8" / "export_report.json").read_text())
    assert report["quantization"] == "dynamic_int8" and report["input_form"] == "text"
    assert entry["accuracy int8 (text in), seed 0"] == round(100 * report["accuracy"]["tflite"], 2)
    assert abs(entry["accuracy int8 (text in), seed 0"] - floats[0]) < 5
    assert entry["int8 TFLite MB"] == round(report["file_size_bytes"] / 1e6, 2) > 0
    # The floor trains on the utterances each seed's run trained on.
    task = task_registry.get_task("snips")
    train, valid = task.read(data_dir, "train"), task.read(data_dir, "valid").take(120)
    floors = [baselines.tfidf_logistic_regression(
        task, select_examples(train, 300, "random", seed), valid)["accuracy"] for seed in (0, 1)]
    assert entry["TF-IDF+LR"] == round(50 * sum(floors), 2) > 30
    assert json.loads((tmp_path / "evaluation.json").read_text()) == evaluation
    assert (tmp_path / "snips_s1.cpu.json").is_file()
    # A rerun trains nothing and gives the same evaluation.
    lines.clear()
    again = student_evaluation.evaluate_student(student_dir, data_dir, tmp_path, config,
                                                log=lines.append)
    assert again == evaluation
    assert not [line for line in lines if "fine-tuning" in line or "exporting" in line]


@pytest.mark.parametrize("spec, named", [("mnli:0", "unknown evaluation 'mnli'"),
                                         ("sst2:0/a", "are not numbers")])
def test_a_bad_evaluation_spec_is_named_with_the_fix(spec, named):
    config = student_evaluation.StudentEvaluationConfig(evaluations=(spec,))
    with pytest.raises(ValueError, match=named) as error:
        config.seeds()
    assert "Fix:" in str(error.value)


def test_the_default_is_the_cards_three_evaluations():
    assert student_evaluation.StudentEvaluationConfig().seeds() == {
        "banking77_10shot": [0, 1, 2], "sst2": [0, 1, 2], "snips": [0]}
