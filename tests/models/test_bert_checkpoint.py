"""Tests for the Google BERT checkpoint conversion.

The Google-format checkpoint is written here, independently of the library's
mapping: MiniLM's Hugging Face tensors renamed to the original
`google-research/bert` variable names (torch Linear weights transposed) and
saved with a TF1 `Saver`, plus a random `cls/predictions` MLM head. Loading it
must reproduce keras-hub's own `BertBackbone.from_preset` of the Hugging Face
directory, and the head must reproduce BERT's `cls/predictions` in numpy.
"""

import json
import os
import shutil

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from safetensors import safe_open

from mixvocab_tf.models import bert_checkpoint
from mixvocab_tf.models import teacher as teacher_lib
from mixvocab_tf.models.teacher_loading import load_teacher

NUM_SENTENCES = 24
HEAD_SEED = 1234


def hf_to_google_name(key):
    """`encoder.layer.3.attention.self.query.weight` -> `bert/.../query/kernel`."""
    name = key.replace("encoder.layer.", "encoder/layer_").replace(".", "/")
    leaf = {"weight": "kernel", "bias": "bias"}
    parts = name.split("/")
    if parts[-2] == "LayerNorm":
        parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
    elif parts[-2].endswith("_embeddings"):
        parts = parts[:-1]  # bert/embeddings/word_embeddings has no leaf.
    else:
        parts[-1] = leaf[parts[-1]]
    return "bert/" + "/".join(parts)


def write_google_checkpoint(hf_dir, out_dir, head_rng=None):
    """Writes MiniLM in the original Google BERT format; returns the tensors."""
    os.makedirs(out_dir, exist_ok=True)
    tensors = {}
    with safe_open(os.path.join(hf_dir, "model.safetensors"), "np") as f:
        for key in f.keys():
            if key.endswith("position_ids"):
                continue
            value = f.get_tensor(key)
            name = hf_to_google_name(key)
            if name.endswith("/kernel"):
                value = value.T  # torch Linear (out, in) -> TF (in, out).
            tensors[name] = value
    with open(os.path.join(hf_dir, "config.json")) as f:
        hf_config = json.load(f)
    hidden, vocab = hf_config["hidden_size"], hf_config["vocab_size"]
    if head_rng is not None:
        tensors.update(
            {
                "cls/predictions/transform/dense/kernel": head_rng.normal(
                    0, 0.05, (hidden, hidden)
                ),
                "cls/predictions/transform/dense/bias": head_rng.normal(
                    0, 0.1, hidden
                ),
                "cls/predictions/transform/LayerNorm/gamma": 1
                + head_rng.normal(0, 0.1, hidden),
                "cls/predictions/transform/LayerNorm/beta": head_rng.normal(
                    0, 0.1, hidden
                ),
                "cls/predictions/output_bias": head_rng.normal(0, 0.5, vocab),
                # The NSP head and optimizer slots of a real release, ignored.
                "cls/seq_relationship/output_weights": head_rng.normal(
                    0, 0.02, (2, hidden)
                ),
                "bert/embeddings/word_embeddings/adam_m": np.zeros((vocab, hidden)),
            }
        )
    tensors = {k: np.asarray(v, np.float32) for k, v in tensors.items()}
    tensors["global_step"] = np.array(1000, np.int64)
    saver = tf.compat.v1.train.Saver(
        var_list={name: tf.Variable(value) for name, value in tensors.items()}
    )
    saver.save(None, os.path.join(out_dir, "bert_model.ckpt"), write_meta_graph=False)
    config = {
        key: hf_config[key]
        for key in (
            "attention_probs_dropout_prob",
            "hidden_act",
            "hidden_dropout_prob",
            "hidden_size",
            "initializer_range",
            "intermediate_size",
            "max_position_embeddings",
            "num_attention_heads",
            "num_hidden_layers",
            "type_vocab_size",
            "vocab_size",
        )
    }
    with open(os.path.join(out_dir, "bert_config.json"), "w") as f:
        json.dump(config, f)
    shutil.copy(os.path.join(hf_dir, "vocab.txt"), out_dir)
    return tensors


def snips_inputs(data_dir, vocab_path, count=NUM_SENTENCES):
    """Real SNIPS utterances as padded BERT inputs (tensorflow-text tokenizer)."""
    with open(os.path.join(data_dir, "tasks", "snips", "valid", "seq.in")) as f:
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
    assert (ids == vocab.index("[UNK]")).mean() < 0.02  # Real words, real pieces.
    return {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": (ids > 0).astype("int32"),
    }


def numpy_cls_predictions(sequence, positions, tensors):
    """BERT's `cls/predictions` (google-research/bert run_pretraining.py)."""
    x = np.take_along_axis(sequence, positions[..., None], axis=1).astype(np.float64)
    x = x @ tensors["cls/predictions/transform/dense/kernel"] + tensors[
        "cls/predictions/transform/dense/bias"
    ]
    # modeling.gelu: the tanh approximation.
    x = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    x = (x - mean) / np.sqrt(var + 1e-12)
    x = x * tensors["cls/predictions/transform/LayerNorm/gamma"] + tensors[
        "cls/predictions/transform/LayerNorm/beta"
    ]
    logits = x @ tensors["bert/embeddings/word_embeddings"].T.astype(np.float64)
    return logits + tensors["cls/predictions/output_bias"]


@pytest.fixture(scope="module")
def google_dir(minilm_path, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("google") / "minilm_google")
    tensors = write_google_checkpoint(
        minilm_path, path, head_rng=np.random.default_rng(HEAD_SEED)
    )
    return path, tensors


@pytest.fixture(scope="module")
def inputs(data_dir, minilm_path):
    return snips_inputs(data_dir, os.path.join(minilm_path, "vocab.txt"))


@pytest.fixture(scope="module")
def reference(minilm_path, inputs):
    backbone = keras_hub.models.BertBackbone.from_preset(minilm_path)
    return {k: np.asarray(v) for k, v in backbone(inputs).items()}


@pytest.fixture(scope="module")
def loaded(google_dir):
    return bert_checkpoint.load_google_checkpoint(google_dir[0])


def mask_positions(inputs, count=4, seed=0):
    rng = np.random.default_rng(seed)
    lengths = inputs["padding_mask"].sum(1)
    return np.stack(
        [
            np.sort(rng.choice(np.arange(1, n - 1), count, replace=False))
            for n in lengths
        ]
    ).astype("int32")


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def test_google_checkpoint_matches_keras_hub_huggingface_loader(
    loaded, inputs, reference
):
    assert loaded.source_format == "google_checkpoint"
    assert loaded.lower_case is True
    assert len(loaded.vocabulary) == 30522 and loaded.vocabulary[101] == "[CLS]"
    outputs = loaded.backbone(inputs)
    for key in ("sequence_output", "pooled_output"):
        assert max_diff(outputs[key], reference[key]) <= 1e-5, key


def test_mlm_head_reproduces_bert_cls_predictions(
    loaded, google_dir, inputs, reference
):
    tensors = google_dir[1]
    positions = mask_positions(inputs)
    logits = np.asarray(loaded.masked_lm_logits(inputs, positions))
    expected = numpy_cls_predictions(reference["sequence_output"], positions, tensors)
    assert logits.shape == (NUM_SENTENCES, 4, 30522)
    # float32 against a float64 reference (measured 5.5e-6, logits up to ~7).
    assert max_diff(logits, expected) <= 5e-5
    # The head is tied: it reads the backbone's token embedding, not a copy.
    assert loaded.masked_lm_head.token_embedding is loaded.backbone.token_embedding
    # A head with keras-hub's BertMaskedLM defaults (erf GELU, epsilon 1e-5)
    # would be measurably different: the check above can fail.
    default_head = teacher_lib.build_masked_lm_head(loaded.backbone, "gelu", 1e-5)
    teacher_lib._copy_head_weights(loaded.masked_lm_head, default_head)
    sequence = loaded.backbone(inputs)["sequence_output"]
    assert max_diff(default_head(sequence, positions), expected) > 1e-4


def test_convert_writes_preset_that_loads_back(
    google_dir, loaded, inputs, reference, tmp_path
):
    preset = str(tmp_path / "preset")
    bert_checkpoint.convert_bert_checkpoint(google_dir[0], preset)
    assert os.path.isfile(os.path.join(preset, "task.json"))
    assert [p for p in os.listdir(tmp_path) if p != "preset"] == []  # No temp left.
    converted = load_teacher(preset)
    assert converted.source_format == "keras_hub"
    assert converted.vocabulary == loaded.vocabulary
    assert converted.lower_case is True
    outputs = converted.backbone(inputs)
    for key in ("sequence_output", "pooled_output"):
        assert max_diff(outputs[key], reference[key]) <= 1e-5
    positions = mask_positions(inputs)
    assert max_diff(
        converted.masked_lm_logits(inputs, positions),
        loaded.masked_lm_logits(inputs, positions),
    ) == 0.0
    # A plain keras-hub task preset: keras-hub alone loads the same weights.
    task = keras_hub.models.BertMaskedLM.from_preset(preset, preprocessor=None)
    np.testing.assert_array_equal(
        task.masked_lm_head._bias.numpy(), loaded.masked_lm_head._bias.numpy()
    )
    with pytest.raises(FileExistsError, match="already exists"):
        bert_checkpoint.convert_bert_checkpoint(google_dir[0], preset)


def test_save_google_checkpoint_round_trip(loaded, google_dir, inputs, tmp_path):
    out = str(tmp_path / "again")
    bert_checkpoint.save_google_checkpoint(loaded, out)
    reader = tf.train.load_checkpoint(os.path.join(out, "bert_model.ckpt"))
    for name in ("bert/encoder/layer_5/attention/self/key/kernel",
                 "cls/predictions/output_bias"):
        np.testing.assert_array_equal(reader.get_tensor(name), google_dir[1][name])
    again = bert_checkpoint.load_google_checkpoint(out)
    assert max_diff(
        again.backbone(inputs)["sequence_output"],
        loaded.backbone(inputs)["sequence_output"],
    ) == 0.0


def test_checkpoint_without_head_loads_without_head(
    minilm_path, tmp_path, inputs, reference
):
    path = str(tmp_path / "no_head")
    write_google_checkpoint(minilm_path, path)
    teacher = load_teacher(path)
    assert teacher.masked_lm_head is None
    assert max_diff(teacher.backbone(inputs)["pooled_output"],
                    reference["pooled_output"]) <= 1e-5
    with pytest.raises(ValueError, match="no MLM head"):
        teacher.masked_lm_logits(inputs, mask_positions(inputs))


def copy_without(google_dir, tmp_path, *skip):
    path = tmp_path / "partial"
    path.mkdir()
    for name in os.listdir(google_dir):
        if name not in skip:
            os.symlink(os.path.join(google_dir, name), path / name)
    return str(path)


@pytest.mark.parametrize(
    "missing, named",
    [
        ("vocab.txt", "vocab.txt"),
        ("bert_config.json", "bert_config.json"),
        ("bert_model.ckpt.index", "bert_model.ckpt.index"),
        ("bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.data"),
    ],
)
def test_missing_file_is_named(google_dir, tmp_path, missing, named):
    path = copy_without(google_dir[0], tmp_path, missing)
    if missing == "bert_config.json":
        # Without its config the directory is no teacher format at all.
        with pytest.raises(teacher_lib.TeacherLoadError, match=named):
            load_teacher(path)
        with pytest.raises(teacher_lib.TeacherFileNotFoundError, match=named):
            bert_checkpoint.load_google_checkpoint(path)
        return
    with pytest.raises(teacher_lib.TeacherLoadError, match=named) as error:
        load_teacher(path)
    assert "Fix:" in str(error.value)
    assert isinstance(error.value, FileNotFoundError)


def test_wrong_directory(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("notes.txt", "weights.bin", "model.ckpt"):
        (tmp_path / name).write_bytes(rng.bytes(64))
    with pytest.raises(
        teacher_lib.TeacherLoadError, match="not a BERT teacher"
    ) as error:
        load_teacher(str(tmp_path))
    assert "bert_config.json" in str(error.value) and "Fix:" in str(error.value)
    with pytest.raises(teacher_lib.TeacherFileNotFoundError, match="bert_config.json"):
        bert_checkpoint.convert_bert_checkpoint(str(tmp_path), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_shape_mismatch_names_config_and_sizes(google_dir, tmp_path):
    path = copy_without(google_dir[0], tmp_path, "bert_config.json")
    with open(os.path.join(google_dir[0], "bert_config.json")) as f:
        config = json.load(f)
    config["hidden_size"] = 256
    with open(os.path.join(path, "bert_config.json"), "w") as f:
        json.dump(config, f)
    with pytest.raises(teacher_lib.TeacherLoadError, match="Shape mismatch") as error:
        load_teacher(path)
    message = str(error.value)
    assert "bert_config.json" in message and "hidden_size=384" in message
    assert "(30522, 384)" in message and "(30522, 256)" in message


def test_infer_lower_case(data_dir):
    with open(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")) as f:
        uncased = [line.rstrip("\n") for line in f]
    assert teacher_lib.infer_lower_case(uncased)  # [CLS], [UNK] ... don't count.
    cased = uncased[:2000] + ["Paris", "##ES"]
    assert not teacher_lib.infer_lower_case(cased)
