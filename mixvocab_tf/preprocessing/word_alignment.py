"""`WordAligner`: WordPiece ids of pre-split words, and where each word's first piece is.

Each whitespace-separated word is tokenised alone by the segmenter `SingleVocabPreprocessor`
uses (tensorflow-text's `FastBertNormalizer` and `FastWordpieceTokenizer`: BERT's basic
tokenisation, lower case, NFD, accents stripped for an uncased vocabulary, punctuation split,
then WordPiece; or MediaPipe's), so the ids are those of the whole sentence (tested) and the
word -> first-piece map comes for free. Slot tagging reads a word's tag at its first piece;
sentence-vector distillation compares teacher and student word by word, each in its own
vocabulary.

Example:
>>> aligner = WordAligner(vocabulary, lower_case=True, sequence_length=32)
>>> batch = aligner.encode([["play", "westbam"]])
>>> batch["word_starts"][0][:2]  # positions of "play" and "west" (after [CLS])
array([1, 2], dtype=int32)
"""

import numpy as np
import tensorflow as tf

from mixvocab_tf.preprocessing.normalization import WordPieceSegmenter
from mixvocab_tf.preprocessing.normalization import check_normalization

_PAD, _UNK, _CLS, _SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"


class WordAligner:
    """Tokenises pre-split words and records each word's first sub-token position.

    Args:
      vocabulary: the WordPiece tokens, index = id (a list or a `Vocabulary`); must contain
        [PAD] [UNK] [CLS] [SEP].
      lower_case: normalise like the original uncased BERT (lower case, strip accents).
      sequence_length: L, including [CLS] and [SEP]. Words whose first sub-token falls
        beyond L - 1 are truncated: their position is -1 (see `encode`).
      normalization: "bert" (BERT's basic tokenisation and WordPiece) or "mediapipe"
        (MediaPipe's tokenisation: ASCII lower-casing, accents kept; `normalization.py`).
    """

    def __init__(self, vocabulary, lower_case=True, sequence_length=128, normalization="bert"):
        check_normalization(normalization)
        self.normalization = normalization
        self.vocabulary = list(getattr(vocabulary, "tokens", vocabulary))
        missing = [t for t in (_PAD, _UNK, _CLS, _SEP) if t not in self.vocabulary]
        if missing:
            raise ValueError(f"vocabulary lacks the special tokens {missing}")
        self.lower_case = lower_case
        self.sequence_length = sequence_length
        index = {token: i for i, token in enumerate(self.vocabulary)}
        self.pad_id, self.cls_id, self.sep_id = index[_PAD], index[_CLS], index[_SEP]
        self._unk = index[_UNK]
        # Each word alone through the preprocessor's own segmenter: both normalisations split
        # on whitespace first, so the ids are the whole sentence's.
        self._segmenter = WordPieceSegmenter(self.vocabulary, lower_case, normalization)

    def word_pieces(self, words_batch):
        """Per sentence, per word, its WordPiece ids (a word may hold several basic tokens)."""
        flat_ids, pieces_per_word = self._flat_pieces(words_batch)
        ends = np.cumsum(pieces_per_word)
        per_word = [flat_ids[end - count:end].tolist()
                    for end, count in zip(ends, pieces_per_word)]
        out, begin = [], 0
        for words in words_batch:
            out.append(per_word[begin:begin + len(words)])
            begin += len(words)
        return out

    def _flat_pieces(self, words_batch):
        """(every word's piece ids one after another, int64 [T]; pieces a word, int64 [W])."""
        if not any(words_batch):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        flat = [word for words in words_batch for word in words]
        pieces = self._segmenter.segment(tf.constant(flat, tf.string))
        return (pieces.flat_values.numpy().astype(np.int64),
                pieces.row_lengths().numpy().astype(np.int64))

    def encode(self, words_batch, batch_size=512):
        """Encodes sentences given as word lists.

        Args:
          words_batch: list of sentences, each a list of words.
          batch_size: how many sentences to tokenise at once.

        Returns:
          dict of NumPy int32 arrays: "token_ids", "segment_ids", "padding_mask" [N, L], and
          "word_starts" [N, W_max] (first sub-token position of each word; -1 for padding
          words and for words cut off by truncation).
        """
        count, length = len(words_batch), self.sequence_length
        token_ids = np.full((count, length), self.pad_id, np.int32)
        padding_mask = np.zeros((count, length), np.int32)
        words_per_row = np.asarray([len(words) for words in words_batch], np.int64)
        word_starts = np.full((count, max(int(words_per_row.max(initial=0)), 1)), -1, np.int32)
        # Vectorised over a chunk's pieces (a Python loop over them cost about 10x more).
        for begin in range(0, count, batch_size):
            rows = np.arange(begin, min(begin + batch_size, count))
            flat_ids, pieces_per_word = self._flat_pieces(words_batch[begin:rows[-1] + 1])
            empty = np.flatnonzero(pieces_per_word == 0)
            if len(empty):
                # A word that normalises to nothing (e.g. a lone combining mark) keeps a slot
                # so that its tag is still scored: it borrows [UNK].
                firsts = np.cumsum(pieces_per_word) - pieces_per_word
                flat_ids = np.insert(flat_ids, firsts[empty], self._unk)
                pieces_per_word = np.maximum(pieces_per_word, 1)
            words = words_per_row[rows]
            word_row = np.repeat(np.arange(len(rows)), words)
            word_index = np.arange(len(word_row)) - np.repeat(np.cumsum(words) - words, words)
            row_pieces = np.bincount(word_row, weights=pieces_per_word,
                                     minlength=len(rows)).astype(np.int64)
            row_first = np.cumsum(row_pieces) - row_pieces  # the row's first piece in flat_ids
            word_first = np.cumsum(pieces_per_word) - pieces_per_word
            position = 1 + word_first - row_first[word_row]  # after [CLS]
            kept = position < length - 1
            word_starts[rows[word_row[kept]], word_index[kept]] = position[kept]
            piece_row = np.repeat(word_row, pieces_per_word)
            position = 1 + np.arange(len(flat_ids)) - row_first[piece_row]
            kept = position < length - 1
            token_ids[rows[piece_row[kept]], position[kept]] = flat_ids[kept]
            used = np.minimum(row_pieces, length - 2) + 2  # [CLS] pieces [SEP]
            token_ids[rows, 0] = self.cls_id
            token_ids[rows, used - 1] = self.sep_id
            padding_mask[rows] = np.arange(length)[None, :] < used[:, None]
        return {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask,
            "word_starts": word_starts,
        }
