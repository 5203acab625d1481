"""`WordAligner`: WordPiece ids of pre-split words, and where each word's first piece is.

Each whitespace-separated word is tokenised with tensorflow-text's `BertTokenizer` (BERT's
basic tokenisation: lower case, NFD, accents stripped for an uncased vocabulary, punctuation
split, then WordPiece) on the same vocabulary, so the ids are those of the whole sentence
(`SingleVocabPreprocessor` gives the same, tested) and the word -> first-piece map comes for
free. Slot tagging reads a word's tag at its first piece; sentence-vector distillation compares
teacher and student word by word, each in its own vocabulary.

Example:
>>> aligner = WordAligner(vocabulary, lower_case=True, sequence_length=32)
>>> batch = aligner.encode([["play", "westbam"]])
>>> batch["word_starts"][0][:2]  # positions of "play" and "west" (after [CLS])
array([1, 2], dtype=int32)
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

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
      normalization: "bert" (tensorflow-text's BertTokenizer on each word) or "mediapipe"
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
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary), tf.range(len(self.vocabulary), dtype=tf.int64)),
            num_oov_buckets=1)
        self._tokenizer = tf_text.BertTokenizer(
            table, lower_case=lower_case, token_out_type=tf.int64, unknown_token=_UNK)
        if normalization == "mediapipe":
            # MediaPipe's tokenizer splits text on ASCII whitespace first, so tokenising each
            # whitespace-separated word alone gives the ids of the whole sentence.
            self._segmenter = WordPieceSegmenter(self.vocabulary, lower_case, normalization)

    def word_pieces(self, words_batch):
        """Per sentence, per word, its WordPiece ids (a word may hold several basic tokens)."""
        if self.normalization == "mediapipe":
            flat = [word for words in words_batch for word in words]
            pieces = self._segmenter.segment(tf.constant(flat or [""], tf.string)).to_list()
            out, begin = [], 0
            for words in words_batch:
                out.append(pieces[begin:begin + len(words)])
                begin += len(words)
            return out
        ragged = tf.ragged.constant(words_batch, dtype=tf.string)
        # [B, W, basic tokens, pieces] -> [B, W, pieces]
        pieces = self._tokenizer.tokenize(ragged).merge_dims(-2, -1)
        return pieces.to_list()

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
        max_words = max([len(words) for words in words_batch] + [1])
        word_starts = np.full((count, max_words), -1, np.int32)
        for begin in range(0, count, batch_size):
            chunk = words_batch[begin:begin + batch_size]
            for offset, pieces_per_word in enumerate(self.word_pieces(chunk)):
                row = begin + offset
                ids, position = [self.cls_id], 1
                for word_index, pieces in enumerate(pieces_per_word):
                    # A word that normalises to nothing (e.g. a lone combining mark) keeps a
                    # slot so that its tag is still scored: it borrows [UNK].
                    pieces = pieces or [self._unk_id()]
                    if position < length - 1:
                        word_starts[row, word_index] = position
                    ids.extend(pieces)
                    position += len(pieces)
                ids = ids[:length - 1] + [self.sep_id]
                token_ids[row, :len(ids)] = ids
                padding_mask[row, :len(ids)] = 1
        return {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask,
            "word_starts": word_starts,
        }

    def _unk_id(self):
        return self.vocabulary.index(_UNK)
