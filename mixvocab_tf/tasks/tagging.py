"""Word-level tagging inputs: WordPiece ids plus where each word's first sub-token is.

Slot data (`seq.in` / `seq.out`) is already split into words, one tag a word. The model tags
every position; the tag of a word is read (and trained) at its first sub-token. This module
tokenises each whitespace-separated word with tensorflow-text's `BertTokenizer` (BERT's basic
tokenisation: lower case, NFD, accents stripped for an uncased vocabulary, punctuation split,
then WordPiece) on the same vocabulary, so that the ids are those of the whole sentence and the
word -> first-sub-token map comes for free.

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
from mixvocab_tf.tasks.bio_decoding import decode_words

_PAD, _UNK, _CLS, _SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"


class WordAligner:
    """Tokenises pre-split words and records each word's first sub-token position.

    Args:
      vocabulary: the WordPiece tokens, index = id; must contain [PAD] [UNK] [CLS] [SEP].
      lower_case: normalise like the original uncased BERT (lower case, strip accents).
      sequence_length: L, including [CLS] and [SEP]. Words whose first sub-token falls
        beyond L - 1 are truncated: their position is -1 (see `encode`).
      normalization: "bert" (tensorflow-text's BertTokenizer on each word) or "mediapipe"
        (MediaPipe's tokenisation: ASCII lower-casing, accents kept; `normalization.py`).
    """

    def __init__(self, vocabulary, lower_case=True, sequence_length=128, normalization="bert"):
        check_normalization(normalization)
        self.normalization = normalization
        missing = [t for t in (_PAD, _UNK, _CLS, _SEP) if t not in vocabulary]
        if missing:
            raise ValueError(f"vocabulary lacks the special tokens {missing}")
        self.vocabulary = list(vocabulary)
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
