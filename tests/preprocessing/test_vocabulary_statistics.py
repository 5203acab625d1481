"""evaluation_set_statistics: a vocabulary measured on named sets of real text."""

import os

import pytest

from mixvocab_tf.preprocessing.vocabulary_statistics import evaluation_set_statistics
from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics
from mixvocab_tf.vocab import Vocabulary
from mixvocab_tf.vocab import learn_vocabulary


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@pytest.fixture(scope="module")
def texts(data_dir, embedded_data_dir):
    """Utterances and Python documentation, each split into learning and evaluation text."""
    snips = _lines(os.path.join(data_dir, "tasks", "snips", "train", "seq.in"))
    docs = _lines(os.path.join(embedded_data_dir, "corpus", "python_docs.txt"))
    return {"snips": (snips[:3000], snips[-500:]), "docs": (docs[:3000], docs[-500:])}


@pytest.fixture(scope="module")
def teacher(minilm_path):
    return Vocabulary.load(os.path.join(minilm_path, "vocab.txt"))


def test_own_text_needs_fewer_pieces(texts, teacher):
    eval_sets = {name: evaluation for name, (_, evaluation) in texts.items()}
    per_vocabulary = {
        name: evaluation_set_statistics(learn_vocabulary(learning, vocab_size=600), teacher,
                                        eval_sets)
        for name, (learning, _) in texts.items()}
    for learned_on, per_set in per_vocabulary.items():
        assert list(per_set) == ["snips", "docs"]
        for name, figures in per_set.items():
            assert figures["lines"] == 500
            assert figures["student_words"] == figures["teacher_words"] > 2000
            assert 1.0 <= figures["teacher_pieces_per_word"] < figures["student_pieces_per_word"]
            assert 0.0 <= figures["unknown_token_rate"] < 1.0
        assert per_set[learned_on]["unknown_token_rate"] < 0.01
    # Each set is segmented in fewer pieces by the vocabulary learned on its own kind of text.
    for name, other in (("snips", "docs"), ("docs", "snips")):
        own = per_vocabulary[name][name]["student_pieces_per_word"]
        assert own < 0.95 * per_vocabulary[other][name]["student_pieces_per_word"]
        assert (per_vocabulary[name][name]["unknown_token_rate"]
                <= per_vocabulary[other][name]["unknown_token_rate"])
        assert (per_vocabulary[name][name]["teacher_pieces_per_word"]
                == per_vocabulary[other][name]["teacher_pieces_per_word"])


def test_a_set_has_the_held_out_figures(texts, teacher):
    learning, evaluation = texts["snips"]
    tokens = learn_vocabulary(learning, vocab_size=600)
    figures = evaluation_set_statistics(tokens, teacher, {"valid": evaluation})["valid"]
    held_out = vocabulary_statistics(tokens, teacher, evaluation)
    assert figures["lines"] == held_out["held_out_lines"]
    for key, value in figures.items():
        if key != "lines":
            assert held_out[key] == value, key


def test_an_empty_set_is_named(teacher):
    with pytest.raises(ValueError, match="'blank' has no text"):
        evaluation_set_statistics(teacher, teacher, {"some": ["a line"], "blank": ["", "  "]})
