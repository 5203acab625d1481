"""`WordGather`: per-token outputs read at each word's first piece."""

import keras
import numpy as np

from mixvocab_tf.layers.word_gather import WordGather


def test_reads_each_words_first_piece_and_padding_reads_position_zero():
    tokens = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    starts = np.array([[1, 3, -1], [0, 4, 2]], np.int32)
    words = np.asarray(WordGather()(tokens, starts))
    assert words.shape == (2, 3, 3)
    np.testing.assert_array_equal(words[0, 0], tokens[0, 1])
    np.testing.assert_array_equal(words[0, 1], tokens[0, 3])
    np.testing.assert_array_equal(words[0, 2], tokens[0, 0])  # -1: padding word
    np.testing.assert_array_equal(words[1], tokens[1, [0, 4, 2]])


def test_round_trips_through_keras_serialization():
    layer = WordGather(name="word_logits")
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is WordGather and restored.name == "word_logits"
