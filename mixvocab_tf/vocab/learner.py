"""`learn_vocabulary`: learn a WordPiece vocabulary of (about) a given size.

Wraps tensorflow-text's WordPiece learner (the one behind
`bert_vocab_from_dataset` and keras-hub's `compute_word_piece_vocabulary`).
That learner binary-searches a token-frequency threshold but stops at the
first vocabulary within `slack_ratio` *below* the target, and often
undershoots further. Here the words are counted once (BERT's basic
tokenisation: the teacher's normalisation) and the threshold is searched
directly until the vocabulary is within `tolerance` of `vocab_size`: the first
trial is the count of the `vocab_size`-th most frequent word, the next ones
interpolate log(size) in log(threshold). Each trial is a full learning pass,
so fewer trials than bisection is the saving (docs/RESULTS.md).

The result starts with `RESERVED_TOKENS` ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3
[MASK]=4), then single characters and their `##` forms, then pieces by
frequency; whitespace tokens are dropped.

Example:

>>> tokens = learn_vocabulary(open("corpus.txt"), vocab_size=5000)  # doctest: +SKIP
>>> Vocabulary(tokens).save("student/vocab.txt")  # doctest: +SKIP
"""

import collections
import logging
import math

import tensorflow as tf
from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner_lib

from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import SUFFIX_INDICATOR

_LOG = logging.getLogger(__name__)


def count_words(lines, lower_case=True, batch_size=1024):
    """Counts BERT basic-tokenizer words (the teacher's normalisation).

    Args:
      lines: an iterable of str.
      lower_case: lower-case + NFD + strip accents, like an uncased BERT.

    Returns:
      a `collections.Counter` of str words.
    """
    tokenizer = BasicTokenizer(lower_case=lower_case)
    tokenize = tf.function(lambda x: tokenizer.tokenize(x).flat_values)
    counts = collections.Counter()
    batch = []

    def flush():
        words = tokenize(tf.constant(batch, dtype=tf.string)).numpy()
        counts.update(words.tolist())
        batch.clear()

    for line in lines:
        batch.append(line.encode("utf-8", "replace") if isinstance(line, str) else line)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return collections.Counter({w.decode("utf-8", "replace"): c for w, c in counts.items()})


def _clean(tokens):
    """Reserved tokens first, no whitespace, no duplicates."""
    out, seen = [], set()
    for token in list(RESERVED_TOKENS) + list(tokens):
        body = token[len(SUFFIX_INDICATOR):] if token.startswith(SUFFIX_INDICATOR) else token
        if not body or any(c.isspace() for c in token) or token in seen:
            continue
        if token.isprintable() is False and token not in RESERVED_TOKENS:
            continue
        seen.add(token)
        out.append(token)
    return out


def _truncate(tokens, vocab_size):
    """Keeps reserved and single-character tokens, cuts the rarest others."""
    def essential(token):
        body = token[len(SUFFIX_INDICATOR):] if token.startswith(SUFFIX_INDICATOR) else token
        return token in RESERVED_TOKENS or len(body) == 1

    n_essential = sum(essential(t) for t in tokens)
    budget = max(0, vocab_size - n_essential)
    out = []
    for token in tokens:
        if essential(token):
            out.append(token)
        elif budget > 0:
            out.append(token)
            budget -= 1
    return out


def _next_threshold(tried, lo, hi, vocab_size, counts):
    """The next threshold to try (after the first, strictly between `lo` and `hi`);
    `None` when none is left.

    `tried` maps thresholds to vocabulary sizes. The first guess is the count of the
    `vocab_size`-th most frequent word; then log(size) is interpolated (inside the
    bracket) or extrapolated (before there is one) linearly in log(threshold).
    """
    if not tried:
        ranked = sorted((c for _, c in counts), reverse=True)
        return max(lo, min(hi, ranked[min(vocab_size, len(ranked)) - 1]))
    if hi - lo <= 1:
        return None
    points = sorted(tried.items())
    larger = [(t, n) for t, n in points if n > vocab_size]
    smaller = [(t, n) for t, n in points if n <= vocab_size]
    if larger and smaller:
        (t1, n1), (t2, n2) = larger[-1], smaller[0]
    elif len(points) > 1:
        (t1, n1), (t2, n2) = points[-2], points[-1]
    else:
        (t1, n1), (t2, n2) = points[0], points[0]
    if t1 == t2 or n1 == n2 or min(n1, n2) <= 0:
        # One point: assume size ~ 1 / threshold.
        t, n = points[0]
        guess = t * n / vocab_size
    else:
        slope = (math.log(n2) - math.log(n1)) / (math.log(t2) - math.log(t1))
        slope = min(-0.2, slope)  # sizes fall with the threshold
        guess = math.exp(math.log(t1) + (math.log(vocab_size) - math.log(n1)) / slope)
    thresh = int(round(guess))
    if not lo < thresh < hi or thresh in tried:
        thresh = int(round(math.sqrt(lo * hi)))
        if not lo < thresh < hi:
            thresh = lo + 1 if lo + 1 < hi else None
        if thresh in tried:
            return None
    return thresh


def learn_vocabulary(
    lines,
    vocab_size=5000,
    lower_case=True,
    tolerance=0.02,
    max_unique_chars=400,
    max_input_words=200_000,
    max_token_length=50,
    num_iterations=4,
    max_search_steps=14,
    word_counts=None,
):
    """Learns a WordPiece vocabulary within `tolerance` of `vocab_size`.

    Args:
      lines: an iterable of str (ignored when `word_counts` is given).
      vocab_size: the target size, reserved tokens included.
      lower_case: the teacher's casing (uncased: lower + strip accents).
      tolerance: accepted relative distance from `vocab_size`.
      max_unique_chars: the alphabet size; words with rarer characters are
        not learned from (each character costs two tokens: `c` and `##c`).
      max_input_words: learn from this many most frequent distinct words.
      max_token_length: longest token considered.
      num_iterations: the learner's refinement passes.
      max_search_steps: most threshold trials.
      word_counts: precomputed `count_words` output (skips counting).

    Returns:
      the tokens, a list of str.

    Raises:
      ValueError: no text, or no threshold gives a size within tolerance
        (the message gives the closest size and the fix).
    """
    if vocab_size < len(RESERVED_TOKENS) + 2:
        raise ValueError(f"vocab_size must be > {len(RESERVED_TOKENS) + 1}, got {vocab_size}.")
    if word_counts is None:
        word_counts = count_words(lines, lower_case=lower_case)
    if not word_counts:
        raise ValueError("No words in the input text. Fix: pass non-empty text files.")
    params = learner_lib.Params(
        upper_thresh=None,
        lower_thresh=None,
        num_iterations=num_iterations,
        max_input_tokens=max_input_words,
        max_token_length=max_token_length,
        max_unique_chars=max_unique_chars,
        vocab_size=vocab_size,
        slack_ratio=tolerance,
        include_joiner_token=True,
        joiner=SUFFIX_INDICATOR,
        reserved_tokens=list(RESERVED_TOKENS),
    )
    all_counts = learner_lib.get_input_words(
        list(word_counts.items()), params.reserved_tokens, max_token_length
    )
    allowed = learner_lib.get_allowed_chars(all_counts, max_unique_chars)
    filtered = learner_lib.filter_input_words(all_counts, allowed, max_input_words)

    low_size = round(vocab_size * (1 - tolerance))
    high_size = round(vocab_size * (1 + tolerance))
    # Size falls as the threshold rises, about as a power of it: each trial (a full
    # WordPiece learning pass, the expensive part on a large corpus) is placed by
    # interpolating log(size) against log(threshold), which needs 3-5 trials where
    # bisecting log(threshold) needed 6-10.
    lo, hi = 1, int(max(c for _, c in filtered))
    tried = {}
    best = None
    above = None  # the smallest vocabulary larger than the accepted range
    for _ in range(max_search_steps):
        thresh = _next_threshold(tried, lo, hi, vocab_size, filtered)
        if thresh is None:
            break
        tokens = _clean(learner_lib.learn_with_thresh(filtered, thresh, params))
        tried[thresh] = len(tokens)
        _LOG.info("WordPiece threshold %d -> %d tokens", thresh, len(tokens))
        if best is None or abs(len(tokens) - vocab_size) < abs(len(best) - vocab_size):
            best = tokens
        if low_size <= len(tokens) <= high_size:
            return tokens
        if len(tokens) > high_size and (above is None or len(tokens) < len(above)):
            above = tokens
        if len(tokens) > vocab_size:
            lo = thresh
        else:
            hi = thresh
        if hi - lo <= 1:
            break
    closest = len(best)
    if above is not None:
        # One threshold step changes the size by more than the tolerance
        # (small corpora): cut the rarest pieces of the next larger one.
        return _truncate(above, vocab_size)
    raise ValueError(
        f"Could not learn a vocabulary within {tolerance:.0%} of {vocab_size}: the closest had "
        f"{closest} tokens (thresholds tried: {tried}). Fix: add text, or lower vocab_size."
    )
