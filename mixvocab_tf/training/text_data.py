"""Plain-text corpora as `tf.data` pipelines of preprocessed batches."""

import glob
import os

import tensorflow as tf


class CorpusError(ValueError):
    """A corpus argument names no readable, non-empty text."""


def resolve_text_files(patterns):
    """Expands globs (a string, comma-separated, or a list) into sorted file paths.

    Raises:
      CorpusError: when nothing matches or every matched file is empty, naming
        the patterns and the fix.
    """
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    files = sorted({path for pattern in patterns for path in glob.glob(os.path.expanduser(pattern))})
    files = [path for path in files if os.path.isfile(path)]
    if not files:
        raise CorpusError(
            f"No text files match {list(patterns)}. Fix: pass existing files or globs, "
            "one document or sentence a line."
        )
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            if any(line.strip() for line in f):
                return files
    raise CorpusError(f"The corpus {files} has no non-empty line. Fix: pass files with text.")


def text_line_dataset(files, batch_size, preprocessor, shuffle=True, repeat=True, seed=None):
    """Batches of non-empty lines of `files`, mapped through `preprocessor`.

    Args:
      files: text files (see `resolve_text_files`).
      batch_size: the global batch size.
      preprocessor: a preprocessing layer, called on each string batch.
      shuffle: shuffle lines (a 10,000-line buffer, files interleaved).
      repeat: repeat forever (training) or read once (evaluation).
      seed: shuffle seed.

    Returns:
      A `tf.data.Dataset` of the preprocessor's output dicts.
    """
    dataset = tf.data.Dataset.from_tensor_slices(list(files))
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        tf.data.TextLineDataset, cycle_length=min(len(files), 4), num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = dataset.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)
    if repeat:
        dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(10_000, seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=repeat)
    dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    # Multi-worker runs shard by element: a corpus may be a single file, and
    # the seeded shuffle gives every worker the same order to split.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
