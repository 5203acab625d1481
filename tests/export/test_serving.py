"""The tokenizer inside the TFLite graph equals tensorflow-text's FastBertTokenizer, and the
exported graph never needs Flex."""

import os

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from mixvocab_tf.export.runtime import make_interpreter
from mixvocab_tf.export.validation import BAD_INPUTS
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.models.student_directory import read_vocabulary


def test_tflite_tokenizer_equals_fast_bert_tokenizer(data_dir, embedded_data_dir):
    vocabulary = read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    length = 24
    layer = SingleVocabPreprocessor(vocabulary, lower_case=True, sequence_length=length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        out = layer(text)
        return {"token_ids": out["token_ids"], "segment_ids": out["segment_ids"],
                "padding_mask": tf.cast(out["padding_mask"], tf.int32)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tokenize.get_concrete_function()], layer)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    runner = make_interpreter(converter.convert()).get_signature_runner()

    # Real mixed-case text with punctuation, markup and a few accents.
    with open(os.path.join(embedded_data_dir, "corpus", "python_docs.txt"), encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f][:300]
    texts += list(BAD_INPUTS) + ["ÉCOLE", "a " * 40]
    actual = runner(text=np.array(texts, dtype=object))
    reference = tf_text.FastBertTokenizer(
        vocabulary, token_out_type=tf.int32, lower_case_nfd_strip_accents=True,
        unknown_token="[UNK]").tokenize(tf.constant(texts)).to_list()
    expected = np.zeros((len(texts), length), np.int32)
    for row, pieces in enumerate(reference):
        packed = [vocabulary.index("[CLS]")] + pieces[:length - 2] + [vocabulary.index("[SEP]")]
        expected[row, :len(packed)] = packed
    np.testing.assert_array_equal(actual["token_ids"], expected)
    np.testing.assert_array_equal(actual["padding_mask"], (expected != 0).astype(np.int32))
    assert not actual["segment_ids"].any()
    # Truncation happened on the long inputs: [SEP] is the last position.
    assert (actual["token_ids"][:, -1] != 0).sum() >= 3
