"""Throughput of `WordAligner.encode` (ids and each word's first piece) against
`SingleVocabPreprocessor` (the same ids, no word positions) on the same sentences.

The word alignment feeds slot tagging, word-replacement augmentation and the word-level
term of sentence-vector distillation (teacher and student side). Both sides tokenise the
same real corpus sentences (whitespace words, at most `--max_words`) at L=`--sequence_length`
in this process, alternately `--repeats` times; the medians of sentences per CPU second are
printed with their ratio (the aligner against the preprocessor).

  python benchmarks/word_alignment.py --vocab=pretrained/6x128/vocab.txt
"""

import gzip
import os
import statistics
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("vocab", None, "vocab.txt (default: the MiniLM teacher's).")
flags.DEFINE_string("corpus", None,
                    "A .txt or .txt.gz, one paragraph a line (default: the Wikipedia corpus).")
flags.DEFINE_integer("num_sentences", 4096, "Lines tokenised a repeat.")
flags.DEFINE_integer("max_words", 40, "Words kept of each line.")
flags.DEFINE_integer("sequence_length", 64, "L.")
flags.DEFINE_integer("repeats", 3, "Timed repeats of each side (medians are reported).")


def _cpu_seconds(function):
    start = time.process_time()
    function()
    return time.process_time() - start


def main(argv):
    del argv
    import numpy as np

    from mixvocab_tf import paths
    from mixvocab_tf.preprocessing import SingleVocabPreprocessor
    from mixvocab_tf.preprocessing.word_alignment import WordAligner
    from mixvocab_tf.vocab import Vocabulary

    corpus = FLAGS.corpus or os.path.join(paths.shared_data_dir(), "corpora",
                                          "wikipedia_en.txt.gz")
    words = []
    with (gzip.open if corpus.endswith(".gz") else open)(corpus, "rt", encoding="utf-8") as f:
        for line in f:
            if line.split():
                words.append(line.split()[:FLAGS.max_words])
            if len(words) == FLAGS.num_sentences:
                break
    texts = np.array([" ".join(w) for w in words])
    vocabulary = Vocabulary.load(FLAGS.vocab or os.path.join(paths.minilm_teacher_path(),
                                                             "vocab.txt"))
    aligner = WordAligner(vocabulary, lower_case=True, sequence_length=FLAGS.sequence_length)
    preprocessor = SingleVocabPreprocessor(vocabulary.tokens, lower_case=True,
                                           sequence_length=FLAGS.sequence_length)
    batch = 512  # the aligner's default chunk; the preprocessor gets the same batches

    def align():
        aligner.encode(words, batch_size=batch)

    def preprocess():
        for begin in range(0, len(texts), batch):
            preprocessor(texts[begin:begin + batch])

    align(), preprocess()  # warm-up: table building and tracing
    same = np.array_equal(aligner.encode(words[:batch])["token_ids"],
                          np.asarray(preprocessor(texts[:batch])["token_ids"]))
    times = {"aligner": [], "preprocessor": []}
    for _ in range(FLAGS.repeats):
        times["aligner"].append(_cpu_seconds(align))
        times["preprocessor"].append(_cpu_seconds(preprocess))
    rates = {name: len(words) / statistics.median(seconds) for name, seconds in times.items()}
    print(f"{len(words)} sentences (<= {FLAGS.max_words} words) at L={FLAGS.sequence_length}, "
          f"{len(vocabulary.tokens)}-token vocabulary; same ids: {same}")
    for name, rate in rates.items():
        print(f"  {name}: {rate:,.0f} sentences per CPU s")
    print(f"ratio aligner / preprocessor: {rates['aligner'] / rates['preprocessor']:.2f}x")


if __name__ == "__main__":
    app.run(main)
