"""Masked-LM masking of ids from one or two vocabularies.

BERT's recipe: a share (`masking_rate`, 15%) of the real tokens ([CLS],
[SEP] and padding never) is selected, at most `max_predictions` a sequence;
of those, 80% become [MASK], 10% a random token, 10% stay. The [MASK] and
the random token come from the vocabulary that segmented the selected token:
a student piece gets the student [MASK] or a random student token, a teacher
piece the teacher's.

Two selections:

* `mask_pieces` (token masking): every visible piece is selected
  independently with probability `masking_rate` (so the count a sequence is
  binomial, as in dynamic masking); where more than `max_predictions` are
  selected, a cyclic window of them starting at a random selected piece is
  kept, so no position is favoured. It works on the flat piece stream before
  padding: a few draws and small ops a sequence, no sort and no [B, L] op,
  which is what a `tf.data` map pays for.
* `mask_whole_words`: all pieces of a selected word are masked together;
  words are taken in random order until round(rate * tokens) would overflow.
  Works on the packed [B, L] ids.

Outputs follow keras-hub's `MaskedLMMaskGenerator`: `mask_positions` int32
[B, P] (increasing), `mask_ids` int32 [B, P] (the original ids, the labels)
and `mask_weights` float32 [B, P] (1 for a real prediction, 0 for padding).

Example:

>>> ids, outputs = mask_pieces(ids, row_splits, ..., generator=generator,
...                            teacher=teacher_ids, student=None)  # doctest: +SKIP
"""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class VocabularyIds:
    """What masking needs to know of one vocabulary, in joint-space ids."""

    mask_id: int
    # Ids a random replacement draws from (the vocabulary without [..] tokens).
    random_ids: tuple


def _replacements(labels, selected, action, pick, at_student, teacher, student,
                  mask_token_rate, random_token_rate):
    """80/10/10: the new id of each token (`labels` where not selected).

    `action` and `pick` are uniform draws on [0, 1) of the same shape.
    """
    use_mask = selected & (action < mask_token_rate)
    use_random = selected & ~use_mask & (action < mask_token_rate + random_token_rate)
    n_teacher = len(teacher.random_ids)
    if student is None:
        table = tf.constant(teacher.random_ids, tf.int32)
        mask_value = tf.constant(teacher.mask_id, tf.int32)
        random_index = tf.minimum(tf.cast(pick * n_teacher, tf.int32), n_teacher - 1)
    else:
        # One table: the teacher's random ids, then the student's.
        table = tf.constant(teacher.random_ids + student.random_ids, tf.int32)
        mask_value = tf.where(at_student, student.mask_id, teacher.mask_id)
        size = tf.where(at_student, len(student.random_ids), n_teacher)
        random_index = tf.minimum(tf.cast(pick * tf.cast(size, tf.float32), tf.int32), size - 1)
        random_index += tf.where(at_student, n_teacher, 0)
    random_value = tf.gather(table, random_index)
    return tf.where(use_mask, mask_value, tf.where(use_random, random_value, labels))


def mask_pieces(
    ids,
    row_splits,
    visible_count,
    first_column,
    num_sequences,
    is_student,
    generator,
    teacher,
    student,
    masking_rate=0.15,
    max_predictions=20,
    mask_token_rate=0.8,
    random_token_rate=0.1,
):
    """Masks the flat pieces of N rows that pack into `num_sequences` sequences.

    Row r is packed into sequence r mod `num_sequences` (a pair's segment b
    rows follow the segment a rows), from column `first_column[r]` on, and
    only its first `visible_count[r]` pieces (truncation) can be masked.

    Args:
      ids: int32 [T] joint-space ids of all rows, row after row.
      row_splits: int [N + 1] row boundaries in `ids`.
      visible_count: int32 [N], pieces of each row that survive truncation.
      first_column: int32 [N], packed column of each row's first piece.
      num_sequences: B, a scalar (N is B or 2B).
      is_student: bool [T] (the piece is a student piece) or None.
      generator: a `tf.random.Generator`.
      teacher: `VocabularyIds` of the teacher vocabulary.
      student: `VocabularyIds` of the student vocabulary, or None.
      masking_rate: probability that a visible piece is selected.
      max_predictions: P, the most predictions a sequence.
      mask_token_rate: share of predictions replaced by [MASK].
      random_token_rate: share replaced by a random token.

    Returns:
      (masked ids int32 [T], dict of mask_positions, mask_ids, mask_weights [B, P]).
    """
    n_pieces = tf.shape(ids)[0]
    piece = tf.range(n_pieces)
    row_splits = tf.cast(row_splits, tf.int32)
    n_rows = tf.shape(row_splits)[0] - 1
    row = tf.raw_ops.UpperBound(sorted_inputs=row_splits[None, 1:], values=piece[None, :])[0]
    index_in_row = piece - tf.gather(row_splits, row)
    sequence = tf.math.floormod(row, num_sequences)
    zeros = tf.zeros([num_sequences], tf.int32)

    def count_by_row(flags):
        """(count of `flags` before each piece in its sequence, count a sequence)."""
        flags = tf.cast(flags, tf.int32)
        before = tf.cumsum(flags, exclusive=True)
        at_splits = tf.gather(tf.concat([before, [tf.reduce_sum(flags)]], 0), row_splits)
        per_row = at_splits[1:] - at_splits[:-1]
        # A segment-b row follows its segment-a row in the sequence.
        offset = tf.concat([zeros, per_row], 0)[:n_rows] - at_splits[:-1]
        padded = tf.concat([per_row, zeros], 0)
        per_sequence = padded[:num_sequences] + padded[num_sequences : 2 * num_sequences]
        return before + tf.gather(offset, row), per_sequence

    # One stateful draw: selection (divided by the rate, also the 80/10/10
    # action), the random token, and each sequence's window start.
    draws = generator.uniform([2 * n_pieces + num_sequences])
    select_draw, pick_draw = draws[:n_pieces], draws[n_pieces : 2 * n_pieces]
    selected = (index_in_row < tf.gather(visible_count, row)) & (select_draw < masking_rate)
    rank, per_sequence = count_by_row(selected)
    # Over budget, keep P consecutive selected pieces (cyclically) from a
    # random one on: every selected piece is kept with equal chance. The
    # window is ranks [start, start + tail) and, wrapped around, [0, head).
    total = tf.gather(per_sequence, sequence)
    start = tf.cast(tf.gather(draws[2 * n_pieces :], sequence) * tf.cast(total, tf.float32), tf.int32)
    start = tf.where(total > max_predictions, start, 0)
    tail = tf.minimum(total - start, max_predictions)
    head = tf.where(total > max_predictions, max_predictions - tail, 0)
    keep = selected & ((rank < head) | ((rank >= start) & (rank < start + tail)))
    # Slot = kept pieces before this one in column (= rank) order.
    slot = tf.where(rank < start, rank, rank - start + head)

    kept = tf.where(keep)[:, 0]
    column = tf.gather(index_in_row + tf.gather(first_column, row), kept)
    labels = tf.gather(ids, kept)
    packed = tf.scatter_nd(
        tf.stack([tf.gather(sequence, kept), tf.gather(slot, kept)], 1),
        tf.stack([column, labels, tf.ones_like(labels)], 1),
        tf.stack([num_sequences, max_predictions, 3]))
    outputs = {
        "mask_positions": packed[:, :, 0],
        "mask_ids": packed[:, :, 1],
        "mask_weights": tf.cast(packed[:, :, 2], tf.float32),
    }
    masked = _replacements(ids, keep, select_draw / masking_rate, pick_draw, is_student,
                           teacher, student, mask_token_rate, random_token_rate)
    return masked, outputs


def mask_whole_words(
    token_ids,
    candidates,
    word_ids,
    is_student,
    generator,
    teacher,
    student,
    masking_rate=0.15,
    max_predictions=20,
    mask_token_rate=0.8,
    random_token_rate=0.1,
):
    """Whole-word masking of packed ids.

    Args:
      token_ids: int32 [B, L] joint-space ids.
      candidates: bool [B, L], tokens that may be masked (not special, not pad).
      word_ids: int32 [B, L], an id per word, unique within the batch (any
        value where `candidates` is False).
      is_student: bool [B, L], the token came from the student vocabulary, or None.
      generator, teacher, student, masking_rate, max_predictions,
      mask_token_rate, random_token_rate: as in `mask_pieces`.

    Returns:
      (masked token_ids [B, L], dict of mask_positions, mask_ids, mask_weights).
    """
    shape = tf.shape(token_ids)
    batch, length = shape[0], shape[1]
    static_length = token_ids.shape[1]
    # top_k needs k <= L.
    k = max_predictions if static_length is None else min(max_predictions, static_length)
    columns = tf.range(length, dtype=tf.int32)[None, :]
    n = tf.reduce_sum(tf.cast(candidates, tf.int32), axis=1)
    budget = tf.cast(tf.round(tf.cast(n, tf.float32) * masking_rate), tf.int32)
    budget = tf.where(n > 0, tf.minimum(tf.maximum(budget, 1), k), 0)
    # One score a word: pieces of a word tie, so they are selected together.
    safe_words = tf.where(candidates, word_ids, 0)
    n_words = tf.reduce_max(safe_words) + 1
    draws = generator.uniform([n_words + 2 * batch * k])
    scores = tf.gather(draws, safe_words)
    action, pick = tf.split(tf.reshape(draws[n_words:], [batch, 2 * k]), 2, axis=1)
    # Non-candidates sort last.
    scores = tf.where(candidates, scores, 2.0)
    sorted_scores = tf.sort(scores, axis=1)
    # How many candidates score <= this one: the rank of the end of its word.
    end_rank = tf.searchsorted(sorted_scores, scores, side="right", out_type=tf.int32)
    selected = candidates & (end_rank <= budget[:, None])
    # The selected columns in increasing order: top_k of (L - column).
    top, _ = tf.math.top_k(tf.where(selected, length - columns, 0), k=k)
    weights = top > 0
    positions = tf.where(weights, length - top, 0)
    labels = tf.gather(token_ids, positions, batch_dims=1)
    at_student = None if is_student is None else tf.gather(is_student, positions, batch_dims=1)
    new_value = _replacements(labels, weights, action, pick, at_student, teacher, student,
                              mask_token_rate, random_token_rate)
    # Unused slots point at column 0 and write back its own id.
    flat_index = positions + tf.range(batch, dtype=tf.int32)[:, None] * length
    masked = tf.reshape(
        tf.tensor_scatter_nd_update(
            tf.reshape(token_ids, [-1]), tf.reshape(flat_index, [-1, 1]), tf.reshape(new_value, [-1])
        ),
        shape,
    )
    outputs = {
        "mask_positions": positions,
        "mask_ids": tf.where(weights, labels, 0),
        "mask_weights": tf.cast(weights, tf.float32),
    }
    if k < max_predictions:
        pad = [[0, 0], [0, max_predictions - k]]
        outputs = {name: tf.pad(value, pad) for name, value in outputs.items()}
    return masked, outputs
