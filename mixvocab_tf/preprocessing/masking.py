"""Masked-LM masking of ids from one or two vocabularies.

BERT's recipe: a share (`masking_rate`, 15%) of the real tokens ([CLS],
[SEP] and padding never) is selected, at most `max_predictions` a sequence;
of those, 80% become [MASK], 10% a random token, 10% stay. The [MASK] and
the random token come from the vocabulary that segmented the selected token:
a student piece gets the student [MASK] or a random student token, a teacher
piece the teacher's.

Two selections:

* `mask_pieces` (token masking): every non-special piece is selected
  independently with probability `masking_rate` (so the count a sequence is
  binomial, as in dynamic masking); where more than `max_predictions` are
  selected, a cyclic window of them starting at a random selected piece is
  kept, so no position is favoured. It works on the packed rows before
  padding, as one flat stream: three ops see every piece, the others only
  the drawn ones; no sort and no [B, L] op (in a `tf.data` map every graph
  node costs, and big ones more).
* `mask_whole_words`: all pieces of a selected word are masked together;
  words are taken in random order until round(rate * tokens) would overflow.
  Works on the packed [B, L] ids.

Outputs follow keras-hub's `MaskedLMMaskGenerator`: `mask_positions` int32
[B, P] (increasing), `mask_ids` int32 [B, P] (the original ids, the labels)
and `mask_weights` float32 [B, P] (1 for a real prediction, 0 for padding).

Example:

>>> streams = UniformStreams(generator, num_streams=2)
>>> ids, outputs = mask_pieces(ids, row_splits, is_special, is_student=None,
...                            uniform=lambda k, shape: streams.uniform(k, shape),
...                            teacher=teacher_ids, student=None)  # doctest: +SKIP
"""

import dataclasses

import tensorflow as tf

from mixvocab_tf.preprocessing.graph_ops import search
from mixvocab_tf.preprocessing.graph_ops import take
from mixvocab_tf.preprocessing.graph_ops import true_indices


@dataclasses.dataclass(frozen=True)
class VocabularyIds:
    """What masking needs to know of one vocabulary, in joint-space ids."""

    mask_id: int
    # Ids a random replacement draws from (the vocabulary without [..] tokens).
    random_ids: tuple


def _replacements(labels, action, pick, at_student, teacher, student,
                  mask_token_rate, random_token_rate):
    """80/10/10: the new id of each selected token.

    `labels` are the selected tokens' ids; `action` and `pick` uniform draws
    on [0, 1) of the same shape; `at_student` bool (None: one vocabulary).
    """
    # pick <= 1 - 2^-23 (a float32 uniform), so float32 pick * n rounds below
    # n for any n < 2^24: floor(pick * n) is in [0, n) without a clamp.
    n_teacher = len(teacher.random_ids)
    if student is None:
        table = tf.constant(teacher.random_ids, tf.int32)
        mask_value = teacher.mask_id
        random_index = tf.cast(pick * n_teacher, tf.int32)
    else:
        # One table: the teacher's random ids, then the student's.
        table = tf.constant(teacher.random_ids + student.random_ids, tf.int32)
        mask_value = tf.where(at_student, student.mask_id, teacher.mask_id)
        size = tf.where(at_student, float(len(student.random_ids)), float(n_teacher))
        random_index = tf.cast(pick * size, tf.int32) + tf.where(at_student, n_teacher, 0)
    random_value = take(table, random_index)
    return tf.where(action < mask_token_rate, mask_value,
                    tf.where(action < mask_token_rate + random_token_rate, random_value, labels))


def mask_pieces(
    ids,
    row_splits,
    is_special,
    is_student,
    uniform,
    teacher,
    student,
    masking_rate=0.15,
    max_predictions=20,
    mask_token_rate=0.8,
    random_token_rate=0.1,
):
    """Masks packed sequences, given flat: row b of `ids` is sequence b.

    Args:
      ids: int32 [T] joint-space ids of B packed sequences, one after the
        other, unpadded: a piece's column is its index in its row.
      row_splits: int32 [B + 1] sequence boundaries in `ids`.
      is_special: bool [T], never masked ([CLS], [SEP]).
      is_student: which pieces are student pieces: None (one vocabulary),
        a Python int (ids >= it are student ids) or a bool [T] tensor.
      uniform: `uniform(k, shape)` -> float32 draws in [0, 1) from two
        independent streams, k = 0 and k = 1.
      teacher: `VocabularyIds` of the teacher vocabulary.
      student: `VocabularyIds` of the student vocabulary, or None.
      masking_rate: probability that a piece is selected.
      max_predictions: P, the most predictions a sequence.
      mask_token_rate: share of predictions replaced by [MASK].
      random_token_rate: share replaced by a random token.

    Returns:
      (masked ids int32 [T], dict of mask_positions, mask_ids, mask_weights [B, P]).
    """
    # In a tf.data map every op costs microseconds and big ops cost more, so
    # this is written for few ops: three see all T pieces (the draw, its test,
    # the final update), the rest the ~rate * T drawn pieces or the B rows.
    # Specials draw 1.0: never below the rate.
    n_pieces = row_splits[-1]
    select_draw = tf.where(is_special, 1.0, uniform(0, [n_pieces]))
    piece = true_indices(select_draw < masking_rate)
    row = search(row_splits[1:], piece, "right")
    n_rows = tf.size(row_splits) - 1
    # The selected pieces are in row order: rank = index among its row's.
    per_row = tf.raw_ops.Bincount(arr=row, size=n_rows, weights=tf.constant([], tf.int32))
    n_selected = tf.size(piece)
    rank = tf.range(n_selected) - take(tf.cumsum(per_row, exclusive=True), row)
    window_draw, pick_draw = tf.split(
        uniform(1, [n_rows + n_selected]), tf.stack([n_rows, n_selected]))
    # Keep P consecutive selected pieces, cyclically, from a random one on:
    # every selected piece is kept with equal chance (all of them when the
    # row has at most P).
    start = tf.cast(window_draw * tf.cast(per_row, tf.float32), tf.int32)
    kept = true_indices(
        tf.math.floormod(rank - take(start, row), take(per_row, row)) < max_predictions)
    piece, row = take(piece, kept), take(row, kept)
    labels = take(ids, piece)
    # Kept pieces are in row order and, within a row, in column order: a
    # ragged [B, (k <= P)] that one op left-aligns into slots.
    packed = tf.raw_ops.RaggedTensorToTensor(
        shape=[-1, max_predictions, 2],
        values=tf.stack([piece - take(row_splits, row), labels], 1), default_value=0,
        row_partition_tensors=[n_rows, row], row_partition_types=["FIRST_DIM_SIZE", "VALUE_ROWIDS"])
    positions, mask_ids = tf.unstack(packed, axis=2)
    outputs = {
        "mask_positions": positions,
        "mask_ids": mask_ids,
        # Column 0 is [CLS], never a prediction: position 0 marks an empty slot.
        "mask_weights": tf.cast(positions > 0, tf.float32),
    }
    if is_student is None or isinstance(is_student, int):
        at_student = None if is_student is None else labels >= is_student
    else:
        at_student = take(is_student, piece)
    # Given selection, draw / rate is uniform on [0, 1): the 80/10/10 action.
    new_ids = _replacements(
        labels, take(select_draw, piece) * (1.0 / masking_rate), take(pick_draw, kept),
        at_student, teacher, student, mask_token_rate, random_token_rate)
    # Bincount with weights as a scatter-add: a plain loop, faster than
    # tensor_scatter_nd_update on CPU.
    delta = tf.raw_ops.Bincount(arr=piece, size=n_pieces, weights=new_ids - labels)
    return ids + delta, outputs


def mask_whole_words(
    token_ids,
    candidates,
    word_ids,
    is_student,
    uniform,
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
      uniform, teacher, student, masking_rate, max_predictions,
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
    draws = uniform(0, [n_words + 2 * batch * k])
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
    new_value = tf.where(weights, _replacements(labels, action, pick, at_student, teacher, student,
                                                mask_token_rate, random_token_rate), labels)
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
