"""Packing lines into sequences: real tokens per batch, text lost, input-pipeline speed.

For each corpus, the Stage II input pipeline (`text_line_dataset` with a
`SingleVocabPreprocessor` on the student vocabulary, masking on) is read with
one line a sequence (`--nopack`, the old default) and packed, and the script
prints for each:

- real-token share: non-pad tokens / (batch x L), what a training step pays for;
- truncated share: tokens of the input text that fall past L and are never seen
  (counted by tokenising each sequence again at 8 x L);
- real tokens per second and per CPU second of the whole input pipeline
  (reading, packing, preprocessing), so packing's cost shows beside the layer's.

Example:
  python benchmarks/packing.py --student_vocab=runs/demo/vocab/vocab.txt \
      --corpora=../shared/data/corpora/wikipedia_en.txt.gz --sequence_length=128
"""

import json
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("student_vocab", None, "Student vocab.txt.")
flags.DEFINE_list("corpora", None, "Corpus files (default: the shared Wikipedia and ELTeC "
                  "gzip files and WordNet glosses, each on its own).")
flags.DEFINE_integer("sequence_length", 128, "L.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("batches", 40, "Batches measured per setting.")
flags.DEFINE_list("fill", ["1.0"], "Packing targets: shares of the L-2 token slots the word "
                  "budget aims at (the library's default is 1.0).")
flags.mark_flags_as_required(["student_vocab"])


def measure(files, pack, layer, budget):
    """Real-token share and real tokens per (CPU) second of the input pipeline."""
    import numpy as np

    from mixvocab_tf.training.text_data import text_line_dataset

    data = text_line_dataset(files, FLAGS.batch_size, layer, seed=0, pack=pack,
                             words_per_sequence=budget)
    iterator = iter(data)
    next(iterator)  # fills the shuffle buffer, traces the map
    start, cpu = time.perf_counter(), time.process_time()
    real = 0
    for _ in range(FLAGS.batches):
        real += int(np.sum(next(iterator)["padding_mask"]))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    slots = FLAGS.batches * FLAGS.batch_size * FLAGS.sequence_length
    return {"real_token_share": real / slots, "real_tokens_per_s": real / wall,
            "real_tokens_per_cpu_s": real / cpu}


def truncated_share(files, pack, budget, long_layer):
    """Share of text tokens past L, over 20 batches of the same pipeline as strings,
    tokenised at 8 x L."""
    import numpy as np

    from mixvocab_tf.training import text_data

    data = text_data.text_line_dataset(files, FLAGS.batch_size, lambda x: x, seed=0, pack=pack,
                                       words_per_sequence=budget)
    total = kept = 0
    for texts in data.take(20):
        counts = np.sum(long_layer(texts)["padding_mask"], axis=1) - 2
        total += int(np.sum(counts))
        kept += int(np.sum(np.minimum(counts, FLAGS.sequence_length - 2)))
    return 1 - kept / total


def main(argv):
    del argv
    import os

    from mixvocab_tf import paths
    from mixvocab_tf.preprocessing import SingleVocabPreprocessor
    from mixvocab_tf.training import text_data

    corpora = FLAGS.corpora or [
        os.path.join(paths.shared_data_dir(), "corpora", name)
        for name in ("wikipedia_en.txt.gz", "eltec_novels_en.txt.gz", "wordnet_glosses.txt")
    ]
    layer = SingleVocabPreprocessor(FLAGS.student_vocab, sequence_length=FLAGS.sequence_length,
                                    masking_rate=0.15, seed=0)
    long_layer = SingleVocabPreprocessor(FLAGS.student_vocab,
                                         sequence_length=8 * FLAGS.sequence_length)
    results = {}
    for path in corpora:
        ratio = text_data.tokens_per_word([path], layer)
        for fill in [None] + [float(f) for f in FLAGS.fill]:
            pack = fill is not None
            budget = text_data.word_budget(FLAGS.sequence_length, ratio, fill) if pack else None
            record = measure([path], pack, layer, budget)
            record["truncated_share"] = truncated_share([path], pack, budget, long_layer)
            record["words_per_sequence"] = budget
            record["tokens_per_word"] = ratio
            name = f"packed, fill {fill}" if pack else "one line"
            results[f"{os.path.basename(path)} {name}"] = record
    print(f"L={FLAGS.sequence_length}, batch {FLAGS.batch_size}, {FLAGS.batches} batches, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'corpus, mode':44} {'real share':>10} {'truncated':>9} {'words/seq':>9} "
          f"{'tok/s':>8} {'tok/CPU-s':>9}")
    for name, r in results.items():
        print(f"{name:44} {r['real_token_share']:10.3f} {r['truncated_share']:9.3f} "
              f"{str(r['words_per_sequence'] or '-'):>9} {r['real_tokens_per_s']:8.0f} "
              f"{r['real_tokens_per_cpu_s']:9.0f}")
    print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
