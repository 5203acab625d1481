"""Throughput of MixedVocabPreprocessor against the plain FastBertTokenizer.

Both run in the same `tf.data` pipeline shape (batch 256, real corpus lines,
`map` then iterate) in the same process; the layer packs to length 128 and,
with --masking, also masks. Prints sentences per second of each and the
ratio (target: >= 0.5).

  python benchmarks/preprocessing.py --student_vocab=/tmp/student/vocab.txt
"""

import json
import os
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("student_vocab", None, "Student vocab.txt (default: learn one from the lines).")
flags.DEFINE_string("corpus", None, "Text file (default: ../shared/data/corpora/wordnet_glosses.txt).")
flags.DEFINE_integer("num_lines", 20000, "Lines to tokenise an epoch.")
flags.DEFINE_integer("batch_size", 256, "Batch size.")
flags.DEFINE_integer("sequence_length", 128, "Packed length of the layer.")
flags.DEFINE_float("p_sv", 0.5, "Student share of words.")
flags.DEFINE_bool("masking", True, "Also apply masked-LM masking in the layer.")
flags.DEFINE_integer("epochs", 3, "Timed epochs (after one warm-up epoch).")


def _throughput(dataset, n_lines, epochs):
    for _ in dataset:  # warm-up: tracing, tokenizer construction
        pass
    start = time.perf_counter()
    for _ in range(epochs):
        for _ in dataset:
            pass
    return n_lines * epochs / (time.perf_counter() - start)


def main(argv):
    del argv
    import tensorflow as tf
    import tensorflow_text as tf_text

    from mixvocab_tf import paths
    from mixvocab_tf.preprocessing import MixedVocabPreprocessor
    from mixvocab_tf.vocab import Vocabulary
    from mixvocab_tf.vocab import learn_vocabulary

    corpus = FLAGS.corpus or os.path.join(paths.shared_data_dir(), "corpora", "wordnet_glosses.txt")
    with open(corpus, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()][: FLAGS.num_lines]
    teacher = Vocabulary.load(os.path.join(paths.minilm_teacher_path(), "vocab.txt"))
    if FLAGS.student_vocab:
        student = Vocabulary.load(FLAGS.student_vocab)
    else:
        student = Vocabulary(learn_vocabulary(lines[:5000], vocab_size=2000, tolerance=0.05))

    base = tf.data.Dataset.from_tensor_slices(lines).batch(FLAGS.batch_size).cache()
    plain = tf_text.FastBertTokenizer(teacher.tokens, lower_case_nfd_strip_accents=True,
                                      token_out_type=tf.int32)
    layer = MixedVocabPreprocessor(
        teacher, student, sequence_length=FLAGS.sequence_length, p_sv=FLAGS.p_sv, seed=0,
        masking_rate=0.15 if FLAGS.masking else None)
    results = {}
    # Interleave the two measurements so that machine noise hits both.
    for name, fn in (("fast_bert_tokenizer", plain.tokenize), ("mixed_vocab_preprocessor", layer)):
        results[name] = _throughput(base.map(fn), len(lines), FLAGS.epochs)
    results["ratio"] = results["mixed_vocab_preprocessor"] / results["fast_bert_tokenizer"]
    results.update(lines=len(lines), batch_size=FLAGS.batch_size,
                   sequence_length=FLAGS.sequence_length, p_sv=FLAGS.p_sv, masking=FLAGS.masking,
                   student_vocab_size=student.size, corpus=corpus)
    print(f"FastBertTokenizer:       {results['fast_bert_tokenizer']:10.0f} sentences/s")
    print(f"MixedVocabPreprocessor:  {results['mixed_vocab_preprocessor']:10.0f} sentences/s")
    print(f"ratio: {results['ratio']:.2f} (target >= 0.5)")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    app.run(main)
