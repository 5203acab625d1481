"""Throughput of MixedVocabPreprocessor against the plain FastBertTokenizer.

Both run in the same `tf.data` pipeline (real corpus lines, cached, batch
256, then `map(num_parallel_calls=AUTOTUNE, deterministic=False)`) in the
same process, and both pack: the baseline is `FastBertTokenizer` +
`[CLS] ... [SEP]` + padding to 128 (the fair plain-tokenizer equivalent of
the layer's output); the layer mixes vocabularies and, with --masking, also
masks. The two are timed alternately --repeats times (machine noise hits
both) and the medians are printed with their ratio (target: >= 0.5).

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
flags.DEFINE_integer("num_lines", 100000, "Lines to tokenise an epoch.")
flags.DEFINE_integer("batch_size", 256, "Batch size.")
flags.DEFINE_integer("sequence_length", 128, "Packed length of the layer.")
flags.DEFINE_float("p_sv", 0.5, "Student share of words.")
flags.DEFINE_bool("masking", True, "Also apply masked-LM masking in the layer.")
flags.DEFINE_integer("epochs", 1, "Epochs a timed repeat.")
flags.DEFINE_integer("repeats", 5, "Timed repeats of each side (medians are reported).")


def _throughput(dataset, n_lines, epochs):
    """(sentences per wall second, sentences per CPU second of this process).

    The CPU figure is much less sensitive to other processes on a busy machine.
    """
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        for _ in dataset:
            pass
    n = n_lines * epochs
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def main(argv):
    del argv
    import numpy as np
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

    base = tf.data.Dataset.from_tensor_slices(lines).cache().batch(FLAGS.batch_size)
    plain = tf_text.FastBertTokenizer(teacher.tokens, lower_case_nfd_strip_accents=True,
                                      token_out_type=tf.int32)
    length = FLAGS.sequence_length

    def plain_packed(text):
        # FastBertTokenizer + [CLS] ... [SEP] + padding to L: the layer's work
        # without the mixing and masking.
        ids = plain.tokenize(text)
        body = ids.to_tensor(default_value=0, shape=[None, length - 2])
        count = tf.minimum(tf.cast(ids.row_lengths(), tf.int32), length - 2)
        rows = tf.shape(body)[0]
        packed = tf.concat([tf.fill([rows, 1], teacher.cls_id), body,
                            tf.zeros([rows, 1], tf.int32)], 1)
        columns = tf.range(length)[None, :]
        sep = count[:, None] + 1
        return {"token_ids": tf.where(columns == sep, teacher.sep_id, packed),
                "padding_mask": columns <= sep}

    layer = MixedVocabPreprocessor(
        teacher, student, sequence_length=length, p_sv=FLAGS.p_sv, seed=0,
        masking_rate=0.15 if FLAGS.masking else None)
    datasets = {
        name: base.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        for name, fn in (("fast_bert_tokenizer", plain_packed), ("mixed_vocab_preprocessor", layer))
    }
    for dataset in datasets.values():  # warm-up: tracing, caching, autotuning
        for _ in range(2):
            for _ in dataset:
                pass
    runs = {name: [] for name in datasets}
    cpu_runs = {name: [] for name in datasets}
    # Alternate the two measurements so that machine noise hits both.
    for _ in range(FLAGS.repeats):
        for name, dataset in datasets.items():
            wall, cpu = _throughput(dataset, len(lines), FLAGS.epochs)
            runs[name].append(wall)
            cpu_runs[name].append(cpu)
    results = {name: float(np.median(values)) for name, values in runs.items()}
    results["ratio"] = results["mixed_vocab_preprocessor"] / results["fast_bert_tokenizer"]
    results["ratios_per_repeat"] = [
        m / f for m, f in zip(runs["mixed_vocab_preprocessor"], runs["fast_bert_tokenizer"])]
    results["cpu"] = {name: float(np.median(values)) for name, values in cpu_runs.items()}
    results["cpu_ratio"] = (
        results["cpu"]["mixed_vocab_preprocessor"] / results["cpu"]["fast_bert_tokenizer"])
    results["runs"] = runs
    results.update(lines=len(lines), batch_size=FLAGS.batch_size, repeats=FLAGS.repeats,
                   cpus=os.cpu_count(), load_average=os.getloadavg(),
                   sequence_length=FLAGS.sequence_length, p_sv=FLAGS.p_sv, masking=FLAGS.masking,
                   student_vocab_size=student.size, corpus=corpus)
    print(f"FastBertTokenizer + packing: {results['fast_bert_tokenizer']:10.0f} sentences/s "
          f"(median of {FLAGS.repeats})")
    print(f"MixedVocabPreprocessor:      {results['mixed_vocab_preprocessor']:10.0f} sentences/s "
          f"(median of {FLAGS.repeats})")
    print(f"per CPU second: {results['cpu']['fast_bert_tokenizer']:.0f} vs "
          f"{results['cpu']['mixed_vocab_preprocessor']:.0f}, ratio {results['cpu_ratio']:.2f}")
    print(f"ratio: {results['ratio']:.2f} (target >= 0.5); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    app.run(main)
