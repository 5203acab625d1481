"""Tokenizer test vectors, and the Android demo's Java tokenizer against them (JVM, JUnit 4)."""

import base64
import os

import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.export.test_vectors import EDGE_CASE_TEXTS
from mixvocab_tf.export.test_vectors import write_test_vectors
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.vocab import Vocabulary

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "android_demo", "app")


@pytest.fixture(scope="module")
def bert_vocab_path(data_dir):
    return os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")


@pytest.fixture(scope="module")
def texts(data_dir):
    with open(os.path.join(data_dir, "tasks", "snips", "valid", "seq.in"), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f] + list(EDGE_CASE_TEXTS)


def test_vectors_round_trip(bert_vocab_path, texts, tmp_path):
    vocabulary = Vocabulary.load(bert_vocab_path)
    path = str(tmp_path / "vectors.tsv")
    assert write_test_vectors(path, vocabulary, texts[-20:], sequence_length=16) == 20
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "# sequence_length=16 lower_case=true normalization=bert"
    expected = SingleVocabPreprocessor(vocabulary, sequence_length=16)(
        tf.constant([t.encode("utf-8") for t in texts[-20:]]))
    for i, line in enumerate(lines[1:]):
        text, ids, mask = line.split("\t")
        assert base64.b64decode(text).decode("utf-8") == texts[-20:][i]
        np.testing.assert_array_equal([int(x) for x in ids.split()], expected["token_ids"][i])
        np.testing.assert_array_equal([int(x) for x in mask.split()],
                                      expected["padding_mask"][i].numpy().astype(int))
    with pytest.raises(ValueError, match="no texts"):
        write_test_vectors(path, vocabulary, [], sequence_length=16)


@pytest.mark.parametrize("sequence_length,lower_case,normalization", [
    (32, True, "bert"), (128, True, "bert"), (32, False, "bert"), (32, True, "mediapipe")])
def test_java_core_tests_pass_and_tokenizer_matches_every_vector(
        bert_vocab_path, texts, tmp_path, run_java_core, sequence_length, lower_case,
        normalization):
    # lower_case=False runs the cased normalisation (no case folding or accent stripping) on
    # the uncased vocabulary: real ids for lower-case text, [UNK] elsewhere.
    vectors = str(tmp_path / "vectors.tsv")
    write_test_vectors(vectors, Vocabulary.load(bert_vocab_path, lower_case=lower_case), texts,
                       sequence_length, lower_case=lower_case, normalization=normalization)
    result = run_java_core({"vocab": bert_vocab_path, "vectors": vectors})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "OK (11 tests)" in result.stdout


def test_app_replies_cover_every_snips_intent(data_dir):
    with open(os.path.join(data_dir, "tasks", "snips", "train", "label"), encoding="utf-8") as f:
        intents = {line.strip() for line in f if line.strip()}
    replies = os.path.join(APP, "src", "main", "assets", "replies.tsv")
    with open(replies, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    assert all(len(row) == 2 and row[1] for row in rows)
    reserved = {"<out_of_scope>", "<empty>", "<too_long>", "<no_known_word>"}
    assert {row[0] for row in rows} == intents | reserved
    # Every intent ends with a template that needs no slot: an intent-only model can answer.
    last = {row[0]: row[1] for row in rows}
    assert all("{" not in last[intent] for intent in intents)
