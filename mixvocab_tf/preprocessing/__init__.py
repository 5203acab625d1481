"""Text -> ids: the mixed-vocabulary layer, masking and the single-vocabulary layer."""

from mixvocab_tf.preprocessing.mixed_vocab_preprocessor import MixedVocabPreprocessor
from mixvocab_tf.preprocessing.single_vocab_preprocessor import SingleVocabPreprocessor
