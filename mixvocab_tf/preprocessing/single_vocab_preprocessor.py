"""`SingleVocabPreprocessor`: text -> ids with one WordPiece vocabulary.

For fine-tuning, Stage II input and the text-in TFLite export. It is
`MixedVocabPreprocessor` with no second vocabulary (one code path): BERT
normalisation and `FastWordpieceTokenizer`, `[CLS] a [SEP] (b [SEP])`,
truncation, padding with 0 and optional masked-LM masking. Without masking
the graph has no random ops and equals tensorflow-text's `FastBertTokenizer`
on the same vocabulary.

Outputs: `token_ids` int32 [B, L], `segment_ids` int32 [B, L], `padding_mask`
bool [B, L]; with `masking_rate` also `mask_positions`, `mask_ids`,
`mask_weights` [B, P].

Example:

>>> layer = SingleVocabPreprocessor("student/vocab.txt", sequence_length=64)
>>> ds = ds.map(lambda text, label: (layer(text), label))
>>> layer((tf.constant(["a question"]), tf.constant(["an answer"])))["segment_ids"]
"""

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf.preprocessing.mixed_vocab_preprocessor import MixedVocabPreprocessor

# The inputs every encoder (teacher backbone, student, task model) takes.
ENCODER_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def encode_texts(preprocessor, texts, pairs=None, batch_size=1024):
    """Runs `preprocessor` over sentences (or sentence pairs): int32 arrays [N, L] of
    `ENCODER_INPUTS`, in batches (the layer is eager-friendly but not free per call)."""
    chunks = []
    for begin in range(0, len(texts), batch_size):
        first = tf.constant(texts[begin:begin + batch_size])
        inputs = first if pairs is None else (first, tf.constant(pairs[begin:begin + batch_size]))
        out = preprocessor(inputs)
        chunks.append({k: np.asarray(out[k]).astype(np.int32) for k in ENCODER_INPUTS})
    return {k: np.concatenate([c[k] for c in chunks]) for k in ENCODER_INPUTS}


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class SingleVocabPreprocessor(MixedVocabPreprocessor):
    """Tokenises text with one WordPiece vocabulary.

    Args:
      vocabulary: a list of tokens, a vocab.txt path or a `Vocabulary`.
      lower_case: lower-case and strip accents ("bert" normalisation).
      sequence_length: L, the padded length.
      normalization: "bert" or "mediapipe".
      masking_rate, max_predictions, whole_word_masking, mask_token_rate,
      random_token_rate, seed: as in `MixedVocabPreprocessor`.
    """

    def __init__(
        self,
        vocabulary,
        lower_case=True,
        sequence_length=128,
        normalization="bert",
        masking_rate=None,
        max_predictions=20,
        whole_word_masking=False,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            teacher_vocabulary=vocabulary,
            student_vocabulary=None,
            lower_case=lower_case,
            sequence_length=sequence_length,
            p_sv=0.0,
            masking_rate=masking_rate,
            max_predictions=max_predictions,
            whole_word_masking=whole_word_masking,
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
            seed=seed,
            normalization=normalization,
            **kwargs,
        )

    @property
    def vocabulary(self):
        return self.teacher_vocabulary

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(
            {
                "vocabulary": self.vocabulary.tokens,
                "lower_case": self.lower_case,
                "sequence_length": self.sequence_length,
                "normalization": self.normalization,
                "masking_rate": self.masking_rate,
                "max_predictions": self.max_predictions,
                "whole_word_masking": self.whole_word_masking,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
                "seed": self.seed,
            }
        )
        return config
