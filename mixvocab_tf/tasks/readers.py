"""Readers for the task data formats: one function a format, plain Python lists out.

Formats (see `../shared/data/README.md`):
  * intent folders: `seq.in` (one utterance a line) + `label` (one intent a line),
  * slot folders: the same plus `seq.out` (one BIO tag a whitespace-separated word),
  * GLUE TSVs: SST-2 (`sentence<TAB>label`, header), MRPC (5 columns, header), raw CoLA
    (`source<TAB>label<TAB>mark<TAB>sentence`, no header),
  * response pairs: `dialogue_id<TAB>context<TAB>response` (header),
  * TFDS datasets already prepared in a user's `data_dir` (e.g. `glue/sst2`).

Every reader returns an `Examples` object. Bad input raises `TaskDataError` naming the file
and the line and saying how to fix it. Empty lines are never skipped silently: by default
they are an error; `skip_empty=True` skips them and counts them in `Examples.skipped`.

Example:
>>> examples = read_intent_dir("../shared/data/tasks/snips/valid")
>>> examples.texts[0], examples.labels[0]
"""

import csv
import dataclasses
import os
from typing import List, Optional


class TaskDataError(ValueError):
    """Bad task data: the message names the file, the line and the fix."""


@dataclasses.dataclass
class Examples:
    """The examples of one split, column-wise.

    Attributes:
      texts: the first (or only) text of each example.
      text_pairs: the second text (MRPC sentence 2, the SGD response), or None.
      labels: string labels (intent names, "0"/"1" for GLUE), or None (response pairs).
      tags: per-word BIO tags (slot tasks), or None; `texts[i].split()` are the words.
      groups: a group id per example (SGD dialogue id), or None.
      source: where the examples came from, for messages.
      skipped: how many input lines were skipped (empty lines with `skip_empty=True`).
    """

    texts: List[str]
    text_pairs: Optional[List[str]] = None
    labels: Optional[List[str]] = None
    tags: Optional[List[List[str]]] = None
    groups: Optional[List[str]] = None
    source: str = ""
    skipped: int = 0

    def __len__(self):
        return len(self.texts)

    def take(self, count):
        """Returns the first `count` examples (all when `count` is None or larger)."""
        if count is None or count >= len(self):
            return self
        cut = lambda column: None if column is None else column[:count]
        return dataclasses.replace(
            self,
            texts=self.texts[:count],
            text_pairs=cut(self.text_pairs),
            labels=cut(self.labels),
            tags=cut(self.tags),
            groups=cut(self.groups),
        )

    def concatenate(self, *others, source=None):
        """These examples followed by `others`' (the columns this one has; groups dropped)."""
        parts = (self,) + others
        joined = lambda name: (None if getattr(self, name) is None
                               else [v for p in parts for v in getattr(p, name)])
        return dataclasses.replace(
            self, texts=joined("texts"), text_pairs=joined("text_pairs"),
            labels=joined("labels"), tags=joined("tags"), groups=None,
            source=source or " + ".join(p.source for p in parts), skipped=self.skipped)

    def select(self, indices):
        """Returns the examples at `indices`, in that order."""
        pick = lambda column: None if column is None else [column[i] for i in indices]
        return dataclasses.replace(
            self,
            texts=pick(self.texts),
            text_pairs=pick(self.text_pairs),
            labels=pick(self.labels),
            tags=pick(self.tags),
            groups=pick(self.groups),
        )


def _require_file(path, what):
    if not os.path.isfile(path):
        raise TaskDataError(
            f"{what} not found: {path}. Fix: point --data_dir (or --eval_file) at the folder "
            "that holds the task's files, laid out as in ../shared/data/README.md."
        )


def _read_lines(path):
    """Lines of a UTF-8 file without their newline; a final newline adds no empty line."""
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_intent_dir(directory, with_tags=False, skip_empty=False):
    """Reads an intent folder (`seq.in`, `label`, and `seq.out` when `with_tags`).

    Args:
      directory: a folder such as `tasks/snips/valid`.
      with_tags: also read the per-word BIO tags of `seq.out` (slot tagging).
      skip_empty: skip (and count) lines whose utterance is empty instead of failing.

    Returns:
      `Examples` with `texts`, `labels` (and `tags`).

    Raises:
      TaskDataError: missing files, different line counts, empty lines or labels, or a
        `seq.out` line whose tag count differs from the word count of its `seq.in` line.
    """
    seq_in = os.path.join(directory, "seq.in")
    label_path = os.path.join(directory, "label")
    seq_out = os.path.join(directory, "seq.out")
    _require_file(seq_in, "utterance file seq.in")
    _require_file(label_path, "intent file label")
    if with_tags:
        _require_file(seq_out, "slot tag file seq.out (needed by slot tasks)")
    texts = _read_lines(seq_in)
    labels = _read_lines(label_path)
    tag_lines = _read_lines(seq_out) if with_tags else None
    if len(labels) != len(texts):
        raise TaskDataError(
            f"{label_path} has {len(labels)} lines but {seq_in} has {len(texts)}: "
            "each utterance needs exactly one intent label on the same line number."
        )
    if with_tags and len(tag_lines) != len(texts):
        raise TaskDataError(
            f"{seq_out} has {len(tag_lines)} lines but {seq_in} has {len(texts)}: "
            "each utterance needs exactly one line of tags on the same line number."
        )
    out = Examples(texts=[], labels=[], tags=[] if with_tags else None, source=directory)
    for index, (text, label) in enumerate(zip(texts, labels)):
        line = index + 1
        words = text.split()
        if not words:
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(
                f"{seq_in}:{line}: empty utterance. Fix: remove the line from seq.in and the "
                "same line from label (and seq.out), or pass skip_empty=True to skip and count it."
            )
        if not label.strip():
            raise TaskDataError(f"{label_path}:{line}: empty label for utterance {text!r}.")
        if with_tags:
            tags = tag_lines[index].split()
            if len(tags) != len(words):
                raise TaskDataError(
                    f"{seq_out}:{line}: {len(tags)} tags for {len(words)} words in "
                    f"{seq_in}:{line} ({text!r}). Fix: one BIO tag per whitespace-separated word."
                )
            for tag in tags:
                if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
                    raise TaskDataError(
                        f"{seq_out}:{line}: tag {tag!r} is not BIO (expected O, B-<slot> or I-<slot>)."
                    )
            out.tags.append(tags)
        # Word-level data: normalise whitespace so that words and tags stay aligned.
        out.texts.append(" ".join(words))
        out.labels.append(label.strip())
    return out


def _tsv_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        # GLUE TSVs contain unbalanced quotes inside sentences: never treat them as quoting.
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _check_binary(path, line, value):
    if value not in ("0", "1"):
        raise TaskDataError(f"{path}:{line}: label {value!r} is not 0 or 1.")
    return value


def read_sst2_tsv(path, skip_empty=False):
    """Reads SST-2 `sentence<TAB>label` with a header row."""
    _require_file(path, "SST-2 file")
    rows = _tsv_rows(path)
    out = Examples(texts=[], labels=[], source=path)
    for index, row in enumerate(rows):
        line = index + 1
        if index == 0 and row and row[0] == "sentence":
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(f"{path}:{line}: empty line (expected sentence<TAB>label).")
        if len(row) != 2:
            raise TaskDataError(f"{path}:{line}: {len(row)} columns, expected 2 (sentence<TAB>label).")
        sentence, label = row[0].strip(), row[1].strip()
        if not sentence:
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(f"{path}:{line}: empty sentence.")
        out.texts.append(sentence)
        out.labels.append(_check_binary(path, line, label))
    return out


def read_mrpc_tsv(path, skip_empty=False):
    """Reads GLUE MRPC (`Quality, #1 ID, #2 ID, #1 String, #2 String`, header row)."""
    _require_file(path, "MRPC file")
    rows = _tsv_rows(path)
    out = Examples(texts=[], text_pairs=[], labels=[], source=path)
    for index, row in enumerate(rows):
        line = index + 1
        if index == 0 and row and row[0].strip() == "Quality":
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(f"{path}:{line}: empty line (expected 5 MRPC columns).")
        if len(row) != 5:
            raise TaskDataError(
                f"{path}:{line}: {len(row)} columns, expected 5 "
                "(Quality, #1 ID, #2 ID, #1 String, #2 String)."
            )
        if not row[3].strip() or not row[4].strip():
            raise TaskDataError(f"{path}:{line}: empty sentence.")
        out.labels.append(_check_binary(path, line, row[0].strip()))
        out.texts.append(row[3].strip())
        out.text_pairs.append(row[4].strip())
    return out


def read_cola_tsv(path, skip_empty=False):
    """Reads raw CoLA 1.1 (`source<TAB>label<TAB>mark<TAB>sentence`, no header)."""
    _require_file(path, "CoLA file")
    rows = _tsv_rows(path)
    out = Examples(texts=[], labels=[], source=path)
    for index, row in enumerate(rows):
        line = index + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(f"{path}:{line}: empty line (expected 4 CoLA columns).")
        if len(row) != 4:
            raise TaskDataError(
                f"{path}:{line}: {len(row)} columns, expected 4 (source, label, mark, sentence)."
            )
        if not row[3].strip():
            raise TaskDataError(f"{path}:{line}: empty sentence.")
        out.labels.append(_check_binary(path, line, row[1].strip()))
        out.texts.append(row[3].strip())
    return out


def read_response_tsv(path, skip_empty=False):
    """Reads response-selection pairs `dialogue_id<TAB>context<TAB>response` (header row)."""
    _require_file(path, "response pair file")
    rows = _tsv_rows(path)
    out = Examples(texts=[], text_pairs=[], groups=[], source=path)
    for index, row in enumerate(rows):
        line = index + 1
        if index == 0 and row and row[0] == "dialogue_id":
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(f"{path}:{line}: empty line (expected dialogue_id, context, response).")
        if len(row) != 3:
            raise TaskDataError(
                f"{path}:{line}: {len(row)} columns, expected 3 (dialogue_id<TAB>context<TAB>response)."
            )
        if not row[1].strip() or not row[2].strip():
            if skip_empty:
                out.skipped += 1
                continue
            raise TaskDataError(f"{path}:{line}: empty context or response.")
        out.groups.append(row[0].strip())
        out.texts.append(row[1].strip())
        out.text_pairs.append(row[2].strip())
    return out


def read_tfds(name, split, data_dir, text_keys, label_key="label"):
    """Reads a prepared TFDS dataset (never downloads).

    Args:
      name: a TFDS name such as "glue/sst2".
      split: a TFDS split such as "validation".
      data_dir: the user's TFDS data directory, where `tfds build` prepared `name`.
      text_keys: the feature names of the text(s), e.g. ("sentence",) or
        ("sentence1", "sentence2").
      label_key: the class label feature; its names become the string labels.

    Returns:
      `Examples`; labels are the class names (GLUE: the label index as a string when the
      feature has no names). Examples with label -1 (GLUE test splits) are skipped and counted.

    Raises:
      TaskDataError: when tensorflow-datasets is missing or the dataset is not prepared.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise TaskDataError(
            "TFDS task names need tensorflow-datasets. Fix: pip install tensorflow-datasets."
        ) from error
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # TFDS raises several types for unknown names.
        raise TaskDataError(f"TFDS has no dataset {name!r}: {error}") from error
    if not builder.is_prepared():
        raise TaskDataError(
            f"TFDS dataset {name!r} is not prepared in {data_dir}. Fix: run "
            f"`tfds build {name} --data_dir={data_dir}` where it can download, or pass the "
            "--tfds_data_dir that holds it. This tool never downloads."
        )
    if split not in builder.info.splits:
        raise TaskDataError(
            f"TFDS dataset {name!r} has no split {split!r}; it has {sorted(builder.info.splits)}."
        )
    feature = builder.info.features[label_key]
    names = getattr(feature, "names", None)
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    out = Examples(texts=[], text_pairs=[] if len(text_keys) > 1 else None, labels=[],
                   source=f"tfds:{name}:{split}")
    for record in dataset.as_numpy_iterator():
        label = int(record[label_key])
        if label < 0:  # GLUE test splits carry no labels.
            out.skipped += 1
            continue
        out.texts.append(record[text_keys[0]].decode("utf-8"))
        if len(text_keys) > 1:
            out.text_pairs.append(record[text_keys[1]].decode("utf-8"))
        out.labels.append(names[label] if names else str(label))
    return out
