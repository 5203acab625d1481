"""Tests for tools/convert_bert_checkpoint.py, the absl binary.

A small random BERT (real WordPiece vocabulary, MLM head) is written in the
original Google format; the binary converts it, in a subprocess as a user runs
it, and the preset must load back to the same outputs.
"""

import os
import subprocess
import sys

import keras_hub
import numpy as np
import pytest

from mixvocab_tf import load_teacher
from mixvocab_tf.models import bert_checkpoint
from mixvocab_tf.models import teacher as teacher_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "convert_bert_checkpoint.py")
VOCABULARY_SIZE = 2000


@pytest.fixture(scope="module")
def tool(load_script):
    return load_script("tools/convert_bert_checkpoint.py")


@pytest.fixture(scope="module")
def tiny_teacher(data_dir):
    with open(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")) as f:
        vocabulary = f.read().splitlines()[:VOCABULARY_SIZE]
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY_SIZE, num_layers=2, num_heads=4, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64,
    )
    head = teacher_lib.build_masked_lm_head(backbone, "gelu_tanh", 1e-12)
    rng = np.random.default_rng(3)
    for variable in head.trainable_variables:  # Not the initial zeros and ones.
        if variable is not backbone.token_embedding.embeddings:
            variable.assign(rng.normal(0, 0.3, variable.shape))
    return teacher_lib.Teacher(
        backbone=backbone, vocabulary=vocabulary, lower_case=True,
        masked_lm_head=head, source_format="keras_hub",
    )


@pytest.fixture(scope="module")
def google_dir(tiny_teacher, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ckpt") / "tiny_bert")
    bert_checkpoint.save_google_checkpoint(tiny_teacher, path)
    return path


def tiny_inputs():
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, VOCABULARY_SIZE, (3, 12)).astype("int32")
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    ids[2, 8:] = 0
    return {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": (ids > 0).astype("int32"),
    }


def test_binary_round_trip(tiny_teacher, google_dir, tmp_path):
    out = str(tmp_path / "preset")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, TOOL, f"--checkpoint_dir={google_dir}", f"--output_dir={out}"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2x32" in result.stdout and "MLM head kept" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["preset"]  # Renamed into place.

    converted = load_teacher(out)
    assert converted.source_format == "keras_hub"
    assert converted.vocabulary == tiny_teacher.vocabulary
    inputs = tiny_inputs()
    expected = tiny_teacher.backbone(inputs)
    for key in ("sequence_output", "pooled_output"):
        actual = np.asarray(converted.backbone(inputs)[key])
        diff = np.abs(actual - np.asarray(expected[key]))
        assert diff.max() <= 1e-5
    positions = np.array([[1, 4], [2, 3], [5, 6]], "int32")
    diff = np.abs(
        np.asarray(converted.masked_lm_logits(inputs, positions))
        - np.asarray(tiny_teacher.masked_lm_logits(inputs, positions))
    )
    assert diff.max() <= 1e-5
    # keras-hub alone reads the backbone.
    backbone = keras_hub.models.BertBackbone.from_preset(out)
    np.testing.assert_array_equal(
        backbone.token_embedding.embeddings.numpy(),
        tiny_teacher.backbone.token_embedding.embeddings.numpy(),
    )


def run_main(tool, *argv):
    tool.FLAGS.unparse_flags()
    tool.FLAGS(["convert_bert_checkpoint", *argv])
    return tool.main(["convert_bert_checkpoint"])


def test_existing_output_needs_overwrite(tool, google_dir, tmp_path, capsys):
    out = str(tmp_path / "preset")
    os.makedirs(out)
    code = run_main(tool, f"--checkpoint_dir={google_dir}", f"--output_dir={out}")
    assert code == 1
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(out) == []
    code = run_main(
        tool, f"--checkpoint_dir={google_dir}", f"--output_dir={out}", "--overwrite"
    )
    assert code == 0 and "config.json" in os.listdir(out)


def test_bad_checkpoint_dir_is_one_clear_line(tool, tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "vocab.txt").write_text("[PAD]\n")
    code = run_main(
        tool,
        f"--checkpoint_dir={tmp_path / 'ckpt'}",
        f"--output_dir={tmp_path / 'out'}",
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and "bert_config.json" in err and "Fix:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
