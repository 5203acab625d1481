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
  CJK characters as words). Built from ops with TFLite kernels too, so the
  text-in TFLite form can carry it: `FastBertNormalizer` with a model of our
  own (`mediapipe_normalizer_model`: A-Z -> a-z, and the characters that
  `FastWordpieceTokenizer` would split on but MediaPipe keeps inside a word
  -> a private-use character), then `FastWordpieceTokenizer`'s own
  whitespace / punctuation / CJK split. On every Unicode code point between
  two letters this gives the ids of MediaPipe's regular expression (tested).

Example:

>>> segmenter = WordPieceSegmenter(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
...                                 "hello", "##s"], lower_case=True)
>>> segmenter.segment(tf.constant(["Hellos"])).to_list()
[[5, 6]]
"""

import functools

import flatbuffers
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


# Characters that FastWordpieceTokenizer splits words on (Unicode White_Space, and code points
# that the ICU in tensorflow-text calls punctuation but the RE2 of MediaPipe's regex does not
# know) while MediaPipe's `\s` (ASCII only) and `\p{P}` keep them inside a word. Found by
# comparing both on every code point between two letters (tests/preprocessing).
MEDIAPIPE_NON_SPLITTING = (
    0x0B, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    0x1B4E, 0x1B4F, 0x1B7F, 0x10D6E, 0x113D4, 0x113D5, 0x113D7, 0x113D8, 0x11BE1, 0x16D6D,
    0x16D6E, 0x16D6F, 0x1E5FF,
)
# What they become: a private-use character, in no vocabulary, neither space nor punctuation,
# so that the word holding one stays one word and becomes [UNK], as in MediaPipe.
MEDIAPIPE_PLACEHOLDER = "\ue000"


def _darts_clone_trie(keys):
    """A darts-clone double array (tensorflow-text's trie format) of byte-string keys -> int.

    Small tries only (ours holds a few dozen code points): children are placed greedily.
    """
    root = {}
    for key, value in keys:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units, used = {}, {0}

    def place(node, index):
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        offset = 1
        while any(index ^ offset ^ label in used for label in slots):
            offset += 1
        used.update(index ^ offset ^ label for label in slots)
        # Unit: offset << 10 | has_leaf << 8 | label; a leaf: 1 << 31 | value.
        units[index] = (units.get(index, 0) & 0xFF) | (offset << 10) | (0x100 if None in node else 0)
        if None in node:
            units[index ^ offset] = 0x80000000 | node[None]
        for label in labels:
            units[index ^ offset ^ label] = label
            place(node[label], index ^ offset ^ label)

    place(root, 0)
    return [units.get(i, 0) for i in range(max(units) + 1)]


@functools.lru_cache(maxsize=2)
def mediapipe_normalizer_model(lower_case=True):
    """A `FastBertNormalizer` model (flatbuffer bytes) that normalises as MediaPipe does.

    ASCII A-Z -> a-z (with `lower_case`) and `MEDIAPIPE_NON_SPLITTING` -> the placeholder;
    every other code point unchanged. The format is tensorflow-text's
    fast_bert_normalizer_model.fbs: a darts-clone trie from each changed code point's UTF-8
    bytes to (1 << 30 | offset << 6 | length) of its replacement in a string pool.
    """
    mapping = {cp: MEDIAPIPE_PLACEHOLDER for cp in MEDIAPIPE_NON_SPLITTING}
    if lower_case:
        mapping.update({cp: chr(cp + 32) for cp in range(ord("A"), ord("Z") + 1)})
    pool, offsets, keys = b"", {}, []
    for cp, replacement in sorted(mapping.items()):
        encoded = replacement.encode("utf-8")
        if encoded not in offsets:
            offsets[encoded] = len(pool)
            pool += encoded
        keys.append((chr(cp).encode("utf-8"), 0x40000000 | offsets[encoded] << 6 | len(encoded)))
    trie = _darts_clone_trie(keys)
    builder = flatbuffers.Builder(4 * len(trie) + len(pool) + 256)
    pool_vector = builder.CreateByteVector(pool)
    builder.StartVector(4, len(trie), 4)
    for unit in reversed(trie):
        builder.PrependUint32(unit)
    trie_vector = builder.EndVector()
    builder.StartObject(4)  # FastBertNormalizerModel
    builder.PrependBoolSlot(0, False, False)  # lower_case_nfd_strip_accents
    builder.PrependUOffsetTRelativeSlot(1, trie_vector, 0)  # trie_array
    builder.PrependInt32Slot(2, 0, 0)  # data_for_codepoint_zero: unchanged
    builder.PrependUOffsetTRelativeSlot(3, pool_vector, 0)  # normalized_string_pool
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


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
        else:
            # MediaPipe lower-cases ASCII only (absl::AsciiStrToLower); a table-driven
            # FastBertNormalizer does the same with a TFLite kernel (tf.strings.lower has none).
            self._normalizer = tf_text.FastBertNormalizer(
                model_buffer=mediapipe_normalizer_model(bool(lower_case)))

    def normalize(self, text):
        """`text`: tf.string [B] -> normalised tf.string [B]."""
        return self._normalizer.normalize(text)

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
            no_pretokenization=words_only,
        )
        # The regex split is kept for `pieces_with_words` (the mixed-vocabulary layer reads the
        # words' text); `segment_normalized` uses the tokenizer's own split (TFLite kernels).
        self._word_tokenizer = self._tokenizer
        if normalization != "bert" and not words_only:
            self._word_tokenizer = tf_text.FastWordpieceTokenizer(
                vocab=list(tokens), suffix_indicator=SUFFIX_INDICATOR, token_out_type=tf.int32,
                unknown_token=UNK_TOKEN, no_pretokenization=True)
        # A piece starts a word unless it is a "##" continuation; [UNK] always
        # stands for a whole word. This recovers words from the ids alone.
        starts = np.array(
            [not (t.startswith(SUFFIX_INDICATOR) and len(t) > len(SUFFIX_INDICATOR)) for t in tokens]
        )
        self.word_start_list = starts.tolist()
        self._word_start = tf.constant(starts, dtype=tf.bool)

    def segment_normalized(self, normalized):
        """Normalised tf.string [B] -> ids, ragged int32 [B, (pieces)]."""
        # Both normalisations: FastWordpieceTokenizer splits on whitespace, punctuation and
        # CJK; for "mediapipe" the normaliser has already hidden the characters it must not
        # split on (`MEDIAPIPE_NON_SPLITTING`).
        return self._tokenizer.tokenize(normalized)

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
        ids = self._word_tokenizer.tokenize(words.flat_values)

        def word_text(row, first, last, word):
            del row, first, last
            return tf.gather(words.flat_values, word)

        row_splits = tf.gather(ids.row_splits, words.row_splits)
        return ids.flat_values, row_splits, word_text

    def tokenize_words(self, words):
        """Whole words tf.string [M] -> ids, ragged int32 [M, (pieces)]."""
        return self._word_tokenizer.tokenize(words)

    def segment(self, text):
        """Raw tf.string [B] -> ids, ragged int32 [B, (pieces)]."""
        return self.segment_normalized(self.normalizer.normalize(text))

    def word_starts(self, flat_ids):
        """int32 [N] -> bool [N]: whether each piece starts a word."""
        return tf.gather(self._word_start, flat_ids)
