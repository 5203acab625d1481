"""Examples -> model inputs (NumPy arrays), one code path for training, scoring and KD.

Sentences and sentence pairs go through `SingleVocabPreprocessor` (the layer the text-in
export uses); word-tagged sentences through `WordAligner`, which gives the same ids (tested)
plus each word's first sub-token.

Example:
>>> encoder = InputEncoder(vocabulary, lower_case=True, sequence_length=64)
>>> features = encoder.encode_texts(["play some jazz"])
>>> sorted(features)
['padding_mask', 'segment_ids', 'token_ids']
"""

from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.preprocessing.single_vocab_preprocessor import ENCODER_INPUTS
from mixvocab_tf.preprocessing.single_vocab_preprocessor import encode_texts
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.preprocessing.word_alignment import WordAligner


class InputEncoder:
    """Encodes task examples with one vocabulary.

    Args:
      vocabulary: token list.
      lower_case: the encoder's casing.
      sequence_length: L.
      normalization: "bert" or "mediapipe" (tokenise as MediaPipe Tasks does on the
        device).
    """

    def __init__(self, vocabulary, lower_case, sequence_length, normalization="bert"):
        check_normalization(normalization)
        self.vocabulary = list(vocabulary)
        self.lower_case = lower_case
        self.sequence_length = sequence_length
        self.normalization = normalization
        self.preprocessor = SingleVocabPreprocessor(
            self.vocabulary, lower_case=lower_case, sequence_length=sequence_length,
            normalization=normalization)
        self._aligner = None

    @classmethod
    def for_task_model(cls, task_model, sequence_length=None):
        """The encoder a task model was trained with (at `sequence_length` or its own L)."""
        return cls(task_model.vocabulary, task_model.lower_case,
                   sequence_length or task_model.sequence_length, task_model.normalization)

    @property
    def aligner(self):
        if self._aligner is None:
            self._aligner = WordAligner(self.vocabulary, self.lower_case, self.sequence_length,
                                        self.normalization)
        return self._aligner

    def encode_texts(self, texts, pairs=None, batch_size=1024):
        """Encodes sentences (or sentence pairs) into int32 arrays [N, L]."""
        return encode_texts(self.preprocessor, texts, pairs, batch_size)

    def encode_words(self, word_lists):
        """Encodes pre-split sentences; adds "word_starts" [N, W]."""
        return self.aligner.encode(word_lists)

    def encode_context(self, contexts):
        """Encodes dialogue contexts keeping their end: the last turn matters most."""
        # Words >> pieces is rare; keep at most L words from the end, the layer truncates the rest.
        kept = [" ".join(c.split()[-self.sequence_length:]) for c in contexts]
        return self.encode_texts(kept)

    def encode_examples(self, task_type, examples):
        """Features of `examples` for a task type (response selection: the contexts)."""
        if task_type == task_registry.TAGGING:
            return self.encode_words([t.split() for t in examples.texts])
        if task_type == task_registry.PAIR_CLASSIFICATION:
            return self.encode_texts(examples.texts, examples.text_pairs)
        if task_type == task_registry.RESPONSE_SELECTION:
            return self.encode_context(examples.texts)
        return self.encode_texts(examples.texts)


def model_inputs(features):
    """The three encoder inputs of a feature dict."""
    return {k: features[k] for k in ENCODER_INPUTS}
