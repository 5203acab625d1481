"""`vocabulary_statistics`: how a student vocabulary segments held-out text.

Measured with the same tokenizer the preprocessing layer runs
(`FastBertNormalizer` + `FastWordpieceTokenizer`):

* `unknown_token_rate`: share of words the student vocabulary maps to [UNK];
* `teacher_unknown_token_rate`: the same for the teacher vocabulary;
* `student_pieces_per_word`, `teacher_pieces_per_word`: mean WordPieces a word;
* `student_tokens_in_teacher`: share of the student's non-reserved tokens
  that are also teacher tokens (~94% in the paper).

Example:

>>> stats = vocabulary_statistics(student_tokens, teacher_tokens, lines)  # doctest: +SKIP
>>> stats["student_pieces_per_word"]  # doctest: +SKIP
1.31
"""

import tensorflow as tf

from mixvocab_tf.preprocessing.normalization import WordPieceSegmenter
from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import as_vocabulary


def _segment_counts(segmenter, lines, batch_size):
    unk_id = segmenter.unk_id

    @tf.function
    def counts(text):
        flat = segmenter.segment(text).flat_values
        words = tf.reduce_sum(tf.cast(segmenter.word_starts(flat), tf.int64))
        unks = tf.reduce_sum(tf.cast(tf.equal(flat, unk_id), tf.int64))
        return tf.size(flat, out_type=tf.int64), words, unks

    pieces = words = unks = 0
    for start in range(0, len(lines), batch_size):
        p, w, u = counts(tf.constant(lines[start:start + batch_size], dtype=tf.string))
        pieces, words, unks = pieces + int(p), words + int(w), unks + int(u)
    return pieces, words, unks


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
    for name, vocab in (("student", student), ("teacher", teacher)):
        segmenter = WordPieceSegmenter(vocab.tokens, lower_case, normalization)
        segmenter.unk_id = vocab.unk_id
        pieces, words, unks = _segment_counts(segmenter, lines, batch_size)
        stats[f"{name}_pieces"] = pieces
        stats[f"{name}_words"] = words
        stats[f"{name}_pieces_per_word"] = pieces / max(words, 1)
        stats[f"{name}_unknown_words"] = unks
    stats["unknown_token_rate"] = stats["student_unknown_words"] / max(stats["student_words"], 1)
    stats["teacher_unknown_token_rate"] = stats["teacher_unknown_words"] / max(stats["teacher_words"], 1)
    own = [t for t in student.tokens if t not in RESERVED_TOKENS]
    stats["student_tokens_in_teacher"] = sum(t in teacher for t in own) / max(len(own), 1)
    return stats
