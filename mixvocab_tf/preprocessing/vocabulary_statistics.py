"""How a student vocabulary segments text, against the teacher's.

Measured with the same tokenizer the preprocessing layer runs
(`FastBertNormalizer` + `FastWordpieceTokenizer`):

* `unknown_token_rate`: share of words the student vocabulary maps to [UNK];
* `teacher_unknown_token_rate`: the same for the teacher vocabulary;
* `student_pieces_per_word`, `teacher_pieces_per_word`: mean WordPieces a word;
* `student_tokens_in_teacher`: share of the student's non-reserved tokens
  that are also teacher tokens (~94% in the paper).

`vocabulary_statistics` measures one list of held-out lines;
`evaluation_set_statistics` measures several named sets (a task's dev split,
held-out Wikipedia ...) and gives the same figures for each.

Example:

>>> stats = vocabulary_statistics(student_tokens, teacher_tokens, lines)  # doctest: +SKIP
>>> stats["student_pieces_per_word"], stats["teacher_pieces_per_word"]  # doctest: +SKIP
>>> per_set = evaluation_set_statistics(  # doctest: +SKIP
...     student_tokens, teacher_tokens, {"sst2_dev": sentences, "wikipedia": paragraphs})
>>> per_set["sst2_dev"]["student_pieces_per_word"]  # doctest: +SKIP
"""

import tensorflow as tf

from mixvocab_tf.preprocessing.normalization import WordPieceSegmenter
from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import as_vocabulary

# Whose vocabulary segments the text: the prefix of every figure's key.
_SIDES = ("student", "teacher")


def _piece_counter(vocab, lower_case, normalization, batch_size):
    """`count(lines) -> (pieces, words, unknown words)` under `vocab`'s segmentation."""
    segmenter = WordPieceSegmenter(vocab.tokens, lower_case, normalization)
    unk_id = vocab.unk_id

    # One trace for every batch size (the sets' last batches differ).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def counts(text):
        flat = segmenter.segment(text).flat_values
        words = tf.reduce_sum(tf.cast(segmenter.word_starts(flat), tf.int64))
        unks = tf.reduce_sum(tf.cast(tf.equal(flat, unk_id), tf.int64))
        return tf.size(flat, out_type=tf.int64), words, unks

    def count(lines):
        pieces = words = unks = 0
        for start in range(0, len(lines), batch_size):
            p, w, u = counts(tf.constant(lines[start:start + batch_size], dtype=tf.string))
            pieces, words, unks = pieces + int(p), words + int(w), unks + int(u)
        return pieces, words, unks

    return count


def _segmentation_figures(counters, lines):
    """Pieces, words, unknown words and their rates, for each side's counter."""
    figures = {}
    for side in _SIDES:
        pieces, words, unks = counters[side](lines)
        figures[f"{side}_pieces"] = pieces
        figures[f"{side}_words"] = words
        figures[f"{side}_pieces_per_word"] = pieces / max(words, 1)
        figures[f"{side}_unknown_words"] = unks
    figures["unknown_token_rate"] = (
        figures["student_unknown_words"] / max(figures["student_words"], 1))
    figures["teacher_unknown_token_rate"] = (
        figures["teacher_unknown_words"] / max(figures["teacher_words"], 1))
    return figures


def _counters(student, teacher, lower_case, normalization, batch_size):
    return {side: _piece_counter(vocab, lower_case, normalization, batch_size)
            for side, vocab in zip(_SIDES, (student, teacher))}


def vocabulary_statistics(student_vocabulary, teacher_vocabulary, lines, lower_case=True,
                          normalization="bert", batch_size=1024):
    """Measures a student vocabulary against the teacher's on `lines`.

    Args:
      student_vocabulary, teacher_vocabulary: token lists, vocab.txt paths or
        `Vocabulary` objects.
      lines: held-out text, a list of str.
      lower_case: the teacher's casing.
      normalization: "bert" or "mediapipe".

    Returns:
      a dict of floats and ints (JSON-serialisable).
    """
    student = as_vocabulary(student_vocabulary, lower_case)
    teacher = as_vocabulary(teacher_vocabulary, lower_case)
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("No held-out text to measure on. Fix: pass some non-empty lines.")
    stats = {"held_out_lines": len(lines), "student_vocab_size": student.size,
             "teacher_vocab_size": teacher.size}
    stats.update(_segmentation_figures(
        _counters(student, teacher, lower_case, normalization, batch_size), lines))
    own = [t for t in student.tokens if t not in RESERVED_TOKENS]
    stats["student_tokens_in_teacher"] = sum(t in teacher for t in own) / max(len(own), 1)
    return stats


def evaluation_set_statistics(student_vocabulary, teacher_vocabulary, named_lines,
                              lower_case=True, normalization="bert", batch_size=1024):
    """Measures a student vocabulary against the teacher's on each of several named sets.

    Example:

    >>> per_set = evaluation_set_statistics(  # doctest: +SKIP
    ...     "vocab.txt", teacher_tokens, {"snips_valid": utterances, "wikipedia": paragraphs})
    >>> per_set["wikipedia"]["unknown_token_rate"]  # doctest: +SKIP

    Args:
      student_vocabulary, teacher_vocabulary: token lists, vocab.txt paths or
        `Vocabulary` objects.
      named_lines: a mapping from each set's name to its text, a list of str.
      lower_case: the teacher's casing.
      normalization: "bert" or "mediapipe".

    Returns:
      {name: figures} in the order of `named_lines`; a set's figures are
      `vocabulary_statistics`' per-text ones (`lines`, pieces per word, unknown
      rates and the counts behind them), JSON-serialisable.

    Raises:
      ValueError: a set without a non-empty line (the message names it).
    """
    student = as_vocabulary(student_vocabulary, lower_case)
    teacher = as_vocabulary(teacher_vocabulary, lower_case)
    named_lines = {name: [line for line in lines if line.strip()]
                   for name, lines in named_lines.items()}
    for name, lines in named_lines.items():
        if not lines:
            raise ValueError(f"Evaluation set {name!r} has no text. Fix: pass non-empty lines.")
    counters = _counters(student, teacher, lower_case, normalization, batch_size)
    return {name: {"lines": len(lines), **_segmentation_figures(counters, lines)}
            for name, lines in named_lines.items()}
