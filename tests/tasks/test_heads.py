"""Heads and task models: shapes, config and .keras round trips on a tiny backbone."""

import keras
import keras_hub
import numpy as np
import pytest

from mixvocab_tf.tasks import heads


@pytest.fixture(scope="module")
def backbone():
    return keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16)


def _inputs(batch=3, length=8):
    rng = np.random.RandomState(0)
    mask = np.ones((batch, length), np.int32)
    mask[0, 5:] = 0
    return {"token_ids": rng.randint(1, 50, (batch, length)).astype(np.int32) * mask,
            "segment_ids": np.zeros((batch, length), np.int32), "padding_mask": mask}


def _check_round_trip_ignores_padding(model, tmp_path):
    """The saved model predicts as the built one, and extra padding (with garbage ids) leaves
    the masked poolings, hence the logits, unchanged."""
    x = _inputs()
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-6)
    padded = {k: np.pad(v, ((0, 0), (0, 4))) for k, v in x.items()}
    padded["token_ids"][:, -4:] = 7
    np.testing.assert_allclose(restored.predict(padded, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("task_type, num_labels", [
    ("classification", 4), ("pair_classification", 2), ("tagging", 5), ("response_selection", None)])
def test_task_model_round_trip(tmp_path, backbone, task_type, num_labels):
    model = heads.build_task_model(backbone, task_type, num_labels=num_labels, embedding_dim=8)
    x = _inputs()
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    actual = restored.predict(x, verbose=0)
    if task_type == "response_selection":
        for key in ("context_embedding", "response_embedding"):
            assert actual[key].shape == (3, 8)
            np.testing.assert_allclose(np.linalg.norm(actual[key], axis=-1), 1.0, rtol=1e-5)
            np.testing.assert_allclose(actual[key], expected[key], atol=1e-6)
    else:
        shape = (3, 8, num_labels) if task_type == "tagging" else (3, num_labels)
        assert actual.shape == shape
        np.testing.assert_allclose(actual, expected, atol=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "ngram"])
@pytest.mark.parametrize("task_type", ["classification", "pair_classification"])
def test_mean_pooled_classifier_round_trip_and_ignores_padding(tmp_path, backbone, task_type,
                                                               pooling):
    model = heads.build_task_model(backbone, task_type, num_labels=3, pooling=pooling)
    names = [layer.name for layer in model.layers]
    assert "mean_pooling" in names and ("ngram_pooling" in names) == (pooling == "ngram")
    # n-gram features: 2 widths x 128 filters beside the 16-wide mean.
    assert model.get_layer("classifier").dense.kernel.shape[0] == (
        16 + 256 if pooling == "ngram" else 16)
    _check_round_trip_ignores_padding(model, tmp_path)
    # "cls" reads the pooled [CLS] vector instead: a different function of the same encoder.
    cls_model = heads.build_task_model(backbone, task_type, num_labels=3, pooling="cls")
    assert "mean_pooling" not in [layer.name for layer in cls_model.layers]


@pytest.mark.parametrize("pooling, width", [("mean", 16), ("cls", 16), ("ngram", 16 + 256)])
def test_ngram_bag_joins_any_sentence_vector(tmp_path, backbone, pooling, width):
    model = heads.build_task_model(backbone, "classification", num_labels=3, pooling=pooling,
                                   ngram_bag_buckets=31, ngram_bag_dim=4)
    bag = model.get_layer("ngram_bag")
    assert (bag.vocabulary_size, bag.buckets, bag.dim) == (50, 31, 4)  # V from the encoder
    assert model.get_layer("classifier").dense.kernel.shape[0] == width + 4
    bag.table.embeddings.assign(np.random.RandomState(0).normal(size=(31, 4)))
    if pooling != "cls":  # [CLS] attends to the padding's ids in a keras-hub backbone
        _check_round_trip_ignores_padding(model, tmp_path)
    without = heads.build_task_model(backbone, "classification", num_labels=3, pooling=pooling)
    assert "ngram_bag" not in [layer.name for layer in without.layers]


def test_classification_pools_by_mean_by_default(backbone):
    # Measured better than [CLS] for the MiniLM teacher (SST-2) and a Stage II student (SNIPS).
    model = heads.build_task_model(backbone, "classification", num_labels=2)
    assert "mean_pooling" in [layer.name for layer in model.layers]


def test_unknown_pooling_is_clear(backbone):
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        heads.build_task_model(backbone, "classification", num_labels=2, pooling="max")


def test_mean_pooling_ignores_padding():
    sequence = np.arange(24, dtype=np.float32).reshape(1, 4, 6)
    mask = np.array([[1, 1, 0, 0]])
    pooled = heads.MaskedMeanPooling()(sequence, mask)
    np.testing.assert_allclose(pooled, sequence[:, :2].mean(1))


def test_dual_encoder_trainer_scores_contexts_against_responses(backbone):
    model = heads.build_task_model(backbone, "response_selection", embedding_dim=8)
    trainer = heads.build_dual_encoder_trainer(model, scale=5.0)
    a, b = _inputs(), _inputs(length=6)
    logits = trainer({**{"context_" + k: v for k, v in a.items()},
                      **{"response_" + k: v for k, v in b.items()}})
    context = model(a)["context_embedding"]
    response = model(b)["response_embedding"]
    np.testing.assert_allclose(logits, 5.0 * np.asarray(context) @ np.asarray(response).T, atol=1e-5)


def test_layer_configs_round_trip():
    for layer in (heads.ClassificationHead(3, dropout=0.2), heads.TaggingHead(7),
                  heads.ResponseEmbeddingHead(12), heads.InBatchSimilarity(7.0)):
        clone = layer.__class__.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_ngram_head_of_a_student_reads_its_embedding_output_too(tmp_path):
    from mixvocab_tf.models.student_encoder import StudentEncoder

    keras.utils.set_random_seed(0)
    student = StudentEncoder(vocabulary_size=50, num_layers=2, hidden_dim=16, num_heads=2,
                             intermediate_dim=32, max_sequence_length=16)
    model = heads.build_task_model(student, "classification", num_labels=3, pooling="ngram")
    # Convolutions over [embedding output ; last layer]: 2 x 16 input channels.
    convolution = model.get_layer("ngram_pooling").convolutions[0]
    assert convolution.kernel.shape == (2, 32, 128)
    hidden_states = student(_inputs())["hidden_states"]
    np.testing.assert_allclose(model.get_layer("embedding_output")(hidden_states),
                               np.asarray(hidden_states)[:, 0])
    _check_round_trip_ignores_padding(model, tmp_path)


def test_auto_pooling_is_ngram_for_a_student_and_mean_for_a_teacher(backbone):
    from mixvocab_tf.models.student_encoder import StudentEncoder

    student = StudentEncoder(vocabulary_size=50, num_layers=1, hidden_dim=16, num_heads=2,
                             intermediate_dim=32, max_sequence_length=16)
    assert heads.resolve_pooling("auto", student) == heads.resolve_pooling(None, student) == "ngram"
    assert heads.resolve_pooling("auto", backbone) == "mean"  # a keras-hub BertBackbone
    assert heads.resolve_pooling("cls", student) == "cls"
    with pytest.raises(ValueError, match="unknown pooling 'max'; expected 'auto'"):
        heads.resolve_pooling("max", student)
