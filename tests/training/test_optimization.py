"""build_for_fit: one trace of the train step, and the same training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.training.optimization import build_for_fit
from mixvocab_tf.training.optimization import create_optimizer


def _fit(prebuild, two_outputs):
    """Fits a small dropout classifier on batches of two widths (as length bucketing gives);
    returns (train-step traces, weights after fit, metrics right after the build)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Embedding(50, 8)(inputs)
    hidden = keras.layers.Dropout(0.3)(keras.layers.GlobalAveragePooling1D()(hidden))
    logits = keras.layers.Dense(3)(hidden)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(48, 7)).astype(np.int32)
    labels = rng.integers(0, 3, size=48).astype(np.int32)
    if two_outputs:  # task distillation's shape: a loss tracker per output, no metrics
        model = keras.Model(inputs, {"hard": keras.layers.Identity(name="hard")(logits),
                                     "soft": keras.layers.Identity(name="soft")(logits)})
        model.compile(optimizer=create_optimizer(1e-2, 12),
                      loss={"hard": keras.losses.SparseCategoricalCrossentropy(True),
                            "soft": keras.losses.KLDivergence()})
        y = {"hard": labels, "soft": np.full((48, 3), 1 / 3, np.float32)}
    else:  # fine-tuning's shape: one output and a metric
        model = keras.Model(inputs, logits)
        model.compile(optimizer=create_optimizer(1e-2, 12),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["sparse_categorical_accuracy"])
        y = labels
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(
        lambda a, b: (a[:, :tf.random.uniform((), 3, 8, dtype=tf.int32, seed=1)], b))
    after_build = None
    if prebuild:
        build_for_fit(model, x, y)
        after_build = {k: float(v) for k, v in model.get_metrics_result().items()}
    traces = []
    step = model.train_step

    def counted(batch):
        traces.append(1)
        return step(batch)

    model.train_step = counted
    model.fit(data.repeat(), steps_per_epoch=6, epochs=2, verbose=0)
    return len(traces), [w.numpy() for w in model.weights], after_build


@pytest.mark.parametrize("two_outputs", [False, True])
def test_build_for_fit_leaves_one_trace_and_trains_the_same(two_outputs):
    deferred_traces, deferred_weights, _ = _fit(False, two_outputs)
    built_traces, built_weights, after_build = _fit(True, two_outputs)
    # Keras 3 outside a strategy scope: the first trace creates the optimizer's, loss
    # trackers' and metrics' variables, so TensorFlow traces the step again.
    assert deferred_traces == 2
    assert built_traces == 1
    assert after_build and set(after_build.values()) == {0.0}  # metrics reset
    for deferred, built in zip(deferred_weights, built_weights, strict=True):
        np.testing.assert_array_equal(deferred, built)
