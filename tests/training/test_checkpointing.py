"""fit_resumable restores weights, step and optimizer moments from the newest checkpoint."""

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf.training import checkpointing


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_a_rerun_restores_weights_step_and_adam_moments(tmp_path):
    rng = np.random.RandomState(0)
    batches = tf.data.Dataset.from_tensors(
        (rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32))
    ).repeat()
    trained = _model(seed=0)
    checkpointing.fit_resumable(trained, batches, 10, str(tmp_path), steps_per_loop=5, verbose=0)
    moments = [v for v in trained.optimizer.variables if "momentum" in v.path
               or "velocity" in v.path]
    assert moments and all(np.abs(v.numpy()).sum() > 0 for v in moments)

    # A fresh model, other initial weights and zero moments: the same call finds the run done
    # at step 10, restores everything and trains nothing.
    fresh = _model(seed=1)
    assert not np.allclose(fresh.get_weights()[0], trained.get_weights()[0])
    history = checkpointing.fit_resumable(fresh, batches, 10, str(tmp_path), steps_per_loop=5,
                                          verbose=0)
    assert history.history == {}
    assert int(fresh.optimizer.iterations.numpy()) == 10
    for restored, original in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(restored, original)
    for restored, original in zip(fresh.optimizer.variables, trained.optimizer.variables):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
