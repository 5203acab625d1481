"""Tests for `load_teacher` on Hugging Face and keras-hub preset directories.

(Google checkpoints are tested in test_bert_checkpoint.py.)
"""

import json
import math
import os

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from safetensors import safe_open
from safetensors.numpy import save_file

from mixvocab_tf import load_teacher
from mixvocab_tf.models import teacher as teacher_lib


def snips_inputs(data_dir, vocab_path, count=24):
    """Real SNIPS utterances as padded BERT inputs (tensorflow-text tokenizer)."""
    with open(os.path.join(data_dir, "tasks", "snips", "train", "seq.in")) as f:
        sentences = [line.strip() for line in f][:count]
    with open(vocab_path) as f:
        vocab = [line.rstrip("\n") for line in f]
    tokenizer = tf_text.BertTokenizer(
        vocab_path, lower_case=True, token_out_type=tf.int32
    )
    pieces = tokenizer.tokenize(sentences).merge_dims(1, 2)
    cls = tf.fill([len(sentences), 1], vocab.index("[CLS]"))
    sep = tf.fill([len(sentences), 1], vocab.index("[SEP]"))
    ids = tf.concat([cls, pieces, sep], axis=1).to_tensor(0).numpy()
    assert ids.shape[1] > 10 and (ids == vocab.index("[UNK]")).mean() < 0.02
    return {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": (ids > 0).astype("int32"),
    }


@pytest.fixture(scope="module")
def inputs(data_dir, minilm_path):
    return snips_inputs(data_dir, os.path.join(minilm_path, "vocab.txt"))


@pytest.fixture(scope="module")
def reference(minilm_path, inputs):
    backbone = keras_hub.models.BertBackbone.from_preset(minilm_path)
    return {k: np.asarray(v) for k, v in backbone(inputs).items()}


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return load_teacher(minilm_path)


def link_dir(source, target, names):
    os.makedirs(target)
    for name in names:
        os.symlink(os.path.join(source, name), os.path.join(target, name))
    return str(target)


def test_minilm_equals_keras_hub_from_preset_exactly(
    minilm, minilm_path, inputs, reference
):
    assert minilm.source_format == "huggingface"
    assert isinstance(minilm.backbone, keras_hub.models.BertBackbone)
    assert minilm.lower_case is True  # tokenizer_config.json do_lower_case.
    with open(os.path.join(minilm_path, "vocab.txt")) as f:
        assert minilm.vocabulary == [line.rstrip("\n") for line in f]
    assert minilm.masked_lm_head is None  # all-MiniLM-L6-v2 ships no MLM head.
    outputs = minilm.backbone(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(np.asarray(outputs[key]), reference[key])
    # Padding does not leak: a sentence alone gives its batched outputs.
    n = int(inputs["padding_mask"][0].sum())
    alone = minilm.backbone({k: v[:1, :n] for k, v in inputs.items()})
    np.testing.assert_allclose(
        np.asarray(alone["sequence_output"])[0], reference["sequence_output"][0, :n],
        atol=1e-5,
    )


def test_lower_case_inferred_without_tokenizer_config(minilm_path, tmp_path):
    path = link_dir(
        minilm_path, tmp_path / "hf", ["config.json", "model.safetensors", "vocab.txt"]
    )
    assert load_teacher(path).lower_case is True


def test_huggingface_mlm_head_is_loaded(minilm_path, tmp_path, inputs, reference):
    # A BertForMaskedLM-style file: encoder under "bert.", head under "cls.".
    path = link_dir(minilm_path, tmp_path / "mlm", ["config.json", "vocab.txt"])
    rng = np.random.default_rng(7)
    tensors = {}
    with safe_open(os.path.join(minilm_path, "model.safetensors"), "np") as f:
        for key in f.keys():
            tensors["bert." + key] = f.get_tensor(key)
    head = {
        "cls.predictions.transform.dense.weight": rng.normal(0, 0.05, (384, 384)),
        "cls.predictions.transform.dense.bias": rng.normal(0, 0.1, 384),
        "cls.predictions.transform.LayerNorm.weight": 1 + rng.normal(0, 0.1, 384),
        "cls.predictions.transform.LayerNorm.bias": rng.normal(0, 0.1, 384),
        "cls.predictions.bias": rng.normal(0, 0.5, 30522),
    }
    tensors.update({k: v.astype(np.float32) for k, v in head.items()})
    save_file(tensors, os.path.join(path, "model.safetensors"))

    teacher = load_teacher(path)
    assert teacher.masked_lm_head is not None
    np.testing.assert_array_equal(
        np.asarray(teacher.backbone(inputs)["sequence_output"]),
        reference["sequence_output"],
    )
    positions = np.tile(np.array([[1, 2, 3]], "int32"), (len(inputs["token_ids"]), 1))
    logits = np.asarray(teacher.masked_lm_logits(inputs, positions))

    # transformers' BertLMPredictionHead: torch Linear (x W^T + b), exact GELU
    # (config hidden_act "gelu"), LayerNorm(eps=layer_norm_eps), tied decoder.
    x = reference["sequence_output"][:, 1:4].astype(np.float64)
    x = x @ head["cls.predictions.transform.dense.weight"].T
    x = x + head["cls.predictions.transform.dense.bias"]
    erf = np.vectorize(math.erf)
    x = 0.5 * x * (1 + erf(x / np.sqrt(2)))
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    x = x * head["cls.predictions.transform.LayerNorm.weight"]
    x = x + head["cls.predictions.transform.LayerNorm.bias"]
    embeddings = tensors["bert.embeddings.word_embeddings.weight"]
    expected = x @ embeddings.T.astype(np.float64)
    expected = expected + head["cls.predictions.bias"]
    # float32 against a float64 reference (measured 5.5e-6, logits up to ~7).
    assert np.max(np.abs(logits - expected)) <= 5e-5


def test_keras_hub_preset_round_trip(minilm, tmp_path, inputs, reference):
    preset = str(tmp_path / "preset")
    minilm.save_to_preset(preset)
    assert sorted(os.listdir(tmp_path)) == ["preset"]  # Atomic: no temp left.
    teacher = load_teacher(preset)
    assert teacher.source_format == "keras_hub"
    assert teacher.vocabulary == minilm.vocabulary
    assert teacher.lower_case is True and teacher.masked_lm_head is None
    outputs = teacher.backbone(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(np.asarray(outputs[key]), reference[key])
    with pytest.raises(FileExistsError, match="already exists"):
        minilm.save_to_preset(preset)
    minilm.save_to_preset(preset, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["preset"]


def test_missing_path(tmp_path):
    with pytest.raises(teacher_lib.TeacherFileNotFoundError, match="does not exist"):
        load_teacher(str(tmp_path / "nowhere"))


def test_file_instead_of_directory(minilm_path):
    with pytest.raises(teacher_lib.TeacherLoadError, match="is a file"):
        load_teacher(os.path.join(minilm_path, "vocab.txt"))


def test_wrong_directory(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("a.bin", "b.txt"):
        (tmp_path / name).write_bytes(rng.bytes(100))
    with pytest.raises(teacher_lib.TeacherLoadError, match="not a BERT teacher") as e:
        load_teacher(str(tmp_path))
    assert "config.json" in str(e.value) and "Fix:" in str(e.value)


def test_huggingface_missing_weights_and_vocab(minilm_path, tmp_path):
    path = link_dir(minilm_path, tmp_path / "a", ["config.json", "vocab.txt"])
    with pytest.raises(teacher_lib.TeacherFileNotFoundError, match="model.safetensors"):
        load_teacher(path)
    path = link_dir(minilm_path, tmp_path / "b", ["config.json", "model.safetensors"])
    with pytest.raises(teacher_lib.TeacherFileNotFoundError, match="vocab.txt") as e:
        load_teacher(path)
    assert isinstance(e.value, FileNotFoundError)


def test_huggingface_vocabulary_size_mismatch(minilm_path, tmp_path):
    path = link_dir(minilm_path, tmp_path / "v", ["config.json", "model.safetensors"])
    with open(os.path.join(minilm_path, "vocab.txt")) as f:
        tokens = f.read().splitlines()[:5000]
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    with pytest.raises(teacher_lib.TeacherLoadError, match="5000 tokens") as e:
        load_teacher(path)
    assert "vocab_size=30522" in str(e.value)


def test_huggingface_shape_mismatch(minilm_path, tmp_path):
    path = link_dir(minilm_path, tmp_path / "s", ["model.safetensors", "vocab.txt"])
    with open(os.path.join(minilm_path, "config.json")) as f:
        config = json.load(f)
    config["hidden_size"] = 256
    config["num_attention_heads"] = 8
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with pytest.raises(teacher_lib.TeacherLoadError, match="Shape mismatch") as e:
        load_teacher(path)
    assert "model.safetensors" in str(e.value) and "config.json" in str(e.value)
    assert "(30522, 384)" in str(e.value) and "(30522, 256)" in str(e.value)


def test_keras_hub_preset_of_another_model(tmp_path):
    backbone = keras_hub.models.DistilBertBackbone(
        vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=4,
        intermediate_dim=8, max_sequence_length=8,
    )
    backbone.save_to_preset(str(tmp_path))
    with pytest.raises(
        teacher_lib.TeacherLoadError, match="not a keras_hub BertBackbone"
    ):
        load_teacher(str(tmp_path))


def test_keras_hub_masked_lm_preset_keeps_its_head(data_dir, tmp_path):
    # A task preset written by keras-hub itself (no mlm_head_config.json): the
    # teacher's head is keras-hub's BertMaskedLM head, numerics included.
    with open(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")) as f:
        vocabulary = f.read().splitlines()[:1000]
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=1000, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16,
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=False)
    task = keras_hub.models.BertMaskedLM(
        backbone, preprocessor=keras_hub.models.BertMaskedLMPreprocessor(tokenizer)
    )
    task.masked_lm_head._bias.assign(np.random.default_rng(0).normal(size=1000))
    task.save_to_preset(str(tmp_path / "p"))
    teacher = load_teacher(str(tmp_path / "p"))
    assert teacher.lower_case is False and teacher.vocabulary == vocabulary
    ids = np.array([[101, 500, 600, 700, 102]], "int32")
    inputs = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": 1 + 0 * ids}
    positions = np.array([[1, 3]], "int32")
    expected = task({**inputs, "mask_positions": positions})
    np.testing.assert_allclose(
        teacher.masked_lm_logits(inputs, positions), expected, atol=1e-6
    )


@pytest.mark.parametrize("config_text, error, message", [
    ('{"hidden_size": 384, ', teacher_lib.TeacherLoadError, "is not valid JSON"),
    ('["a list"]', teacher_lib.TeacherLoadError, "must hold a JSON object"),
    ('{"model_type": "roberta", "hidden_size": 768}', teacher_lib.TeacherLoadError,
     "model_type='roberta'.*BERT models only"),
])
def test_huggingface_bad_config_is_named(minilm_path, tmp_path, config_text, error, message):
    path = link_dir(minilm_path, tmp_path / "c", ["model.safetensors", "vocab.txt"])
    with open(os.path.join(path, "config.json"), "w", encoding="utf-8") as f:
        f.write(config_text)
    with pytest.raises(error, match=message) as e:
        load_teacher(path)
    assert "Fix:" in str(e.value) or "JSON object" in str(e.value)


def test_a_folder_with_pytorch_weights_only_says_how_to_convert(minilm_path, tmp_path):
    path = link_dir(minilm_path, tmp_path / "pt", ["config.json", "vocab.txt"])
    with open(os.path.join(path, "pytorch_model.bin"), "wb") as f:
        f.write(b"not read")
    with pytest.raises(teacher_lib.TeacherFileNotFoundError,
                       match="pytorch_model.bin only.*save_pretrained"):
        load_teacher(path)
