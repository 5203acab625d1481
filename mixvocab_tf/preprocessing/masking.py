"""Masked-LM masking over packed ids from one or two vocabularies.

BERT's recipe: a share (`masking_rate`, 15%) of the real tokens ([CLS],
[SEP] and padding never) is selected, at most `max_predictions` a sequence;
of those, 80% become [MASK], 10% a random token, 10% stay. The [MASK] and
the random token come from the vocabulary that segmented the selected token:
a student piece gets the student [MASK] or a random student token, a teacher
piece the teacher's. With whole-word masking, all pieces of a selected word
are masked together (and words are drawn until the budget would overflow).

Outputs follow keras-hub's `MaskedLMMaskGenerator`: `mask_positions` int32
[B, P], `mask_ids` int32 [B, P] (the original ids, the labels) and
`mask_weights` float32 [B, P] (1 for a real prediction, 0 for padding).

Example:

>>> out = mask_tokens(token_ids, candidates, word_ids, is_student, generator,
...                   masking=MaskingConfig(...), ...)  # doctest: +SKIP
"""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class VocabularyIds:
    """What masking needs to know of one vocabulary, in joint-space ids."""

    mask_id: int
    # Ids a random replacement draws from (the vocabulary without [..] tokens).
    random_ids: tuple


def mask_tokens(
    token_ids,
    candidates,
    word_ids,
    is_student,
    generator,
    teacher,
    student,
    masking_rate=0.15,
    max_predictions=20,
    whole_word_masking=False,
    mask_token_rate=0.8,
    random_token_rate=0.1,
):
    """Masks packed token ids.

    Args:
      token_ids: int32 [B, L] joint-space ids.
      candidates: bool [B, L], tokens that may be masked (not special, not pad).
      word_ids: int32 [B, L], an id per word, unique within the batch (used
        for whole-word masking; any value where `candidates` is False).
      is_student: bool [B, L], the token came from the student vocabulary.
      generator: a `tf.random.Generator`.
      teacher: `VocabularyIds` of the teacher vocabulary.
      student: `VocabularyIds` of the student vocabulary, or None.
      masking_rate: share of candidate tokens to predict.
      max_predictions: P, the most predictions a sequence.
      whole_word_masking: mask all pieces of a selected word.
      mask_token_rate: share of predictions replaced by [MASK].
      random_token_rate: share replaced by a random token.

    Returns:
      (masked token_ids [B, L], dict of mask_positions, mask_ids, mask_weights).
    """
    # Dense [B, L] and [B, P] ops only, few of them: in a `tf.data` map the
    # per-op overhead, not the arithmetic, is what costs.
    shape = tf.shape(token_ids)
    batch, length = shape[0], shape[1]
    static_length = token_ids.shape[1]
    # top_k needs k <= L.
    k = max_predictions if static_length is None else min(max_predictions, static_length)
    n = tf.reduce_sum(tf.cast(candidates, tf.int32), axis=1)
    budget = tf.cast(tf.round(tf.cast(n, tf.float32) * masking_rate), tf.int32)
    budget = tf.minimum(tf.maximum(budget, 1), k)
    budget = tf.where(n > 0, budget, 0)

    # Scores only up to the last column any row can mask (at least k for
    # top_k): short sentences in a long `sequence_length` cost little.
    used = tf.reduce_any(candidates, axis=0)
    width = tf.maximum(tf.reduce_max(tf.where(used, tf.range(1, length + 1), 0)), k)
    # One stateful draw a call: [action, random token, (token scores)].
    draws = generator.uniform([batch, 2 * k + (0 if whole_word_masking else width)])
    action, pick = draws[:, :k], draws[:, k : 2 * k]
    columns = tf.range(length, dtype=tf.int32)[None, :]
    slots = tf.range(k, dtype=tf.int32)[None, :]
    weights = slots < budget[:, None]
    if whole_word_masking:
        # One score a word: pieces of a word tie, so they are selected together.
        safe_words = tf.where(candidates, word_ids, 0)
        n_words = tf.reduce_max(safe_words) + 1
        scores = tf.gather(generator.uniform([n_words]), safe_words)
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
    else:
        # A uniform draw of `budget` candidates: the top scores, then in
        # increasing column order.
        scores = tf.where(candidates[:, :width], draws[:, 2 * k :], -1.0)
        _, top = tf.math.top_k(scores, k=k)
        positions = tf.sort(tf.where(weights, top, length), axis=1)
        positions = tf.where(weights, positions, 0)
    labels = tf.gather(token_ids, positions, batch_dims=1)

    # 80/10/10 replacement at the P positions only, drawn in the vocabulary
    # of the token's segmentation.
    use_mask = weights & (action < mask_token_rate)
    use_random = weights & ~use_mask & (action < mask_token_rate + random_token_rate)
    n_teacher = len(teacher.random_ids)
    if student is None:
        table = tf.constant(teacher.random_ids, tf.int32)
        mask_value = tf.constant(teacher.mask_id, tf.int32)
        random_index = tf.cast(pick * n_teacher, tf.int32)
        random_index = tf.minimum(random_index, n_teacher - 1)
    else:
        # One table: the teacher's random ids, then the student's.
        table = tf.constant(teacher.random_ids + student.random_ids, tf.int32)
        at_student = tf.gather(is_student, positions, batch_dims=1)
        mask_value = tf.where(at_student, student.mask_id, teacher.mask_id)
        size = tf.where(at_student, len(student.random_ids), n_teacher)
        random_index = tf.minimum(tf.cast(pick * tf.cast(size, tf.float32), tf.int32), size - 1)
        random_index += tf.where(at_student, n_teacher, 0)
    random_value = tf.gather(table, random_index)
    new_value = tf.where(use_mask, mask_value, tf.where(use_random, random_value, labels))
    # Unused slots point at column 0 and write back its own id: no boolean_mask.
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
