"""StudentEncoder: sizes against the BERT formula and keras-hub-style round trips."""

import os

import keras
import numpy as np
import pytest

from mixvocab_tf.models.student_encoder import STUDENT_SIZES
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.models.student_encoder import bert_parameter_count

TINY = dict(
    vocabulary_size=50,
    num_layers=2,
    hidden_dim=16,
    num_heads=2,
    intermediate_dim=32,
    max_sequence_length=24,
)


def _inputs(batch=3, length=12, vocabulary_size=50, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, length + 1, size=batch)
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype("int32")
    return {
        "token_ids": (rng.integers(5, vocabulary_size, (batch, length)) * mask).astype("int32"),
        "segment_ids": (rng.integers(0, 2, (batch, length)) * mask).astype("int32"),
        "padding_mask": mask,
    }


@pytest.mark.parametrize("name", sorted(STUDENT_SIZES))
def test_named_sizes_match_bert_formula(name):
    student = StudentEncoder.from_size(name, vocabulary_size=5000)
    size = STUDENT_SIZES[name]
    expected = bert_parameter_count(
        5000, size.num_layers, size.hidden_dim, size.intermediate_dim
    )
    assert student.count_params() == expected
    assert (student.num_layers, student.hidden_dim) == (size.num_layers, size.hidden_dim)


def test_12x128_is_about_3_1_million_parameters():
    # METHOD.md: a 12x128 student with a 5K vocabulary has about 3.1M parameters.
    count = StudentEncoder.from_size("12x128", vocabulary_size=5000).count_params()
    assert 3.0e6 < count < 3.2e6


def test_factorised_embedding_matches_formula():
    student = StudentEncoder(embedding_dim=8, **TINY)
    expected = bert_parameter_count(
        50, 2, 16, 32, embedding_dim=8, max_sequence_length=24
    )
    assert student.count_params() == expected
    assert student.token_embedding.embeddings.shape == (50, 8)


def test_unknown_size_names_the_choices():
    for name in ("huge", "3x", "0x64"):
        with pytest.raises(ValueError, match="12x128"):
            StudentEncoder.from_size(name, vocabulary_size=100)


def test_any_layers_x_hidden_is_a_size():
    # Unnamed sizes (tests, the README's tiny runs): 64-wide heads where possible, FFN 4H.
    student = StudentEncoder.from_size("2x32", vocabulary_size=100)
    assert (student.num_layers, student.hidden_dim, student.num_heads,
            student.intermediate_dim) == (2, 32, 1, 128)
    assert StudentEncoder.from_size("4x256", vocabulary_size=100).num_heads == 4


def test_indivisible_heads_is_a_clear_error():
    with pytest.raises(ValueError, match="num_heads"):
        StudentEncoder(**{**TINY, "num_heads": 3})


def test_output_shapes_and_hidden_states():
    student = StudentEncoder(output_attention_scores=True, **TINY)
    outputs = student(_inputs())
    assert outputs["sequence_output"].shape == (3, 12, 16)
    assert outputs["pooled_output"].shape == (3, 16)
    assert outputs["hidden_states"].shape == (3, 3, 12, 16)
    assert outputs["attention_scores"].shape == (3, 2, 2, 12, 12)
    # The last hidden state is the sequence output.
    np.testing.assert_allclose(
        outputs["hidden_states"][:, -1], outputs["sequence_output"], atol=0
    )
    # Attention rows are distributions that ignore padding.
    scores = keras.ops.convert_to_numpy(outputs["attention_scores"])
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    mask = _inputs()["padding_mask"]
    assert np.all(scores * (1 - mask)[:, None, None, None, :] < 1e-6)


def test_variable_sequence_lengths():
    student = StudentEncoder(**TINY)
    for length in (1, 7, 24):
        outputs = student(_inputs(length=length) if length > 1 else {
            "token_ids": np.full((2, 1), 2, "int32"),
            "segment_ids": np.zeros((2, 1), "int32"),
            "padding_mask": np.ones((2, 1), "int32"),
        })
        assert outputs["sequence_output"].shape[1] == length


def test_padding_does_not_change_real_positions():
    student = StudentEncoder(dropout=0.0, **{k: v for k, v in TINY.items()})
    inputs = _inputs(batch=1, length=8)
    inputs["padding_mask"][:] = 1
    short = student(inputs)["sequence_output"]
    padded = {k: np.pad(v, ((0, 0), (0, 4))) for k, v in inputs.items()}
    long = student(padded)["sequence_output"]
    np.testing.assert_allclose(short, long[:, :8], atol=1e-5)


def test_get_config_round_trip():
    student = StudentEncoder(embedding_dim=8, output_attention_scores=True, **TINY)
    config = student.get_config()
    clone = StudentEncoder.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == student.count_params()


def test_keras_save_and_reload_gives_identical_outputs(tmp_path):
    student = StudentEncoder(embedding_dim=8, **TINY)
    inputs = _inputs()
    expected = student(inputs)
    path = os.path.join(tmp_path, "student.keras")
    student.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, StudentEncoder)
    actual = restored(inputs)
    for key in expected:
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(expected[key]),
            keras.ops.convert_to_numpy(actual[key]),
        )


def test_mixed_float16_policy():
    student = StudentEncoder(dtype="mixed_float16", **TINY)
    outputs = student(_inputs())
    assert outputs["sequence_output"].dtype == "float16"
    assert student.token_embedding.embeddings.dtype == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs["pooled_output"])))


def test_one_fit_step_changes_weights_and_lowers_loss():
    keras.utils.set_random_seed(1)
    student = StudentEncoder(dropout=0.0, **TINY)
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    segment = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
    mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    pooled = student({"token_ids": inputs, "segment_ids": segment, "padding_mask": mask})[
        "pooled_output"
    ]
    classifier = keras.Model(
        {"token_ids": inputs, "segment_ids": segment, "padding_mask": mask},
        keras.layers.Dense(2)(pooled),
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    data = _inputs(batch=8)
    labels = (data["token_ids"][:, 0] % 2).astype("int32")
    before = student.token_embedding.embeddings.numpy().copy()
    history = classifier.fit(data, labels, epochs=5, batch_size=8, verbose=0)
    assert not np.allclose(before, student.token_embedding.embeddings.numpy())
    assert history.history["loss"][-1] < history.history["loss"][0]
