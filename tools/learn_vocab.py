"""Learns the student WordPiece vocabulary (stage 0) and writes its statistics.

Example:

  python tools/learn_vocab.py \
    --input_files='../shared/data/corpora/*.txt' --vocab_size=5000 \
    --max_lines=200000 --output=/tmp/student/vocab.txt

Writes `--output` (vocab.txt) and `vocab_stats.json` beside it, atomically: the
figures on held-out lines of the sample, and under `eval_sets` the same figures
on each named evaluation set (`--eval_sets`; by default SST-2 dev, BANKING77 and
SNIPS valid and 2,000 Wikipedia paragraphs, those the data set has; a set larger
than `--eval_set_lines` is a fixed-seed sample of it). No text of an evaluation
set is learned from: every sampled corpus line equal to one (up to whitespace)
is removed before learning, and `eval_texts_excluded_from_learning` counts them.

To measure an existing vocabulary on the evaluation sets instead (JSON on stdout):

  python tools/learn_vocab.py --vocab=pretrained/6x128/vocab.txt \
    --eval_sets=sst2_dev=sst2:dev,wikipedia=../shared/data/corpora/wikipedia_en.txt.gz
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.pipeline.evaluation_sets import DEFAULT_EVAL_SETS  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_list("input_files", None, "Globs of text files, one document or sentence a line; "
                  "*.gz files are read as gzip. Required unless --vocab.")
flags.DEFINE_integer("vocab_size", 5000, "Target vocabulary size, reserved tokens included.")
flags.DEFINE_enum("lower_case", "auto", ["auto", "true", "false"],
                  "Lower-case and strip accents; 'auto' follows --teacher_vocab (uncased if it has "
                  "no upper-case tokens).")
flags.DEFINE_string("output", None, "Where to write vocab.txt. Required unless --vocab.")
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
flags.DEFINE_list("eval_sets", None,
                  "Named evaluation sets, NAME=SOURCE, comma-separated. SOURCE is a task's split "
                  "TASK:SPLIT (e.g. sst2:dev, banking77:valid), read from --data_dir by the "
                  "task's reader, or text files (a path or glob, plain or *.gz, one text a "
                  f"line). Default: {','.join(DEFAULT_EVAL_SETS)} (the file under --data_dir), "
                  "those the data set has; --eval_sets= measures none.")
flags.DEFINE_integer("eval_set_lines", 2000, "Measure each evaluation set on at most this many "
                     "texts: a fixed sample of a larger set.")
flags.DEFINE_string("data_dir", None, "The data set TASK:SPLIT sources and the default evaluation "
                    "sets are read from (default: $MIXVOCAB_DATA or ../shared/data).")
flags.DEFINE_string("vocab", None, "Measure this vocab.txt on the evaluation sets instead of "
                    "learning one: prints the statistics as JSON.")


def input_files(patterns):
    """The files matching `patterns`, checked to hold text (`.gz` read as gzip)."""
    from mixvocab_tf.corpora import CorpusError
    from mixvocab_tf.corpora import resolve_text_files

    try:
        return resolve_text_files(patterns)
    except CorpusError as error:
        raise app.UsageError(f"--input_files: {error}") from error


def measure_vocabulary(vocab_path, teacher, eval_sets, sources, lower_case):
    """Statistics of an existing vocab.txt on the evaluation sets (`--vocab`)."""
    from mixvocab_tf.pipeline import evaluation_sets
    from mixvocab_tf.vocab import Vocabulary

    if not eval_sets:
        raise app.UsageError("No evaluation set to measure on. Fix: pass --eval_sets=NAME=SOURCE,"
                             "... or a --data_dir that holds the default sets.")
    try:
        student = Vocabulary.load(vocab_path, lower_case=lower_case)
    except (OSError, ValueError) as error:
        raise app.UsageError(f"--vocab: {error}") from error
    return {
        "vocab": vocab_path,
        "student_vocab_size": student.size,
        "teacher_vocab_size": teacher.size,
        "lower_case": lower_case,
        "eval_sets": evaluation_sets.measure_eval_sets(student, teacher, eval_sets, sources,
                                                       lower_case),
    }


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.corpora import sample_lines
    from mixvocab_tf.vocab import Vocabulary
    from mixvocab_tf.vocab import learn_vocabulary
    from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics
    from mixvocab_tf.file_io import write_text_atomic
    from mixvocab_tf.pipeline import evaluation_sets

    if FLAGS.vocab and (FLAGS.input_files or FLAGS.output):
        raise app.UsageError("--vocab measures an existing vocabulary. Fix: drop --input_files and "
                             "--output, or drop --vocab to learn one.")
    if not FLAGS.vocab and not (FLAGS.input_files and FLAGS.output):
        raise app.UsageError("Fix: pass --input_files and --output to learn a vocabulary, or "
                             "--vocab=vocab.txt to measure one.")
    if FLAGS.eval_set_lines < 1:
        raise app.UsageError("--eval_set_lines must be at least 1.")
    teacher_path = FLAGS.teacher_vocab or os.path.join(paths.minilm_teacher_path(), "vocab.txt")
    teacher_tokens = Vocabulary.load(teacher_path).tokens
    if FLAGS.lower_case == "auto":
        lower_case = not any(t.lower() != t for t in teacher_tokens if not t.startswith("["))
    else:
        lower_case = FLAGS.lower_case == "true"
    teacher = Vocabulary(teacher_tokens, lower_case)
    # Bad input files fail before the evaluation sets are read.
    files = None if FLAGS.vocab else input_files(FLAGS.input_files)
    data_dir = FLAGS.data_dir or paths.shared_data_dir()
    try:
        eval_sets, sources = evaluation_sets.read_eval_sets(FLAGS.eval_sets, data_dir,
                                                            FLAGS.eval_set_lines)
    except ValueError as error:
        raise app.UsageError(f"--eval_sets: {error}") from error

    if FLAGS.vocab:
        stats = measure_vocabulary(FLAGS.vocab, teacher, eval_sets, sources, lower_case)
        stats.update({"teacher_vocab": teacher_path, "eval_set_lines": FLAGS.eval_set_lines})
        evaluation_sets.print_eval_sets(stats["eval_sets"], sys.stderr)
        print(json.dumps(stats, indent=2, sort_keys=True))
        return

    start = time.time()
    lines = sample_lines(files, FLAGS.max_lines, FLAGS.seed)
    lines, excluded = evaluation_sets.remove_eval_texts(lines, eval_sets)
    n_held = max(1, int(len(lines) * FLAGS.held_out_fraction)) if len(lines) > 1 else 0
    held_out, train = lines[:n_held], lines[n_held:]
    if not train:
        raise app.UsageError("Not enough text to learn from. Fix: pass more input lines.")
    print(f"Read {len(lines) + excluded} lines from {len(files)} files; {excluded} are "
          f"evaluation texts and not used; learning on {len(train)}, measuring on "
          f"{len(held_out)} (lower_case={lower_case}).")
    tokens = learn_vocabulary(train, vocab_size=FLAGS.vocab_size, lower_case=lower_case,
                              tolerance=FLAGS.tolerance, max_unique_chars=FLAGS.max_unique_chars,
                              max_input_words=FLAGS.max_input_words)
    vocab = Vocabulary(tokens, lower_case=lower_case)
    vocab.save(FLAGS.output)
    seconds = round(time.time() - start, 1)
    stats = vocabulary_statistics(vocab, teacher, held_out, lower_case=lower_case)
    stats.update({
        "target_vocab_size": FLAGS.vocab_size,
        "relative_size_error": (vocab.size - FLAGS.vocab_size) / FLAGS.vocab_size,
        "lower_case": lower_case,
        "input_files": files,
        "train_lines": len(train),
        "eval_texts_excluded_from_learning": excluded,
        "max_input_words": FLAGS.max_input_words,
        "teacher_vocab": teacher_path,
        "seconds": seconds,  # reading the corpus and learning
        "eval_set_lines": FLAGS.eval_set_lines,
        "eval_sets": evaluation_sets.measure_eval_sets(vocab, teacher, eval_sets, sources,
                                                       lower_case),
    })
    stats_path = os.path.join(os.path.dirname(os.path.abspath(FLAGS.output)), "vocab_stats.json")
    write_text_atomic(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {vocab.size} tokens (target {FLAGS.vocab_size}) to {FLAGS.output}")
    print(f"Statistics ({stats_path}):")
    print(json.dumps({k: v for k, v in stats.items() if k not in ("input_files", "eval_sets")},
                     indent=2, sort_keys=True))
    print("Evaluation sets:")
    evaluation_sets.print_eval_sets(stats["eval_sets"], sys.stdout)


if __name__ == "__main__":
    app.run(main)
