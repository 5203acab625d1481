"""Text normalisation and WordPiece segmentation, TF / tensorflow-text ops only.

Two normalisations:

* `"bert"`: the original BERT's. With `lower_case=True`: lower-case, NFD,
  strip combining marks (accents), control characters to spaces; with
  `lower_case=False` only the control characters. Words are split on
  whitespace and punctuation and CJK characters are words of their own. Built
  from `FastBertNormalizer` + `FastWordpieceTokenizer`, i.e. exactly
  tensorflow-text's `FastBertTokenizer`, whose ops have TFLite kernels.
* `"mediapipe"`: the WordPiece tokenizer MediaPipe Tasks runs on Android:
  ASCII-only lower-casing, no accent stripping, words split by MediaPipe's
  regular expression (whitespace, ASCII punctuation, Unicode punctuation and
  CJK characters as words).

Example:

>>> segmenter = WordPieceSegmenter(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
...                                 "hello", "##s"], lower_case=True)
>>> segmenter.segment(tf.constant(["Hellos"])).to_list()
[[5, 6]]
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from mixvocab_tf.vocab.vocabulary import SUFFIX_INDICATOR
from mixvocab_tf.vocab.vocabulary import UNK_TOKEN

NORMALIZATIONS = ("bert", "mediapipe")

# MediaPipe's BertTokenizer (mediapipe/tasks/cc/text/tokenizers/bert_tokenizer.h):
# split on whitespace (dropped) and on punctuation / CJK (kept as words).
_MEDIAPIPE_DELIM = (
    r"\s+|[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}|"
    r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|"
    r"[\x{2A700}-\x{2B73F}]|[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|"
    r"[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]"
)
_MEDIAPIPE_KEEP = (
    r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}|"
    r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|"
    r"[\x{2A700}-\x{2B73F}]|[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|"
    r"[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]"
)


def check_normalization(normalization):
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Unknown normalization {normalization!r}. Fix: use one of {NORMALIZATIONS} "
            "('bert' for the original BERT, 'mediapipe' for MediaPipe Tasks on Android)."
        )


class TextNormalizer:
    """Normalises a batch of strings as the chosen tokenizer does."""

    def __init__(self, lower_case=True, normalization="bert"):
        check_normalization(normalization)
        self.lower_case = lower_case
        self.normalization = normalization
        if normalization == "bert":
            self._normalizer = tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=lower_case)

    def normalize(self, text):
        """`text`: tf.string [B] -> normalised tf.string [B]."""
        if self.normalization == "bert":
            return self._normalizer.normalize(text)
        if self.lower_case:
            # MediaPipe lower-cases ASCII only (absl::AsciiStrToLower).
            text = tf.strings.lower(text)
        return text

    def split_words(self, text):
        """Normalised tf.string [B] -> words, ragged tf.string [B, (W)].

        Only for "mediapipe"; "bert" splits inside `FastWordpieceTokenizer`.
        """
        return tf_text.regex_split(text, _MEDIAPIPE_DELIM, _MEDIAPIPE_KEEP)


class WordPieceSegmenter:
    """Normalised text -> WordPiece ids of one vocabulary, with word starts.

    Args:
      tokens: the vocabulary, a list of tokens.
      lower_case: the vocabulary's casing.
      normalization: "bert" or "mediapipe".
    """

    def __init__(self, tokens, lower_case=True, normalization="bert", words_only=False):
        check_normalization(normalization)
        self.normalizer = TextNormalizer(lower_case, normalization)
        self.normalization = normalization
        self.size = len(tokens)
        self._tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=list(tokens),
            suffix_indicator=SUFFIX_INDICATOR,
            token_out_type=tf.int32,
            unknown_token=UNK_TOKEN,
            no_pretokenization=words_only or normalization != "bert",
        )
        # A piece starts a word unless it is a "##" continuation; [UNK] always
        # stands for a whole word. This recovers words from the ids alone.
        starts = np.array(
            [not (t.startswith(SUFFIX_INDICATOR) and len(t) > len(SUFFIX_INDICATOR)) for t in tokens]
        )
        self.word_start_list = starts.tolist()
        self._word_start = tf.constant(starts, dtype=tf.bool)

    def segment_normalized(self, normalized):
        """Normalised tf.string [B] -> ids, ragged int32 [B, (pieces)]."""
        if self.normalization == "bert":
            return self._tokenizer.tokenize(normalized)
        words = self.normalizer.split_words(normalized)
        return self._tokenizer.tokenize(words).merge_dims(1, 2)

    def pieces(self, normalized):
        """Normalised tf.string [N] -> (ids int32 [T], row_splits int64 [N + 1]).

        The flat form of `segment_normalized`, without ragged wrappers (fewer
        graph ops a call, which is what a `tf.data` map pays for).
        """
        ids = self.segment_normalized(normalized)
        return ids.flat_values, ids.row_splits

    def pieces_with_words(self, normalized):
        """Like `pieces`, plus a function giving the text of chosen words.

        Returns (ids int32 [T], row_splits int64 [N + 1], word_text) where
        `word_text(row, first, last, word)` maps int [M] tensors (the row, the
        first and last piece index and the word number of M words) to their
        normalised text, tf.string [M].
        """
        if self.normalization == "bert":
            ids, starts, ends = self._tokenizer.tokenize_with_offsets(normalized)
            begin, end = starts.flat_values, ends.flat_values

            def word_text(row, first, last, word):
                del word
                start = tf.gather(begin, first)
                return tf.strings.substr(
                    tf.gather(normalized, row), start, tf.gather(end, last) - start)

            return ids.flat_values, ids.row_splits, word_text
        words = self.normalizer.split_words(normalized)
        ids = self._tokenizer.tokenize(words.flat_values)

        def word_text(row, first, last, word):
            del row, first, last
            return tf.gather(words.flat_values, word)

        row_splits = tf.gather(ids.row_splits, words.row_splits)
        return ids.flat_values, row_splits, word_text

    def tokenize_words(self, words):
        """Whole words tf.string [M] -> ids, ragged int32 [M, (pieces)]."""
        return self._tokenizer.tokenize(words)

    def segment(self, text):
        """Raw tf.string [B] -> ids, ragged int32 [B, (pieces)]."""
        return self.segment_normalized(self.normalizer.normalize(text))

    def word_starts(self, flat_ids):
        """int32 [N] -> bool [N]: whether each piece starts a word."""
        return tf.gather(self._word_start, flat_ids)
