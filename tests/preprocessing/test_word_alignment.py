"""Word alignment: the same ids as SingleVocabPreprocessor, first sub-tokens found."""

import os

import numpy as np
import pytest

from mixvocab_tf.models.student_directory import read_vocabulary
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.preprocessing.word_alignment import WordAligner
from mixvocab_tf.tasks import readers


@pytest.fixture(scope="module")
def vocabulary(minilm_path):
    return read_vocabulary(os.path.join(minilm_path, "vocab.txt"))


@pytest.mark.parametrize("normalization", ["bert", "mediapipe"])
def test_ids_equal_the_preprocessor_on_real_slot_data(data_dir, vocabulary, normalization):
    examples = readers.read_intent_dir(
        os.path.join(data_dir, "tasks", "snips", "valid"), with_tags=True).take(400)
    aligner = WordAligner(vocabulary, lower_case=True, sequence_length=24,
                          normalization=normalization)
    # Chunks of 64 sentences: rows are placed across chunks too.
    encoded = aligner.encode([t.split() for t in examples.texts], batch_size=64)
    reference = SingleVocabPreprocessor(vocabulary, lower_case=True, sequence_length=24,
                                        normalization=normalization)(np.array(examples.texts))
    np.testing.assert_array_equal(encoded["token_ids"], np.asarray(reference["token_ids"]))
    np.testing.assert_array_equal(encoded["padding_mask"],
                                  np.asarray(reference["padding_mask"]).astype(np.int32))
    # Every kept word starts at a token that is not a "##" continuation, in increasing order.
    truncated = 0
    for row, text in enumerate(examples.texts):
        starts = encoded["word_starts"][row, :len(text.split())]
        kept = starts[starts >= 0]
        truncated += len(starts) - len(kept)
        assert np.all(np.diff(kept) > 0) and (len(kept) == 0 or kept[0] == 1)
        assert all(not vocabulary[encoded["token_ids"][row, p]].startswith("##") for p in kept)
        assert np.all(starts[len(kept):] == -1)  # only a suffix is cut off
    assert truncated > 0  # L = 24 truncates some SNIPS sentences: the path is exercised


def test_empty_sentences_and_words_that_normalise_to_nothing(vocabulary):
    aligner = WordAligner(vocabulary, lower_case=True, sequence_length=8)
    index = {token: i for i, token in enumerate(vocabulary)}
    encoded = aligner.encode([[], ["play", "\u0301", "jazz"], []])
    cls, sep, unk = index["[CLS]"], index["[SEP]"], index["[UNK]"]
    np.testing.assert_array_equal(encoded["token_ids"][0][:3], [cls, sep, index["[PAD]"]])
    # The lone combining mark keeps its slot as [UNK], so "jazz" is still the third word.
    np.testing.assert_array_equal(encoded["token_ids"][1][:5],
                                  [cls, index["play"], unk, index["jazz"], sep])
    np.testing.assert_array_equal(encoded["word_starts"], [[-1, -1, -1], [1, 2, 3], [-1, -1, -1]])
    np.testing.assert_array_equal(encoded["padding_mask"].sum(1), [2, 5, 2])
    assert aligner.word_pieces([["play", "jazz"], []]) == [[[index["play"]], [index["jazz"]]], []]
    assert aligner.encode([[], []])["token_ids"][:, :2].tolist() == [[cls, sep], [cls, sep]]
