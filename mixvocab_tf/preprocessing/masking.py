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
    shape = tf.shape(token_ids)
    batch, length = shape[0], shape[1]
    candidates_i = tf.cast(candidates, tf.int32)
    n = tf.reduce_sum(candidates_i, axis=1)
    budget = tf.cast(tf.round(tf.cast(n, tf.float32) * masking_rate), tf.int32)
    budget = tf.minimum(tf.maximum(budget, 1), max_predictions)
    budget = tf.where(n > 0, budget, 0)

    # One stateful draw, then cheap stateless ops from it.
    seeds = generator.make_seeds(4)
    seed = lambda i: seeds[:, i]  # noqa: E731
    if whole_word_masking:
        # One score a word: pieces of a word tie, so they are selected together.
        safe_words = tf.where(candidates, word_ids, 0)
        n_words = tf.reduce_max(safe_words) + 1
        scores = tf.gather(tf.random.stateless_uniform([n_words], seed(0)), safe_words)
    else:
        scores = tf.random.stateless_uniform([batch, length], seed(0))
    # Non-candidates sort last.
    scores = tf.where(candidates, scores, 2.0)
    sorted_scores = tf.sort(scores, axis=1)
    # How many candidates score <= this one: the rank of the end of its word.
    end_rank = tf.searchsorted(sorted_scores, scores, side="right", out_type=tf.int32)
    selected = candidates & (end_rank <= budget[:, None])

    positions = tf.ragged.boolean_mask(
        tf.broadcast_to(tf.range(length, dtype=tf.int32)[None, :], shape), selected
    ).to_tensor(shape=[None, max_predictions])
    weights = tf.sequence_mask(tf.reduce_sum(tf.cast(selected, tf.int32), axis=1), max_predictions)
    labels = tf.gather(token_ids, positions, batch_dims=1)

    # 80/10/10 replacement at the P positions only, drawn in the vocabulary
    # of the token's segmentation.
    p_shape = tf.shape(positions)
    action = tf.random.stateless_uniform(p_shape, seed(1))
    use_mask = weights & (action < mask_token_rate)
    use_random = weights & (action >= mask_token_rate) & (action < mask_token_rate + random_token_rate)
    teacher_random = tf.constant(teacher.random_ids, tf.int32)
    random_value = tf.gather(teacher_random, tf.random.stateless_uniform(
        p_shape, seed(2), 0, len(teacher.random_ids), dtype=tf.int32))
    mask_value = tf.fill(p_shape, tf.constant(teacher.mask_id, tf.int32))
    if student is not None:
        at_student = tf.gather(is_student, positions, batch_dims=1)
        mask_value = tf.where(at_student, tf.constant(student.mask_id, tf.int32), mask_value)
        student_random = tf.constant(student.random_ids, tf.int32)
        random_value = tf.where(at_student, tf.gather(student_random, tf.random.stateless_uniform(
            p_shape, seed(3), 0, len(student.random_ids), dtype=tf.int32)), random_value)
    new_value = tf.where(use_mask, mask_value, tf.where(use_random, random_value, labels))
    rows = tf.broadcast_to(tf.range(batch, dtype=tf.int32)[:, None], p_shape)
    index = tf.boolean_mask(tf.stack([rows, positions], axis=-1), weights)
    masked = tf.tensor_scatter_nd_update(token_ids, index, tf.boolean_mask(new_value, weights))
    outputs = {
        "mask_positions": tf.where(weights, positions, 0),
        "mask_ids": tf.where(weights, labels, 0),
        "mask_weights": tf.cast(weights, tf.float32),
    }
    return masked, outputs
