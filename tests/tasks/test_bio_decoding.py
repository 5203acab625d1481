"""BIO-constrained Viterbi decoding: the best valid sequence (checked by enumerating every
sequence), argmax where argmax is already valid, truncated words read "O"."""

import itertools

import numpy as np
import pytest

from mixvocab_tf.tasks import tagging
from mixvocab_tf.tasks.bio_decoding import allowed_bio_transitions
from mixvocab_tf.tasks.bio_decoding import bio_viterbi
from mixvocab_tf.tasks.metrics import bio_spans

TAGS = ["O", "B-artist", "I-artist", "B-city", "I-city"]


def _valid(sequence):
    allowed, first = allowed_bio_transitions(TAGS)
    return first[sequence[0]] and all(allowed[a, b] for a, b in zip(sequence, sequence[1:]))


@pytest.mark.parametrize("words", [1, 2, 3, 4])
def test_viterbi_is_the_best_valid_sequence(words):
    rng = np.random.RandomState(words)
    for _ in range(25):
        logits = rng.normal(scale=2.0, size=(words, len(TAGS)))
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        best = max((s for s in itertools.product(range(len(TAGS)), repeat=words) if _valid(s)),
                   key=lambda s: sum(log_probs[w, t] for w, t in enumerate(s)))
        path = bio_viterbi(logits, TAGS)
        assert _valid(path) and tuple(path) == best
        if _valid(tuple(logits.argmax(-1))):
            assert path == list(logits.argmax(-1))


def test_an_orphan_inside_tag_becomes_a_span_or_nothing():
    # Argmax reads "O I-artist": conlleval would score a one-word artist span.
    logits = np.array([[2.0, 1.5, 0, 0, 0], [0, 0, 3.0, 0, 0]])
    assert [TAGS[i] for i in logits.argmax(-1)] == ["O", "I-artist"]
    path = [TAGS[i] for i in bio_viterbi(logits, TAGS)]
    assert path == ["B-artist", "I-artist"] and bio_spans(path) == [("artist", 0, 2)]
    # A sentence may not start inside a span; ties go to the lower tag id.
    assert bio_viterbi(np.array([[0, 0, 5.0, 0, 0]]), TAGS) == [0]
    assert bio_viterbi(np.zeros((0, len(TAGS))), TAGS) == []


def test_word_predictions_decode_each_sentence_and_fill_truncated_words():
    token_logits = np.zeros((1, 4, len(TAGS)))
    token_logits[0, 1] = [2.0, 1.5, 0, 0, 0]
    token_logits[0, 2] = [0, 0, 3.0, 0, 0]
    starts = np.array([[1, 2, -1]])
    assert tagging.word_predictions(token_logits, starts, [3], fill=0) == [[0, 2, 0]]
    assert tagging.word_predictions(token_logits, starts, [3], fill=0, tags=TAGS) == [[1, 2, 0]]
