"""Stage 0: the student vocabulary."""

import warnings

from mixvocab_tf.vocab.learner import count_words
from mixvocab_tf.vocab.learner import learn_vocabulary
from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import Vocabulary


def __getattr__(name):
    # Measuring a vocabulary segments text with preprocessing/, which stands on vocab/: the
    # function moved there (mixvocab_tf.vocabulary_statistics). Kept here for one release.
    if name == "vocabulary_statistics":
        warnings.warn("mixvocab_tf.vocab.vocabulary_statistics has moved to "
                      "mixvocab_tf.preprocessing.vocabulary_statistics (also "
                      "mixvocab_tf.vocabulary_statistics).", DeprecationWarning, stacklevel=2)
        from mixvocab_tf.preprocessing import vocabulary_statistics  # noqa: PLC0415

        return vocabulary_statistics.vocabulary_statistics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
