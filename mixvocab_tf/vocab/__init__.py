"""Stage 0: the student vocabulary."""

from mixvocab_tf.vocab.learner import count_words
from mixvocab_tf.vocab.learner import learn_vocabulary
from mixvocab_tf.vocab.statistics import vocabulary_statistics
from mixvocab_tf.vocab.vocabulary import RESERVED_TOKENS
from mixvocab_tf.vocab.vocabulary import Vocabulary
