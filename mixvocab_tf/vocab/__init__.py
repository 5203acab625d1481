"""Stage 0: the student vocabulary (`vocabulary_statistics`, which segments text with
preprocessing/, lives there: `mixvocab_tf.vocabulary_statistics`)."""

from mixvocab_tf.vocab.learner import count_words
from mixvocab_tf.vocab.learner import learn_vocabulary
from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import Vocabulary
