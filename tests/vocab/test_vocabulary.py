"""Vocabulary: special ids by name, file round trip, clear errors."""

import os

import pytest

from mixvocab_tf.vocab import RESERVED_TOKENS
from mixvocab_tf.vocab import Vocabulary


def test_teacher_special_ids(minilm_path, data_dir):
    vocab = Vocabulary.load(os.path.join(minilm_path, "vocab.txt"))
    assert vocab.size == 30522
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (0, 100, 101, 102, 103)
    assert vocab == Vocabulary.load(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    # [unusedN] tokens count as special: a random replacement never draws them.
    assert 1 in vocab.special_ids and 103 in vocab.special_ids and 1996 not in vocab.special_ids


def test_student_layout_and_atomic_save(tmp_path):
    vocab = Vocabulary(list(RESERVED_TOKENS) + ["the", "##s"], lower_case=False)
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (0, 1, 2, 3, 4)
    path = vocab.save(tmp_path / "sub" / "vocab.txt")
    assert os.listdir(tmp_path / "sub") == ["vocab.txt"]  # no temp file left behind
    assert Vocabulary.load(path, lower_case=False) == vocab
    assert Vocabulary.load(tmp_path / "sub", lower_case=False) == vocab  # a directory works too
    assert vocab.token_to_id("absent") == vocab.unk_id


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["[PAD]", "[UNK]", "[CLS]", "[SEP]"], r"lacks .*\[MASK\]"),
        (list(RESERVED_TOKENS) + ["a", "a"], "appears twice"),
        (list(RESERVED_TOKENS) + ["a b"], "whitespace"),
        ([], "empty"),
    ],
)
def test_bad_vocabularies(tokens, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary(tokens)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        Vocabulary.load(tmp_path / "nope.txt")
    bad = tmp_path / "vocab.txt"
    bad.write_text("[PAD]\n[UNK]\n")
    with pytest.raises(ValueError, match=str(bad)):
        Vocabulary.load(bad)
