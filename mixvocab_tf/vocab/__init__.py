"""Stage 0: the student vocabulary."""

from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import Vocabulary
