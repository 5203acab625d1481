"""Named evaluation sets of a vocabulary: task splits and text files, read and sampled.

`tools/learn_vocab.py` measures pieces a word and unknown tokens on them, and keeps their texts
out of the lines it learns from. A set is `NAME=SOURCE`: SOURCE is a task's split,
`TASK:SPLIT` (both texts of a pair), read by the task's reader, or text files (a path or
glob, plain or `.gz`, one text a line). A set larger than `max_texts` is a fixed-seed sample.

Why in `pipeline/`: it reads task splits (`tasks/`) and corpora for the vocabulary's
statistics (`preprocessing/`), and `vocab/` sits below both.

Example:
>>> texts, sources = read_eval_sets(["snips_valid=snips:valid"], "../shared/data", 2000)
>>> measure_eval_sets(student, teacher, texts, sources, lower_case=True)["snips_valid"]
"""

import os
import random
import sys

from mixvocab_tf.corpora import CorpusError
from mixvocab_tf.corpora import resolve_text_files
from mixvocab_tf.corpora import sample_lines
from mixvocab_tf.preprocessing.vocabulary_statistics import evaluation_set_statistics
from mixvocab_tf.tasks.readers import TaskDataError
from mixvocab_tf.tasks.task_registry import get_task

# NAME=SOURCE entries measured when no sets are named: task splits and a corpus file of the
# data set (its folder).
DEFAULT_EVAL_SETS = ("sst2_dev=sst2:dev", "banking77_valid=banking77:valid",
                     "snips_valid=snips:valid", "wikipedia=corpora/wikipedia_en.txt.gz")
# Seeds the sample of a set larger than its limit. Fixed, not the learner's seed: vocabularies
# learned with any seed are measured on the same texts.
EVAL_SAMPLE_SEED = 0


def parse_eval_sets(entries):
    """`NAME=SOURCE` strings -> a dict name -> source, in order.

    Example:

    >>> parse_eval_sets(["sst2_dev=sst2:dev", "wiki=/data/wiki.txt.gz"])
    {'sst2_dev': 'sst2:dev', 'wiki': '/data/wiki.txt.gz'}

    Raises:
      ValueError: an entry without a name or a source, or a name given twice.
    """
    sources = {}
    for entry in entries:
        name, equals, source = (part.strip() for part in entry.partition("="))
        if not equals or not name or not source:
            raise ValueError(
                f"{entry!r} is not NAME=SOURCE. Fix: e.g. "
                "sst2_dev=sst2:dev,wiki=corpus.txt.gz (a TASK:SPLIT or text files).")
        if name in sources:
            raise ValueError(f"the name {name!r} is given twice. Fix: name each "
                                 "set once.")
        sources[name] = source
    return sources


def _task_of(source):
    """(task, split) when `source` reads TASK:SPLIT with a registered TASK, else (None, None)."""
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
      ValueError: no such task split or file, unreadable data, or no text.
    """
    where = f"{name}={source}"
    task, split = _task_of(source)
    if task is not None:
        found = {} if task.tfds_name else task.found_splits(data_dir)
        if not task.tfds_name and split not in found:
            raise ValueError(
                f"{where}: task {task.name!r} has no split {split!r} under {data_dir} (found: "
                f"{sorted(found) or 'none'}). Fix: name one of those, or another data folder.")
        try:
            examples = task.read(data_dir, split, skip_empty=True)
        except (TaskDataError, OSError) as error:
            raise ValueError(f"{where}: {error}") from error
        texts = examples.texts + (examples.text_pairs or [])
        texts = [text for text in texts if text.strip()]
        if len(texts) > max_texts:
            texts = random.Random(EVAL_SAMPLE_SEED).sample(texts, max_texts)
    else:
        try:
            texts = sample_lines(resolve_text_files([source]), max_texts, EVAL_SAMPLE_SEED)
        except CorpusError as error:
            raise ValueError(
                f"{where}: {error} A task split is written TASK:SPLIT (e.g. sst2:dev).") from error
    if not texts:
        raise ValueError(f"{where}: the set has no text. Fix: point it at a split or file "
                             "with non-empty lines.")
    return texts


def _default_source_exists(source, data_dir):
    task, split = _task_of(source)
    if task is not None:
        return split in task.found_splits(data_dir)
    return os.path.exists(source)


def read_eval_sets(entries, data_dir, max_texts):
    """Reads named evaluation sets (`entries`, or `DEFAULT_EVAL_SETS` when None).

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


def measure_eval_sets(student, teacher, eval_sets, sources, lower_case):
    if not eval_sets:
        return {}
    per_set = evaluation_set_statistics(student, teacher, eval_sets, lower_case=lower_case)
    return {name: {"source": sources[name], **figures} for name, figures in per_set.items()}


def print_eval_sets(per_set, file):
    for name, figures in per_set.items():
        print(f"  {name}: {figures['lines']} texts, pieces a word "
              f"{figures['student_pieces_per_word']:.3f} (teacher "
              f"{figures['teacher_pieces_per_word']:.3f}), unknown "
              f"{figures['unknown_token_rate']:.4f}", file=file)
