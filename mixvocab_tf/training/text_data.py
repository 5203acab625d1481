"""Plain-text corpora as `tf.data` pipelines of preprocessed batches.

Files ending in `.gz` are read as gzip. With `pack=True` (the default for
training) consecutive lines of a file are joined into sequences of about
`sequence_length` tokens, as BERT's pretraining data is, instead of one padded
line a sequence: short lines (dictionary glosses, dialogue) no longer leave
most of a batch padding, and long paragraphs are cut into several sequences
instead of losing their tails to truncation.

Packing works on whitespace words, before the preprocessing layer (whose
speed it leaves alone): a sequence gets `words_per_sequence` words, the
token budget divided by the tokens per word that the preprocessor produces on
a sample of the corpus (measured once, at the finest segmentation it can
produce, `p_sv = 1`). A sequence never mixes two files.
"""

import inspect
import math
import os

import numpy as np
import tensorflow as tf

from mixvocab_tf.corpora import CorpusError  # noqa: F401  (re-exported)
from mixvocab_tf.corpora import is_gzip
from mixvocab_tf.corpora import open_text
from mixvocab_tf.corpora import resolve_text_files  # noqa: F401  (re-exported)

# Lines of each file tokenised to measure tokens per word.
_SAMPLE_LINES = 256
# The word budget aims at this share of the token budget: tokens per word vary
# between sequences, and a sequence over the budget loses its tail.
_FILL_TARGET = 1.0
# Lines a packing step reads at once.
_PACK_BLOCK = 256
# Files past this count are interleaved four at a time instead of each one
# being sampled in proportion to its size.
_MAX_WEIGHTED_FILES = 16


def _compression(path):
    return tf.where(tf.strings.regex_full_match(path, r".*\.gz"), "GZIP", "")


def _file_lines(path):
    lines = tf.data.TextLineDataset(path, compression_type=_compression(path))
    return lines.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)


def pack_lines(lines, words_per_sequence, split_lines=True):
    """Joins consecutive lines of one file into sequences of `words_per_sequence` words.

    Args:
      lines: a `tf.data.Dataset` of non-empty str lines of one file.
      words_per_sequence: the most whitespace words of a packed sequence.
      split_lines: `True` fills every sequence, continuing a line that does not
        fit in the next sequence; `False` starts a sequence at a line start
        whenever the line fits in one sequence (a line longer than that is still
        cut into full sequences).

    Returns:
      A `tf.data.Dataset` of str sequences, words joined by single spaces; its
      last sequence holds the rest of the file.
    """
    size = int(words_per_sequence)
    if size < 1:
        raise ValueError(f"words_per_sequence must be >= 1, got {words_per_sequence}.")
    if split_lines:
        # Blocks of lines at a time: the words of a block are cut in a few vectorised ops,
        # about as fast as reading the lines (a line at a time would cost more than the
        # preprocessing layer). The output is the same.
        lines = lines.batch(_PACK_BLOCK)
        empty = tf.constant([], tf.string)
    else:
        empty = tf.constant("")
    # An end-of-file marker flushes what is left.
    marked = lines.map(lambda line: (line, False)).concatenate(
        tf.data.Dataset.from_tensors((empty, True))
    )

    def step(buffer, element):
        line, end = element
        words = tf.strings.split(line)
        if split_lines:
            words = words.flat_values
        else:
            # A line that would overflow the buffer but fits a sequence starts the next one:
            # emit the buffer alone first, as one padded "sequence" of its own.
            held = tf.size(buffer)
            pad = tf.where(
                (held > 0) & (held + tf.size(words) > size) & (tf.size(words) <= size),
                size - held,
                0,
            )
            buffer = tf.concat([buffer, tf.fill([pad], "")], 0)
        words = tf.concat([buffer, words], 0)
        total = tf.size(words)
        # At the end of the file the partial sequence is emitted too.
        count = tf.where(end, (total + size - 1) // size, total // size)
        cut = tf.minimum(count * size, total)
        chunks = tf.RaggedTensor.from_row_splits(
            words[:cut], tf.minimum(tf.range(count + 1) * size, cut)
        )
        joined = tf.strings.reduce_join(chunks, axis=1, separator=" ")
        if not split_lines:
            # Drop the padding words' separators.
            joined = tf.strings.regex_replace(tf.strings.strip(joined), " +", " ")
        return words[cut:], joined

    packed = marked.scan(tf.constant([], tf.string), step).unbatch()
    return packed.filter(lambda text: tf.strings.length(text) > 0)


def _sample_text(files, lines_per_file=_SAMPLE_LINES):
    sample = []
    for path in files:
        with open_text(path) as f:
            kept = 0
            for line in f:
                if line.strip():
                    sample.append(line.strip())
                    kept += 1
                    if kept == lines_per_file:
                        break
    return sample


def tokens_per_word(files, preprocessor, sample_lines=_SAMPLE_LINES):
    """Measures the preprocessor's tokens per whitespace word on the first lines of each file.

    A mixed-vocabulary preprocessor is measured at `p_sv = 1` (the student
    vocabulary has the most pieces per word; Stage I ramps up to it) and its
    `p_sv` restored afterwards.

    Returns:
      A float, at least 1.
    """
    words = [w for line in _sample_text(files, sample_lines) for w in line.split()]
    if not words:
        return 1.0
    # Chunks short enough that no piece is truncated away.
    length = int(preprocessor.sequence_length) - 2
    chunk = max(1, length // 8)
    texts = [" ".join(words[i : i + chunk]) for i in range(0, len(words), chunk)]
    p_sv = getattr(preprocessor, "p_sv", None)
    saved = None if p_sv is None else float(p_sv.numpy())
    tokens = 0
    try:
        if p_sv is not None:
            p_sv.assign(1.0)
        for start in range(0, len(texts), 256):
            mask = preprocessor(tf.constant(texts[start : start + 256]))["padding_mask"]
            # Less [CLS] and [SEP].
            tokens += int(np.sum(mask)) - 2 * int(mask.shape[0])
    finally:
        if p_sv is not None:
            p_sv.assign(saved)
    return max(1.0, tokens / len(words))


def word_budget(sequence_length, ratio, fill=None):
    """The word budget of a packed sequence: `fill` (default 1.0) of the L-2 token slots
    at `ratio` tokens per word."""
    fill = _FILL_TARGET if fill is None else fill
    return max(1, int(math.floor((sequence_length - 2) * fill / ratio)))


def _file_weights(files):
    """Each file's share of the text: its size, a gzip file's uncompressed size."""
    sizes = []
    for path in files:
        size = None
        if is_gzip(path):
            # The gzip trailer holds the uncompressed size modulo 2^32 (exact below 4 GiB).
            with open(path, "rb") as f:
                f.seek(-4, 2)
                size = int.from_bytes(f.read(4), "little")
            if size == 0:
                size = None
        if size is None:
            size = os.path.getsize(path) * (3 if is_gzip(path) else 1)
        sizes.append(max(size, 1))
    total = float(sum(sizes))
    return [s / total for s in sizes]


def text_line_dataset(
    files,
    batch_size,
    preprocessor,
    shuffle=True,
    repeat=True,
    seed=None,
    pack=True,
    split_lines=True,
    words_per_sequence=None,
    shuffle_buffer=10_000,
):
    """Batches of `files`' text, mapped through `preprocessor`.

    Args:
      files: text files, `.gz` read as gzip (see `resolve_text_files`).
      batch_size: the global batch size.
      preprocessor: a preprocessing layer, called on each string batch; its
        `sequence_length` sets the packing budget. A `MixedVocabPreprocessor`
        (or `SingleVocabPreprocessor`) is given each batch's position as its
        `draw_index`, so a seeded run draws the same masks on every run.
      shuffle: shuffle sequences (`shuffle_buffer` of them) and file order.
      repeat: repeat forever (training) or read once (evaluation). Shuffled,
        repeating files are drawn in proportion to their size (up to 16 files;
        more are interleaved four at a time).
      seed: shuffle seed.
      pack: join consecutive lines of a file into sequences of about
        `sequence_length` tokens (see `pack_lines`); `False`: one line a sequence.
      split_lines: with `pack`, continue a line that does not fit in the next
        sequence (densest); `False` starts sequences at line starts.
      words_per_sequence: the packing word budget; `None` derives it from the
        preprocessor's tokens per word on the corpus (`tokens_per_word`).
      shuffle_buffer: sequences in the shuffle buffer.

    Returns:
      A `tf.data.Dataset` of the preprocessor's output dicts.
    """
    files = list(files)
    if pack:
        budget = words_per_sequence or word_budget(
            preprocessor.sequence_length, tokens_per_word(files, preprocessor)
        )

        def read(path):
            return pack_lines(_file_lines(path), budget, split_lines)

    else:
        read = _file_lines
    if shuffle:
        files = list(np.random.default_rng(seed).permutation(files)) if len(files) > 1 else files
    if shuffle and repeat and 1 < len(files) <= _MAX_WEIGHTED_FILES:
        # Each file repeats on its own and is drawn in proportion to its size, so a small
        # corpus mixed with a large one keeps its share instead of running dry early.
        weights = _file_weights(files)
        dataset = tf.data.Dataset.sample_from_datasets(
            [read(tf.constant(path)).repeat() for path in files], weights=weights, seed=seed
        )
    else:
        dataset = tf.data.Dataset.from_tensor_slices(files)
        dataset = dataset.interleave(
            read, cycle_length=min(len(files), 4), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if repeat:
            dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=repeat)
    if _draws_by_index(preprocessor):
        # Each batch's random draws (masking, p_sv word choices) follow from the seed and
        # its position, not from the order in which the parallel map's threads run.
        dataset = dataset.enumerate().map(
            lambda index, texts: preprocessor(texts, draw_index=index),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    # Multi-worker runs shard by element: a corpus may be a single file, and
    # the seeded shuffle gives every worker the same order to split.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _draws_by_index(preprocessor):
    """Whether `preprocessor` takes a batch position for its random draws (`draw_index`)."""
    call = getattr(preprocessor, "call", None)
    return call is not None and "draw_index" in inspect.signature(call).parameters
