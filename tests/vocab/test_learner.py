"""learn_vocabulary and vocabulary_statistics on real text."""

import os

import pytest

from mixvocab_tf.vocab import RESERVED_TOKENS
from mixvocab_tf.vocab import Vocabulary
from mixvocab_tf.vocab import count_words
from mixvocab_tf.vocab import learn_vocabulary
from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics


@pytest.fixture(scope="module")
def snips(data_dir):
    with open(os.path.join(data_dir, "tasks/snips/train/seq.in"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@pytest.fixture(scope="module")
def teacher(minilm_path):
    return Vocabulary.load(os.path.join(minilm_path, "vocab.txt"))


@pytest.mark.parametrize("size", [400, 900])
def test_size_within_two_percent(snips, size):
    counts = count_words(snips[:4000])
    tokens = learn_vocabulary(None, vocab_size=size, word_counts=counts)
    assert abs(len(tokens) - size) <= 0.02 * size, len(tokens)
    assert tuple(tokens[:5]) == RESERVED_TOKENS
    assert len(set(tokens)) == len(tokens)
    assert not any(any(c.isspace() for c in t) for t in tokens)
    Vocabulary(tokens)  # well-formed


def test_statistics(snips, teacher):
    tokens = learn_vocabulary(snips[:4000], vocab_size=800)
    held_out = snips[-500:]
    stats = vocabulary_statistics(tokens, teacher, held_out)
    assert stats["held_out_lines"] == 500
    assert stats["student_words"] == stats["teacher_words"] > 3000
    # Few words outside the learned alphabet; a small vocabulary needs more pieces.
    assert stats["unknown_token_rate"] < 0.01
    assert 1.0 <= stats["teacher_pieces_per_word"] < stats["student_pieces_per_word"] < 3.0
    assert 0.5 < stats["student_tokens_in_teacher"] <= 1.0
    same = vocabulary_statistics(teacher, teacher, held_out)
    assert same["student_tokens_in_teacher"] == 1.0
    assert same["student_pieces_per_word"] == same["teacher_pieces_per_word"]


def test_lower_case_follows_teacher(embedded_data_dir):
    with open(os.path.join(embedded_data_dir, "corpus/wordnet_glosses.txt"), encoding="utf-8") as f:
        lines = [next(f) for _ in range(300)]
    cased, uncased = count_words(lines, lower_case=False), count_words(lines, lower_case=True)
    assert any(w != w.lower() for w in cased) and all(w == w.lower() for w in uncased)
    assert sum(cased.values()) == sum(uncased.values())
    assert count_words(["Café naïve"], lower_case=True) == {"cafe": 1, "naive": 1}
    assert count_words(["Café naïve"], lower_case=False) == {"Café": 1, "naïve": 1}


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.6])
def test_threshold_search_needs_few_trials(exponent):
    from mixvocab_tf.vocab.learner import _next_threshold

    # Vocabulary size as a power of the threshold, as on real corpora; word counts Zipfian.
    counts = [(f"w{i}", int(1e6 / (i + 1))) for i in range(100_000)]
    size = lambda t: int(5000 * (300 / t) ** exponent) + 50  # noqa: E731
    tried, lo, hi = {}, 1, counts[0][1]
    for trials in range(1, 15):
        t = _next_threshold(tried, lo, hi, 5000, counts)
        tried[t] = size(t)
        if abs(tried[t] - 5000) <= 100:
            break
        lo, hi = (t, hi) if tried[t] > 5000 else (lo, t)
    assert abs(tried[t] - 5000) <= 100 and trials <= 6, tried


def test_errors():
    with pytest.raises(ValueError, match="No words"):
        learn_vocabulary(["", "   "], vocab_size=100)
    with pytest.raises(ValueError, match="vocab_size"):
        learn_vocabulary(["a b"], vocab_size=3)
    with pytest.raises(ValueError, match="within 2%"):
        learn_vocabulary(["tiny text here"], vocab_size=5000)
