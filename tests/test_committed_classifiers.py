"""The committed on-device classifiers (pretrained/*/ of format on_device_classifier): small
files, and the shipped model scores what its card and config say, run as a phone runs it."""

import json
import os

import pytest

from mixvocab_tf.export import on_device
from mixvocab_tf.tasks import task_registry

COMMITTED = on_device.available_classifiers()


def test_the_sst2_sentiment_model_is_committed():
    assert "sst2_sentiment" in COMMITTED


@pytest.mark.parametrize("name", COMMITTED)
def test_files_are_small_and_the_card_carries_the_config_scores(name):
    folder = on_device.resolve_classifier(name)
    for file_name in os.listdir(folder):
        assert os.path.getsize(os.path.join(folder, file_name)) < on_device.MAX_FILE_BYTES
    with open(os.path.join(folder, on_device.CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(folder, on_device.CARD_FILE), encoding="utf-8") as f:
        card = f.read()
    assert f"| {100 * config['scores']['int8_tflite']:.2f} |" in card
    if "mediapipe_ids" in config["scores"]:  # the ids form's score in MediaPipe, when shipped
        assert on_device.IDS_MODEL_FILE in config["files"]
        assert f"| {100 * config['scores']['mediapipe_ids']:.2f} |" in card
    assert config["files"][on_device.MODEL_FILE] == os.path.getsize(
        os.path.join(folder, on_device.MODEL_FILE))


@pytest.mark.parametrize("name", COMMITTED)
def test_the_shipped_model_scores_what_it_records(name, data_dir, require_data):
    classifier = on_device.load_classifier(name)
    scores = classifier.config["scores"]
    task = task_registry.get_task(classifier.config["task"])
    require_data(f"tasks/{task.subdir}")
    examples = task.read(os.path.join(data_dir, "tasks"), scores["split"])
    predicted = [label for label, _ in classifier.classify(examples.texts)]
    accuracy = sum(p == g for p, g in zip(predicted, examples.labels)) / len(examples)
    assert len(examples) == scores["examples"]
    assert accuracy == pytest.approx(scores["int8_tflite"], abs=1e-9)
