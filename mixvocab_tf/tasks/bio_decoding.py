"""Valid BIO tag sequences from per-word logits (plain NumPy: the device logic imports it).

Argmax decoding tags each word on its own and can emit "B-artist I-album", which conlleval
reads as two spans, both wrong. `bio_viterbi` picks the best sequence in which every I-x
follows a B-x or an I-x (what it is worth: docs/RESULTS.md).

Example:
>>> bio_viterbi(np.log([[0.1, 0.6, 0.3], [0.2, 0.1, 0.7]]), ["O", "B-city", "I-city"])
[1, 2]
"""

import numpy as np


def allowed_bio_transitions(tags):
    """(allowed [T, T] prev -> next, allowed_first [T]): BIO's rule, an I-x follows B-x or I-x.

    Tags without a B-/I- prefix (e.g. "O") are free.
    """
    allowed = np.ones((len(tags), len(tags)), bool)
    first = np.ones(len(tags), bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            first[j] = False
            allowed[:, j] = [prev in ("B-" + tag[2:], tag) for prev in tags]
    return allowed, first


def bio_viterbi(word_logits, tags):
    """The best-scoring valid BIO tag sequence of one sentence's per-word logits.

    A word's score is its log-softmax; the path maximises their sum over the sequences in
    which every I-x follows a B-x or I-x (argmax decoding can emit "B-artist I-album", which
    conlleval splits into two wrong spans). Ties go to the lower tag id, as argmax does; the
    Android app's `Assistant.decodeTags` computes the same in double.

    Args:
      word_logits: [W, T] logits, one row a word.
      tags: the T tag names.

    Returns:
      W tag ids.
    """
    scores = np.asarray(word_logits, np.float64)
    if scores.shape[0] == 0:
        return []
    scores = scores - scores.max(-1, keepdims=True)
    scores = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
    allowed, first = allowed_bio_transitions(tags)
    best = np.where(first, scores[0], -np.inf)
    back = np.zeros(scores.shape, np.int64)
    for word in range(1, len(scores)):
        candidates = np.where(allowed, best[:, None], -np.inf)  # [prev, next]
        back[word] = candidates.argmax(0)
        best = candidates.max(0) + scores[word]
    path = [int(best.argmax())]
    for word in range(len(scores) - 1, 0, -1):
        path.append(int(back[word, path[-1]]))
    return path[::-1]


def decode_words(token_logits, word_starts, tags, fill):
    """One sentence's word tags: `bio_viterbi` over the logits at each word's first piece.

    Args:
      token_logits: [L, T] per-token logits of the sentence.
      word_starts: [W] first-piece positions; -1 for the words truncation cut (a suffix).
      tags: the T tag names.
      fill: what a cut word gets.

    Returns:
      W entries: tag ids, then `fill` for each cut word.
    """
    starts = np.asarray(word_starts)
    kept = starts[starts >= 0]
    return bio_viterbi(np.asarray(token_logits)[kept], tags) + [fill] * (len(starts) - len(kept))
