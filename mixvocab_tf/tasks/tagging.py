"""Word-level tagging: each word's tag trained and read at its first sub-token.

Slot data (`seq.in` / `seq.out`) is already split into words, one tag a word. The model tags
every position; `WordAligner` (`preprocessing/word_alignment.py`, imported here for the
callers that know it as `tagging.WordAligner`) gives the ids and each word's first position.

Example:
>>> batch = WordAligner(vocabulary, lower_case=True, sequence_length=32).encode([["play", "x"]])
>>> labels, weights = tag_targets(batch["word_starts"], [[3, 0]], 32)
"""

import numpy as np

from mixvocab_tf.preprocessing.word_alignment import WordAligner  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.bio_decoding import decode_words


def tag_targets(word_starts, tag_ids_batch, sequence_length):
    """Token-level targets: each word's tag id at its first sub-token, weight 1 there.

    Args:
      word_starts: [N, W] from `WordAligner.encode`.
      tag_ids_batch: per sentence, the tag id of each word.
      sequence_length: L.

    Returns:
      (labels [N, L] int32, weights [N, L] float32); truncated words get no weight.
    """
    count = len(tag_ids_batch)
    labels = np.zeros((count, sequence_length), np.int32)
    weights = np.zeros((count, sequence_length), np.float32)
    for row, tag_ids in enumerate(tag_ids_batch):
        for word_index, tag_id in enumerate(tag_ids):
            position = word_starts[row, word_index]
            if position >= 0:
                labels[row, position] = tag_id
                weights[row, position] = 1.0
    return labels, weights


def word_predictions(token_logits, word_starts, word_counts, fill=0, tags=None):
    """Reads each word's predicted tag id at its first sub-token.

    Args:
      token_logits: [N, L, T] (or [N, L] ids).
      word_starts: [N, W].
      word_counts: number of words of each sentence.
      fill: the tag id given to truncated words (the "O" tag, usually).
      tags: the tag names: decode each sentence with `bio_viterbi` (logits only); None:
        each word's argmax.

    Returns:
      per sentence, a list of tag ids, one a word.
    """
    token_logits = np.asarray(token_logits)
    if tags is not None and token_logits.ndim == 3:
        return [decode_words(token_logits[row], word_starts[row, :count], tags, fill)
                for row, count in enumerate(word_counts)]
    token_tags = token_logits.argmax(-1) if token_logits.ndim == 3 else token_logits
    out = []
    for row, count in enumerate(word_counts):
        starts = word_starts[row, :count]
        out.append([int(token_tags[row, p]) if p >= 0 else fill for p in starts])
    return out
