"""Unlabelled transfer text for task distillation: documents -> sentences -> a sample.

A transfer file holds one document a line (an IMDB review, a Wikipedia paragraph, a
customer-service utterance); sentence-pair tasks read `first<TAB>second` lines. Reading:

  1. each line is decoded as UTF-8; a line that is not is skipped and counted;
  2. a document is cut into sentences (`split_sentences`), sentences outside
     [`min_words`, `max_words`] whitespace words are dropped, and at most
     `max_per_document` are kept from one document (a seeded choice);
  3. exact duplicates are dropped, and so is any line equal to an evaluation example
     (compared case- and punctuation-blind); when such lines cover a sizeable part of the
     evaluation split, the set holds that split and is refused;
  4. `max_lines` of what is left are drawn with `seed`: the whole candidate list is
     shuffled once, so a smaller sample is a prefix of a larger one (their teacher shards
     are shared, see `teacher_labels`).

Example:
>>> config = TransferTextConfig(split_sentences=True, max_lines=200_000, seed=0)
>>> texts, pairs, stats = read_transfer_texts(["imdb_reviews_en.txt.gz"], "classification",
...                                           config, evaluation_texts=dev.texts)
>>> stats["sampled"], stats["dropped_evaluation_matches"]
"""

import dataclasses
import gzip
import os
import random
import re
import zlib

from mixvocab_tf.corpora import CorpusError
from mixvocab_tf.corpora import is_gzip
from mixvocab_tf.corpora import resolve_text_files
from mixvocab_tf.tasks import task_registry

# A sentence ends at . ! ? (or an ellipsis), optionally followed by closing quotes or
# brackets, then whitespace and a capital, digit, quote or bracket. Hand-written rather than
# NLTK's Punkt (its model is a separate download this project cannot fetch) or pySBD (a
# dependency for what one expression does well enough here: a wrong cut only yields a
# fragment the teacher still labels).
_SENTENCE_END = re.compile(r"""([.!?]+["')\]]*)\s+(?=["'(\[]?[A-Z0-9])""")
# Abbreviations that end in a period without ending a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e u.s u.k no vol fig ca approx dept".split())
_KEY_CHARS = re.compile(r"[\W_]+", re.UNICODE)


def _field(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class TransferTextConfig:
    """How transfer files become transfer examples (the tools' `--transfer_*` flags)."""

    split_sentences: bool = _field(
        True, "Cut each transfer line (a document) into sentences; pair tasks never are.")
    min_words: int = _field(4, "Drop transfer sentences (or lines) of fewer words.")
    max_words: int = _field(40, "Drop transfer sentences (or lines) of more words (0: no limit).")
    max_per_document: int = _field(
        0, "Keep at most this many sentences of one transfer line, a seeded choice (0: all).")
    max_lines: int = _field(
        0, "Draw at most this many transfer examples after filtering (0: all); a smaller draw "
        "is a prefix of a larger one with the same seed.")
    seed: int = _field(
        0, "Seed of the transfer draw, apart from --seed, so that students of several "
        "training seeds share one transfer set and its teacher labels.")
    max_evaluation_overlap: float = _field(
        0.02, "Refuse transfer files whose lines equal more than this share of the evaluated "
        "split's examples (fewer matches are dropped and counted).")

    def __post_init__(self):
        for name in ("min_words", "max_words", "max_per_document", "max_lines"):
            if getattr(self, name) < 0:
                raise ValueError(f"transfer text {name} must be >= 0, got {getattr(self, name)}.")
        if self.max_words and self.max_words < self.min_words:
            raise ValueError(f"transfer text max_words ({self.max_words}) is below min_words "
                             f"({self.min_words}).")
        if not 0 <= self.max_evaluation_overlap < 1:
            raise ValueError("max_evaluation_overlap must be in [0, 1), got "
                             f"{self.max_evaluation_overlap}.")


def split_into_sentences(text):
    """Cuts a document into sentences at . ! ? followed by a capitalised start.

    Example:
    >>> split_into_sentences("A fine film. Mr. Smith was great! Go see it.")
    ['A fine film.', 'Mr. Smith was great!', 'Go see it.']
    """
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentence = text[start:match.end(1)]
        last_word = sentence.split()[-1] if sentence.split() else ""
        if last_word.rstrip(".").lower() in _ABBREVIATIONS or re.fullmatch(r"[A-Z]\.", last_word):
            continue  # "Mr. Smith", "J. Smith": not a sentence end
        sentences.append(sentence.strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def comparison_key(text):
    """The form two texts are compared in: lowercase letters and digits only.

    SST-2 writes "it 's a charming , often affecting journey ." where a review writes
    "It's a charming, often affecting journey."; both keys are "itsacharmingoftenaffectingjourney".
    """
    return _KEY_CHARS.sub("", text.lower())


def _read_lines(path):
    """Yields (line number, decoded line or None when the line is not UTF-8)."""
    opener = gzip.open if is_gzip(path) else open
    number = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield number, None
    except (OSError, EOFError, zlib.error) as error:  # a truncated or corrupt gzip stream
        raise CorpusError(
            f"{path} could not be read past line {number} ({error}). Fix: re-create the file "
            "(gzip -t checks a .gz file).") from error


def read_transfer_texts(patterns, task_type, config=TransferTextConfig(), protected=(),
                        evaluation_texts=(), evaluation_name="the evaluation split"):
    """Reads transfer files into unlabelled transfer examples.

    Args:
      patterns: globs (a list or a comma-separated string).
      task_type: pair classification reads `first<TAB>second` lines and never splits them;
        the other types read whole lines.
      config: a `TransferTextConfig`.
      protected: files or folders that must not be read (the task's evaluated split; a
        k-shot run's other training utterances).
      evaluation_texts: the evaluated split's texts (first texts of pairs): lines equal to
        one are dropped; too many refuse the set.
      evaluation_name: how messages name that split.

    Returns:
      (texts, pairs or None, stats): stats has "files", "documents", "candidates",
      "sampled", "skipped_not_utf8", "dropped_length", "dropped_per_document",
      "dropped_duplicates", "dropped_evaluation_matches".

    Raises:
      CorpusError: a file is missing, empty, unreadable, or holds no usable line.
      ValueError: a protected file is named, a pair line lacks its tab, or the set holds the
        evaluated split.
    """
    files = resolve_text_files(patterns)
    protected = [os.path.realpath(p) for p in protected]
    for path in files:
        real = os.path.realpath(path)
        if any(real == p or real.startswith(p + os.sep) for p in protected):
            raise ValueError(
                f"--transfer_files names {path}, which the run must not read as transfer text "
                "(the evaluated split, or a few-shot run's other training data: a k-shot run "
                "may use its own shots, their augmentations and general text only). Fix: drop "
                "that file from the globs.")
    pair_task = task_type == task_registry.PAIR_CLASSIFICATION
    split = config.split_sentences and not pair_task
    rng = random.Random(config.seed)
    stats = dict.fromkeys(("documents", "skipped_not_utf8", "dropped_length",
                           "dropped_per_document", "dropped_duplicates",
                           "dropped_evaluation_matches"), 0)
    evaluation_keys = {comparison_key(t) for t in evaluation_texts}
    matched_keys, seen = set(), set()
    candidates = []

    def length_ok(text):
        words = len(text.split())
        return words >= config.min_words and (not config.max_words or words <= config.max_words)

    for path in files:
        for number, line in _read_lines(path):
            if line is None:
                stats["skipped_not_utf8"] += 1
                continue
            line = line.strip()
            if not line:
                continue
            stats["documents"] += 1
            if pair_task:
                first, tab, second = line.partition("\t")
                if not tab or not first.strip() or not second.strip():
                    raise ValueError(f"{path}:{number}: a sentence-pair task needs transfer "
                                     "lines 'first<TAB>second'.")
                items = [(" ".join(first.split()), " ".join(second.split()))]
            else:
                pieces = split_into_sentences(line) if split else [line]
                items = [(" ".join(p.split()), None) for p in pieces]
            kept = [item for item in items if length_ok(item[0])]
            stats["dropped_length"] += len(items) - len(kept)
            if config.max_per_document and len(kept) > config.max_per_document:
                stats["dropped_per_document"] += len(kept) - config.max_per_document
                kept = rng.sample(kept, config.max_per_document)
            for item in kept:
                key = comparison_key(item[0])
                if key in evaluation_keys:
                    stats["dropped_evaluation_matches"] += 1
                    matched_keys.add(key)
                    continue
                if item in seen:
                    stats["dropped_duplicates"] += 1
                    continue
                seen.add(item)
                candidates.append(item)
    if evaluation_keys and len(matched_keys) > config.max_evaluation_overlap * len(evaluation_keys):
        raise ValueError(
            f"the transfer files {files} contain {len(matched_keys)} of the "
            f"{len(evaluation_keys)} examples of {evaluation_name} (over "
            f"{config.max_evaluation_overlap:.0%}): they hold the evaluated split, and a "
            "student distilled on it would be scored on its own training text. Fix: remove "
            "those examples from the transfer files, or evaluate on another split.")
    if not candidates:
        raise CorpusError(
            f"the transfer files {files} left no example ({stats}). Fix: pass text with lines "
            f"of {config.min_words}-{config.max_words or 'any'} words, or relax "
            "--transfer_min_words / --transfer_max_words.")
    stats["candidates"] = len(candidates)
    # One seeded shuffle of every candidate: a smaller sample is a prefix of a larger one.
    random.Random(config.seed + 1).shuffle(candidates)
    if config.max_lines:
        candidates = candidates[:config.max_lines]
    stats["sampled"] = len(candidates)
    stats["files"] = files
    texts = [text for text, _ in candidates]
    pairs = [pair for _, pair in candidates] if pair_task else None
    return texts, pairs, stats
