"""Quantization-aware training for full_int8 (qat.py) on a tiny real SNIPS model: the
converter folds the learned fake-quant ranges, the TFLite model agrees with the Keras
fake-quant model, export_tflite(qat_steps=N) runs end to end and reports it."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.export import exporter
from mixvocab_tf.export import qat as qat_lib
from mixvocab_tf.export.quantization import convert_saved_model
from mixvocab_tf.export.runtime import TFLiteRunner
from mixvocab_tf.export.serving import ServingModule
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.task_model import load_task_model

L = 32


def test_fake_quant_kernel_is_per_channel_symmetric_int8():
    kernel = tf.constant(np.random.RandomState(0).randn(16, 2, 4).astype(np.float32))
    layer = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4))
    layer.build((1, 3, 16))
    axes = qat_lib.kernel_channel_axes(layer)
    assert axes == [1, 2]  # d, e index output channels; c is reduced.
    quantized = qat_lib.fake_quant_kernel(kernel, axes).numpy()
    for d in range(2):
        for e in range(4):
            column, original = quantized[:, d, e], kernel.numpy()[:, d, e]
            scale = np.abs(original).max() / 127
            levels = column / scale
            np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
            assert np.abs(levels).max() == pytest.approx(127, abs=1e-3)
            assert np.abs(column - original).max() <= scale / 2 + 1e-6


@pytest.mark.parametrize("layer_norm", [False, True])
def test_converter_folds_learned_ranges_and_tflite_matches_fake_quant(snips_model_dir, data_dir,
                                                                      tmp_path, layer_norm):
    task_model = load_task_model(snips_model_dir)
    task = task_registry.get_task("snips")
    tasks_dir = os.path.join(data_dir, "tasks")
    qat = qat_lib.QuantizationAwareTraining(task_model, L, quantize_layer_norm=layer_norm)
    history = qat.fit(task.read(tasks_dir, "train"), steps=20, learning_rate=1e-4)
    assert history["steps"] == 20 and np.isfinite(history["last_loss"])
    ranges = qat.learned_ranges()
    # 1 layer: q, k, v, attention output, 2 FFN, classifier: in + out each; scores;
    # + 5 a LayerNorm (embeddings and 2 per layer) with the option.
    assert history["fake_quant_points"] == len(ranges) >= (25 if layer_norm else 15)
    assert all(low <= 0.0 <= high and high > low for low, high in ranges.values())

    with qat.fake_quantized():
        saved = ServingModule(task_model, "ids", L).save(str(tmp_path / "saved_model"))
    rep_texts = task.read(tasks_dir, "train").texts[:100]
    rep = exporter.representative_dataset(task_model, "ids", L, rep_texts)
    runner = TFLiteRunner(convert_saved_model(saved, "full_int8", rep))
    folded = qat_lib.folded_ranges(ranges, runner.interpreter)
    print("folded ranges:", folded)
    # The converter takes the fake-quant ranges as the int8 ranges of those tensors.
    assert folded["folded"] >= 0.8 * folded["points"], folded
    # Every point but the pooler (unused under mean pooling) is a tensor range in the .tflite.
    assert all(n.startswith("pooled_dense/") for n in folded["not_folded"]), folded
    assert folded["max_relative_error"] < 1e-3

    valid = task.read(tasks_dir, "valid").take(200)
    features, gold = qat._features(valid)  # pylint: disable=protected-access
    keras_logits = qat.predict(features)
    tflite_logits = runner.run_ids(features)["logits"]
    # Bound: the Keras graph fake-quantises the Dense in/outputs and the scores; TFLite also
    # rounds LayerNorm internals, residual adds and GELU (calibrated), hence not bit-exact:
    # measured mean 0.04 / 0.08 (one or two logit steps), p99 0.57, max 1.3 on this
    # model (without / with the LayerNorm option).
    diff = np.abs(keras_logits - tflite_logits)
    print("TFLite vs Keras fake-quant |logit diff|: mean", diff.mean(), "p99",
          np.percentile(diff, 99), "max", diff.max())
    assert diff.mean() < 0.1 and np.percentile(diff, 99) < 1.0 and diff.max() < 2.0
    assert np.mean(keras_logits.argmax(-1) == tflite_logits.argmax(-1)) >= 0.97
    assert np.mean(tflite_logits.argmax(-1) == gold) > 0.75


def test_export_with_qat_steps_end_to_end(snips_model_dir, data_dir, tmp_path):
    out = str(tmp_path / "qat")
    report = exporter.export_tflite(
        snips_model_dir, out, quantization="full_int8", input_form="ids", sequence_length=L,
        data_dir=os.path.join(data_dir, "tasks"),
        num_representative_examples=100, measure_latency=False, qat_steps=10,
        qat_learning_rate=1e-4)
    with open(os.path.join(out, "export_report.json")) as f:
        assert json.load(f)["qat"] == json.loads(json.dumps(report["qat"]))
    qat = report["qat"]
    assert qat["steps"] == 10
    assert qat["ranges"]["folded"] >= 0.8 * qat["ranges"]["points"]
    assert qat["eval"]["tflite_vs_fake_quant_agreement"] >= 0.97
    assert abs(report["accuracy"]["tflite"] - qat["eval"]["keras_fake_quant_accuracy"]) <= 0.03
    # The report's Keras figure is the float model's, untouched by QAT.
    assert report["accuracy"]["keras"] == pytest.approx(
        load_task_model(snips_model_dir).config["eval"]["metrics"]["accuracy"], abs=1e-3)


@pytest.mark.parametrize("kwargs,message", [
    ({"quantization": "dynamic_int8"}, "full_int8"),
    ({"quantization": "full_int8", "attention_mask_margin": None}, "attention_mask_margin"),
    ({"quantization": "full_int8", "data_dir": None,
      "representative_data": __file__}, "--data_dir"),
])
def test_qat_bad_arguments_name_the_fix(snips_model_dir, data_dir, tmp_path, kwargs, message):
    kwargs.setdefault("data_dir", os.path.join(data_dir, "tasks"))
    with pytest.raises(ValueError, match=message):
        exporter.export_tflite(snips_model_dir, str(tmp_path / "x"), input_form="ids",
                               sequence_length=L, qat_steps=5, **kwargs)
    assert not os.path.exists(tmp_path / "x")
