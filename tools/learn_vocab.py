"""Learns the student WordPiece vocabulary (stage 0) and writes its statistics.

Example:

  python tools/learn_vocab.py \
    --input_files='../shared/data/corpora/*.txt' --vocab_size=5000 \
    --max_lines=200000 --output=/tmp/student/vocab.txt

Writes `--output` (vocab.txt) and `vocab_stats.json` beside it, atomically.
"""

import json
import os
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_list("input_files", None, "Globs of text files, one document or sentence a line; "
                  "*.gz files are read as gzip.")
flags.DEFINE_integer("vocab_size", 5000, "Target vocabulary size, reserved tokens included.")
flags.DEFINE_enum("lower_case", "auto", ["auto", "true", "false"],
                  "Lower-case and strip accents; 'auto' follows --teacher_vocab (uncased if it has "
                  "no upper-case tokens).")
flags.DEFINE_string("output", None, "Where to write vocab.txt.")
flags.DEFINE_integer("max_lines", 200_000, "Sample at most this many non-empty lines, uniformly "
                     "over all files, in one pass (0: all).")
flags.DEFINE_float("held_out_fraction", 0.05, "Share of the sampled lines kept out of learning "
                   "and used for the statistics.")
flags.DEFINE_string("teacher_vocab", None, "The teacher's vocab.txt, for the statistics (default: "
                    "the offline MiniLM teacher's).")
flags.DEFINE_float("tolerance", 0.02, "Accepted relative distance from --vocab_size.")
flags.DEFINE_integer("max_unique_chars", 400, "Alphabet size of the learner.")
flags.DEFINE_integer("max_input_words", 200_000, "Learn from this many most frequent distinct "
                     "words. Learning time grows with it (docs/RESULTS.md).")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.mark_flags_as_required(["input_files", "output"])


def read_lines(patterns, max_lines, seed):
    """Non-empty lines of all files matching `patterns` (`.gz` read as gzip), sampled to
    `max_lines` in one pass."""
    from mixvocab_tf.corpora import CorpusError
    from mixvocab_tf.corpora import resolve_text_files
    from mixvocab_tf.corpora import sample_lines

    try:
        files = resolve_text_files(patterns)
    except CorpusError as error:
        raise app.UsageError(f"--input_files: {error}") from error
    return files, sample_lines(files, max_lines, seed)


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.vocab import Vocabulary
    from mixvocab_tf.vocab import learn_vocabulary
    from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics
    from mixvocab_tf.file_io import write_text_atomic

    teacher_path = FLAGS.teacher_vocab or os.path.join(paths.minilm_teacher_path(), "vocab.txt")
    teacher_tokens = Vocabulary.load(teacher_path).tokens
    if FLAGS.lower_case == "auto":
        lower_case = not any(t.lower() != t for t in teacher_tokens if not t.startswith("["))
    else:
        lower_case = FLAGS.lower_case == "true"

    start = time.time()
    files, lines = read_lines(FLAGS.input_files, FLAGS.max_lines, FLAGS.seed)
    n_held = max(1, int(len(lines) * FLAGS.held_out_fraction)) if len(lines) > 1 else 0
    held_out, train = lines[:n_held], lines[n_held:]
    if not train:
        raise app.UsageError("Not enough text to learn from. Fix: pass more input lines.")
    print(f"Read {len(lines)} lines from {len(files)} files; learning on {len(train)}, "
          f"measuring on {len(held_out)} (lower_case={lower_case}).")
    tokens = learn_vocabulary(train, vocab_size=FLAGS.vocab_size, lower_case=lower_case,
                              tolerance=FLAGS.tolerance, max_unique_chars=FLAGS.max_unique_chars,
                              max_input_words=FLAGS.max_input_words)
    vocab = Vocabulary(tokens, lower_case=lower_case)
    vocab.save(FLAGS.output)
    stats = vocabulary_statistics(vocab, Vocabulary(teacher_tokens, lower_case), held_out,
                                  lower_case=lower_case)
    stats.update({
        "target_vocab_size": FLAGS.vocab_size,
        "relative_size_error": (vocab.size - FLAGS.vocab_size) / FLAGS.vocab_size,
        "lower_case": lower_case,
        "input_files": files,
        "train_lines": len(train),
        "max_input_words": FLAGS.max_input_words,
        "teacher_vocab": teacher_path,
        "seconds": round(time.time() - start, 1),
    })
    stats_path = os.path.join(os.path.dirname(os.path.abspath(FLAGS.output)), "vocab_stats.json")
    write_text_atomic(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {vocab.size} tokens (target {FLAGS.vocab_size}) to {FLAGS.output}")
    print(f"Statistics ({stats_path}):")
    print(json.dumps({k: v for k, v in stats.items() if k != "input_files"}, indent=2, sort_keys=True))


if __name__ == "__main__":
    app.run(main)
