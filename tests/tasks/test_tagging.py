"""Tag targets and word predictions at each word's first sub-token."""

import os

import numpy as np
import pytest

from mixvocab_tf.preprocessing.word_alignment import WordAligner
from mixvocab_tf.tasks import tagging
from mixvocab_tf.models.student_directory import read_vocabulary


@pytest.fixture(scope="module")
def vocabulary(minilm_path):
    return read_vocabulary(os.path.join(minilm_path, "vocab.txt"))


def test_accents_and_punctuation_inside_a_word(vocabulary):
    aligner = WordAligner(vocabulary, lower_case=True, sequence_length=16)
    encoded = aligner.encode([["Clásicos", "it's", "ok"], ["clasicos", "it", "'", "s", "ok"]])
    tokens = [vocabulary[i] for i in encoded["token_ids"][0] if i]
    # Accents stripped, "it's" split at the apostrophe: the same ids as the plain spelling.
    np.testing.assert_array_equal(encoded["token_ids"][0], encoded["token_ids"][1])
    starts = encoded["word_starts"][0][:3]
    assert [tokens[p] for p in starts] == ["cl", "it", "ok"] and tokens[2].startswith("##")
    assert encoded["word_starts"][1].tolist()[:5] == [1] + starts[1:2].tolist() + [
        starts[1] + 1, starts[1] + 2, starts[2]]
    labels, weights = tagging.tag_targets(encoded["word_starts"][:1], [[3, 0, 5]], 16)
    assert labels[0, starts].tolist() == [3, 0, 5] and weights.sum() == 3
    logits = np.zeros((1, 16, 6))
    logits[0, starts, [3, 0, 5]] = 1.0
    assert tagging.word_predictions(logits, encoded["word_starts"][:1], [3]) == [[3, 0, 5]]
