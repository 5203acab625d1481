"""Corpus files: globs to paths, plain or gzip text, sampled lines.

A corpus is one or more text files, one document, paragraph or sentence a
line. A file whose name ends in `.gz` is gzip-compressed and read as it is
(nothing is unpacked on disk); any other file is UTF-8 text. Every reader of
a corpus (`tools/learn_vocab.py`, Stage I and II, the pipeline) goes through
this module, so all of them accept the same arguments.

Example:

>>> files = resolve_text_files("corpora/wikipedia_en.txt.gz,corpora/*.txt")  # doctest: +SKIP
>>> lines = sample_lines(files, max_lines=200_000, seed=0)  # doctest: +SKIP
"""

import glob
import gzip
import os
import random


class CorpusError(ValueError):
    """A corpus argument names no readable, non-empty text."""


def is_gzip(path):
    """Whether `path` is read as gzip (chosen by the file name: `*.gz`)."""
    return str(path).endswith(".gz")


def open_text(path):
    """Opens a corpus file for reading text lines, `.gz` transparently."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def resolve_text_files(patterns):
    """Expands globs (a string, comma-separated, or a list) into sorted file paths.

    Raises:
      CorpusError: when nothing matches, every matched file is empty, or a
        `.gz` file is not gzip; the message names the patterns and the fix.
    """
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    files = sorted({path for pattern in patterns for path in glob.glob(os.path.expanduser(pattern))})
    files = [path for path in files if os.path.isfile(path)]
    if not files:
        raise CorpusError(
            f"No text files match {list(patterns)}. Fix: pass existing files or globs, "
            "one document or sentence a line (plain UTF-8 or gzip named *.gz)."
        )
    has_text = False
    for path in files:
        try:
            with open_text(path) as f:
                # Reading one line checks the format; a file is read on only while no
                # earlier one had text, and only up to its first non-empty line.
                first = f.readline()
                has_text = has_text or bool(first.strip()) or any(line.strip() for line in f)
        except (OSError, EOFError, UnicodeError) as error:  # gzip.BadGzipFile is an OSError
            raise CorpusError(
                f"{path} is not readable as {'gzip' if is_gzip(path) else 'text'} ({error}). "
                "Fix: name gzip files *.gz and plain text files anything else."
            ) from error
    if not has_text:
        raise CorpusError(f"The corpus {files} has no non-empty line. Fix: pass files with text.")
    return files


def iter_lines(files):
    """Yields the stripped, non-empty lines of `files` in order."""
    for path in files:
        with open_text(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    yield line


def sample_lines(files, max_lines=None, seed=0):
    """Non-empty lines of `files` in a seeded random order, at most `max_lines`.

    Reads the files once, keeping at most `max_lines` lines in memory
    (reservoir sampling), so a corpus of any size costs one pass. When the
    corpus has no more than `max_lines` lines the result is all of them in
    `random.Random(seed).shuffle` order.

    Args:
      files: paths (see `resolve_text_files`).
      max_lines: the sample size; `None` or 0 keeps every line.
      seed: the sampling and shuffling seed.

    Returns:
      A list of str.
    """
    rng = random.Random(seed)
    if not max_lines:
        lines = list(iter_lines(files))
        rng.shuffle(lines)
        return lines
    reservoir = []
    sampler = random.Random(seed + 1)
    for n, line in enumerate(iter_lines(files)):
        if n < max_lines:
            reservoir.append(line)
        else:
            # Algorithm R: line n replaces a kept one with probability max_lines / (n + 1).
            j = sampler.randrange(n + 1)
            if j < max_lines:
                reservoir[j] = line
    rng.shuffle(reservoir)
    return reservoir
