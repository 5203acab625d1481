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
import random
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS

# NAME=SOURCE entries measured when --eval_sets is not given: task splits and a corpus file of
# the data set (--data_dir).
DEFAULT_EVAL_SETS = ("sst2_dev=sst2:dev", "banking77_valid=banking77:valid",
                     "snips_valid=snips:valid", "wikipedia=corpora/wikipedia_en.txt.gz")
# Seeds the sample of a set larger than --eval_set_lines. Fixed, not --seed: vocabularies
# learned with any seed are measured on the same texts.
EVAL_SAMPLE_SEED = 0

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


def parse_eval_sets(entries):
    """`NAME=SOURCE` strings -> a dict name -> source, in order.

    Example:

    >>> parse_eval_sets(["sst2_dev=sst2:dev", "wiki=/data/wiki.txt.gz"])
    {'sst2_dev': 'sst2:dev', 'wiki': '/data/wiki.txt.gz'}

    Raises:
      app.UsageError: an entry without a name or a source, or a name given twice.
    """
    sources = {}
    for entry in entries:
        name, equals, source = (part.strip() for part in entry.partition("="))
        if not equals or not name or not source:
            raise app.UsageError(
                f"--eval_sets: {entry!r} is not NAME=SOURCE. Fix: e.g. "
                "--eval_sets=sst2_dev=sst2:dev,wiki=corpus.txt.gz (a TASK:SPLIT or text files).")
        if name in sources:
            raise app.UsageError(f"--eval_sets: the name {name!r} is given twice. Fix: name each "
                                 "set once.")
        sources[name] = source
    return sources


def _task_of(source):
    """(task, split) when `source` reads TASK:SPLIT with a registered TASK, else (None, None)."""
    from mixvocab_tf.tasks.task_registry import get_task

    task_name, colon, split = source.rpartition(":")
    if not colon or not task_name or not split or os.path.exists(source):
        return None, None
    try:
        return get_task(task_name), split
    except ValueError:
        return None, None


def read_eval_set(name, source, data_dir, max_texts):
    """The texts of one evaluation set, at most `max_texts` (a fixed sample of a larger set).

    Example:

    >>> read_eval_set("sst2_dev", "sst2:dev", "../shared/data", 2000)[:1]  # doctest: +SKIP

    Args:
      name: the set's name, for messages.
      source: "TASK:SPLIT" (both texts of a pair) or text files, a path or glob.
      data_dir: where TASK:SPLIT is read from.
      max_texts: the most texts kept.

    Raises:
      app.UsageError: no such task split or file, unreadable data, or no text.
    """
    from mixvocab_tf.corpora import CorpusError
    from mixvocab_tf.corpora import resolve_text_files
    from mixvocab_tf.corpora import sample_lines
    from mixvocab_tf.tasks.readers import TaskDataError

    where = f"--eval_sets: {name}={source}"
    task, split = _task_of(source)
    if task is not None:
        found = {} if task.tfds_name else task.found_splits(data_dir)
        if not task.tfds_name and split not in found:
            raise app.UsageError(
                f"{where}: task {task.name!r} has no split {split!r} under {data_dir} (found: "
                f"{sorted(found) or 'none'}). Fix: name one of those, or pass --data_dir.")
        try:
            examples = task.read(data_dir, split, skip_empty=True)
        except (TaskDataError, OSError) as error:
            raise app.UsageError(f"{where}: {error}") from error
        texts = examples.texts + (examples.text_pairs or [])
        texts = [text for text in texts if text.strip()]
        if len(texts) > max_texts:
            texts = random.Random(EVAL_SAMPLE_SEED).sample(texts, max_texts)
    else:
        try:
            texts = sample_lines(resolve_text_files([source]), max_texts, EVAL_SAMPLE_SEED)
        except CorpusError as error:
            raise app.UsageError(
                f"{where}: {error} A task split is written TASK:SPLIT (e.g. sst2:dev).") from error
    if not texts:
        raise app.UsageError(f"{where}: the set has no text. Fix: point it at a split or file "
                             "with non-empty lines.")
    return texts


def _default_source_exists(source, data_dir):
    task, split = _task_of(source)
    if task is not None:
        return split in task.found_splits(data_dir)
    return os.path.exists(source)


def read_eval_sets(entries, data_dir, max_texts):
    """Reads `--eval_sets` (`entries`, or `DEFAULT_EVAL_SETS` when None).

    The default sets' files are under `data_dir`, and a default set the data set lacks is
    skipped with a note; a set asked for must exist.

    Example:

    >>> texts, sources = read_eval_sets(  # doctest: +SKIP
    ...     ["snips_valid=snips:valid"], "../shared/data", 2000)
    >>> len(texts["snips_valid"]), sources["snips_valid"]  # doctest: +SKIP
    (700, 'snips:valid')

    Returns:
      (name -> texts, name -> source as read), in order.
    """
    if entries is None:
        sources = {}
        for name, source in parse_eval_sets(DEFAULT_EVAL_SETS).items():
            if _task_of(source)[0] is None:
                source = os.path.join(data_dir, source)
            if _default_source_exists(source, data_dir):
                sources[name] = source
            else:
                print(f"Not measuring the default evaluation set {name}: {source} is not in "
                      f"{data_dir} (--data_dir).", file=sys.stderr)
    else:
        sources = parse_eval_sets(entries)
    return {name: read_eval_set(name, source, data_dir, max_texts)
            for name, source in sources.items()}, sources


def _text_key(text):
    # Task readers normalise the whitespace inside a text and corpus lines are only stripped,
    # so texts compare up to whitespace.
    return " ".join(text.split())


def remove_eval_texts(lines, eval_sets):
    """`lines` without those equal (up to whitespace) to a text of an evaluation set.

    Example:

    >>> remove_eval_texts(["a b", "c", "a  b "], {"dev": ["a b"]})
    (['c'], 2)

    Returns:
      (the kept lines in order, how many were removed).
    """
    held = {_text_key(text) for texts in eval_sets.values() for text in texts}
    kept = [line for line in lines if _text_key(line) not in held]
    return kept, len(lines) - len(kept)


def _measure_eval_sets(student, teacher, eval_sets, sources, lower_case):
    from mixvocab_tf.preprocessing.vocabulary_statistics import evaluation_set_statistics

    if not eval_sets:
        return {}
    per_set = evaluation_set_statistics(student, teacher, eval_sets, lower_case=lower_case)
    return {name: {"source": sources[name], **figures} for name, figures in per_set.items()}


def _print_eval_sets(per_set, file):
    for name, figures in per_set.items():
        print(f"  {name}: {figures['lines']} texts, pieces a word "
              f"{figures['student_pieces_per_word']:.3f} (teacher "
              f"{figures['teacher_pieces_per_word']:.3f}), unknown "
              f"{figures['unknown_token_rate']:.4f}", file=file)


def measure_vocabulary(vocab_path, teacher, eval_sets, sources, lower_case):
    """Statistics of an existing vocab.txt on the evaluation sets (`--vocab`)."""
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
        "eval_sets": _measure_eval_sets(student, teacher, eval_sets, sources, lower_case),
    }


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.corpora import sample_lines
    from mixvocab_tf.vocab import Vocabulary
    from mixvocab_tf.vocab import learn_vocabulary
    from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics
    from mixvocab_tf.file_io import write_text_atomic

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
    eval_sets, sources = read_eval_sets(FLAGS.eval_sets, data_dir, FLAGS.eval_set_lines)

    if FLAGS.vocab:
        stats = measure_vocabulary(FLAGS.vocab, teacher, eval_sets, sources, lower_case)
        stats.update({"teacher_vocab": teacher_path, "eval_set_lines": FLAGS.eval_set_lines})
        _print_eval_sets(stats["eval_sets"], sys.stderr)
        print(json.dumps(stats, indent=2, sort_keys=True))
        return

    start = time.time()
    lines = sample_lines(files, FLAGS.max_lines, FLAGS.seed)
    lines, excluded = remove_eval_texts(lines, eval_sets)
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
        "eval_sets": _measure_eval_sets(vocab, teacher, eval_sets, sources, lower_case),
    })
    stats_path = os.path.join(os.path.dirname(os.path.abspath(FLAGS.output)), "vocab_stats.json")
    write_text_atomic(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {vocab.size} tokens (target {FLAGS.vocab_size}) to {FLAGS.output}")
    print(f"Statistics ({stats_path}):")
    print(json.dumps({k: v for k, v in stats.items() if k not in ("input_files", "eval_sets")},
                     indent=2, sort_keys=True))
    print("Evaluation sets:")
    _print_eval_sets(stats["eval_sets"], sys.stdout)


if __name__ == "__main__":
    app.run(main)
