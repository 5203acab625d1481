"""Published on-device classifiers: written atomically, loaded by name, equal to the export."""

import json
import os

import numpy as np
import pytest

from mixvocab_tf.export import exporter
from mixvocab_tf.export import on_device
from mixvocab_tf.export.runtime import TFLiteRunner


def test_publish_then_load_by_name_classifies_as_the_export(snips_model_dir, data_dir, tmp_path,
                                                            monkeypatch):
    export = str(tmp_path / "text")
    exporter.export_tflite(snips_model_dir, export, data_dir=os.path.join(data_dir, "tasks"),
                           sequence_length=32, max_eval_examples=50, measure_latency=False)
    root = tmp_path / "pretrained"
    on_device.publish_classifier(export, str(root / "snips_intents"),
                                 {"task": "snips", "scores": {"valid": 0.9}}, "# card\n")
    monkeypatch.setenv("MIXVOCAB_PRETRAINED", str(root))
    assert on_device.available_classifiers() == ["snips_intents"]
    classifier = on_device.load_classifier("snips_intents")
    texts = ["play some jazz by miles davis", "will it rain in oslo tomorrow"]
    expected = TFLiteRunner(os.path.join(export, "model.tflite")).run_text(texts)
    np.testing.assert_array_equal(classifier.predict(texts), expected["probabilities"])
    labels = [label for label, _ in classifier.classify(texts)]
    assert labels == [classifier.labels[i] for i in expected["probabilities"].argmax(-1)]
    with open(root / "snips_intents" / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["format"] == on_device.FORMAT and config["task"] == "snips"
    assert config["files"]["model.tflite"] == os.path.getsize(
        os.path.join(export, "model.tflite"))
    with pytest.raises(TypeError, match="list of texts"):
        classifier.predict("one string")


def test_unknown_names_and_incomplete_exports_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXVOCAB_PRETRAINED", str(tmp_path))
    with pytest.raises(on_device.OnDeviceModelError, match="published: none"):
        on_device.load_classifier("sst2_sentiment")
    (tmp_path / "export").mkdir()
    with pytest.raises(on_device.OnDeviceModelError, match="model.tflite is missing"):
        on_device.publish_classifier(str(tmp_path / "export"), str(tmp_path / "out"), {}, "")
    assert not (tmp_path / "out").exists()
