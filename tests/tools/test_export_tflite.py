"""tools/export_tflite.py run as a user runs it: a subprocess on a small SNIPS task model."""

import json
import os

import keras

from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.tasks import heads
from mixvocab_tf.models.student_directory import read_vocabulary
from mixvocab_tf.tasks.task_model import save_task_model

SNIPS_LABELS = ["AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
                "SearchCreativeWork", "SearchScreeningEvent"]


def test_tool_exports_ids_form_and_reports(data_dir, tmp_path, run_tool):
    # An untrained task model is enough here: the tool's job is files, flags and report.
    vocabulary = read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    keras.utils.set_random_seed(0)
    encoder = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=16,
                             num_heads=2, intermediate_dim=32, max_sequence_length=32)
    model = heads.build_task_model(encoder, "classification", num_labels=len(SNIPS_LABELS))
    model_dir = str(tmp_path / "snips")
    save_task_model(model_dir, model, vocabulary, SNIPS_LABELS,
                    {"task": "snips", "type": "classification", "lower_case": True,
                     "sequence_length": 16})
    out = str(tmp_path / "export")
    result = run_tool(
        "export_tflite", f"--model_dir={model_dir}", f"--output_dir={out}", "--input=ids",
        "--quantization=float32", "--sequence_length=16",
        f"--data_dir={os.path.join(data_dir, 'tasks')}", "--max_eval_examples=50",
        "--latency_runs=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model.tflite" in result.stdout and "Keras" in result.stdout
    assert sorted(os.listdir(out)) == ["export_report.json", "labels.txt", "model.tflite",
                                       "vocab.txt"]
    with open(os.path.join(out, "export_report.json")) as f:
        report = json.load(f)
    assert (report["input_form"], report["quantization"], report["sequence_length"]) == (
        "ids", "float32", 16)
    assert report["tensor_dtypes"]["inputs"] == {
        "padding_mask": "int32", "segment_ids": "int32", "token_ids": "int32"}
    assert report["validation"]["max_abs_diff"]["probabilities"] < 1e-5
    assert report["accuracy"]["examples"] == 50
    assert report["accuracy"]["tflite"] == report["accuracy"]["keras"]
    assert report["latency_ms"]["runs"] == 3

    # Bad input: one line naming the problem and the fix, no traceback, no output.
    bad = run_tool(
        "export_tflite", f"--model_dir={model_dir}", f"--output_dir={tmp_path / 'bad'}",
        "--sequence_length=64")
    assert bad.returncode == 1
    assert "--sequence_length <= 32" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_tool(
        "export_tflite", f"--model_dir={tmp_path / 'missing'}", f"--output_dir={tmp_path / 'bad'}")
    assert missing.returncode == 1 and "tools/finetune.py" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not os.path.exists(tmp_path / "bad")
