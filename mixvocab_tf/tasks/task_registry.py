"""Task definitions: what each task reads, what it predicts, how it is scored.

A `Task` ties a name to a reader, a task type (which head), the split files, and the metrics.
Local tasks read the layout of `../shared/data/tasks`; `tfds:<name>` tasks (e.g.
`tfds:glue/sst2`) read a prepared TFDS directory.

Example:
>>> task = get_task("snips")
>>> train = task.read(data_dir, "train")
>>> task.type, task.metrics
('classification', ('accuracy',))
"""

import dataclasses
import os
from typing import Callable, Optional, Tuple

from mixvocab_tf.tasks import readers

# Task types; each has its own head and its own model outputs.
CLASSIFICATION = "classification"  # one text -> one label (pooled output)
PAIR_CLASSIFICATION = "pair_classification"  # two texts -> one label (pooled output)
TAGGING = "tagging"  # word -> BIO tag (first sub-token of each word)
RESPONSE_SELECTION = "response_selection"  # dual encoder, in-batch negatives
# One encoder, two heads: the intent (pooled output) and a BIO slot tag a word (`joint.py`).
INTENT_AND_SLOTS = "intent_and_slots"
TASK_TYPES = (CLASSIFICATION, PAIR_CLASSIFICATION, TAGGING, RESPONSE_SELECTION, INTENT_AND_SLOTS)

OOS_LABEL = "oos"


@dataclasses.dataclass(frozen=True)
class Task:
    """One fine-tuning task.

    Attributes:
      name: the registry name ("snips", "snips_slots", "sst2", "tfds:glue/sst2" ...).
      type: one of `TASK_TYPES`.
      metrics: metric names that `evaluate` reports (see `metrics.py`).
      reader: `reader(path, skip_empty=...) -> Examples` for one split's file or folder.
      splits: split name -> path relative to the task's data folder.
      subdir: the task's folder inside `data_dir` (e.g. "tasks/snips" relative to
        `../shared/data`; the reader also accepts `data_dir` pointing at the folder itself).
      positive_label: the positive class for F1 (binary tasks).
      oos_split: an extra split of out-of-scope utterances (CLINC150).
      tfds_name, tfds_text_keys: for TFDS tasks.
    """

    name: str
    type: str
    metrics: Tuple[str, ...]
    reader: Optional[Callable] = None
    splits: Tuple[Tuple[str, str], ...] = ()
    subdir: str = ""
    positive_label: Optional[str] = None
    oos_split: Optional[str] = None
    tfds_name: Optional[str] = None
    tfds_text_keys: Tuple[str, ...] = ()

    @property
    def split_names(self):
        return tuple(name for name, _ in self.splits)

    def _split_templates(self):
        """How split names become paths: "{}" (folders), "{}.tsv", "in_domain_{}.tsv"."""
        templates = []
        for name, path in self.splits:
            template = path.replace(name, "{}", 1) if name in path else None
            if template and template not in templates:
                templates.append(template)
        return templates

    def _folder_format(self):
        # Intent and slot splits are folders (seq.in, label ...); GLUE-style splits are files.
        return all("." not in os.path.basename(path) for _, path in self.splits)

    def _is_split(self, path):
        if self._folder_format():
            return os.path.isfile(os.path.join(path, "seq.in"))
        extensions = {os.path.splitext(p)[1] for _, p in self.splits}
        return os.path.isfile(path) and os.path.splitext(path)[1] in extensions

    def _bases(self, data_dir):
        return (os.path.join(data_dir, self.subdir), os.path.join(data_dir, "tasks", self.subdir),
                data_dir)

    def task_dir(self, data_dir):
        """The task's own folder under `data_dir` (where a registered split exists), or None."""
        for base in self._bases(data_dir):
            if any(os.path.exists(os.path.join(base, path)) for _, path in self.splits):
                return base
        return None

    def found_splits(self, data_dir):
        """Every split in the task's format under `data_dir`: name -> path.

        Registered names first, then any other folder (intent tasks: one with `seq.in`) or
        file of the same extension (GLUE TSVs) beside them, named by the registered pattern
        ("in_domain_{}.tsv" -> its middle part) or else by its file name without extension.
        """
        found = {}
        folder = self.task_dir(data_dir)
        if folder is None:
            return found
        for name, path in self.splits:
            if self._is_split(os.path.join(folder, path)):
                found[name] = os.path.join(folder, path)
        templates = self._split_templates()
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if path in found.values() or not self._is_split(path):
                continue
            name = None
            for template in templates:
                prefix, _, suffix = template.partition("{}")
                if (entry.startswith(prefix) and entry.endswith(suffix)
                        and len(entry) > len(prefix) + len(suffix)):
                    name = entry[len(prefix):len(entry) - len(suffix)]
                    break
            if name is None:
                name = entry if self._folder_format() else os.path.splitext(entry)[0]
            found.setdefault(name, path)
        return found

    def split_path(self, data_dir, split):
        """The file or folder of `split` under `data_dir` (which may be the task folder).

        Registered splits map through `splits`; any other name is looked up among the
        splits that exist in the task's format (`found_splits`: e.g. a `test/` folder beside
        `train/`, or `test.tsv` beside `train.tsv`; the file name itself also works).

        Raises:
          TaskDataError: an unregistered name that matches no split found; lists the found ones.
        """
        mapping = dict(self.splits)
        if split in mapping:
            for base in self._bases(data_dir):
                candidate = os.path.join(base, mapping[split])
                if os.path.exists(candidate):
                    return candidate
            return os.path.join(data_dir, self.subdir, mapping[split])
        found = self.found_splits(data_dir)
        if split in found:
            return found[split]
        folder = self.task_dir(data_dir)
        if folder is not None:
            for template in self._split_templates() + ["{}"]:
                candidate = os.path.join(folder, template.format(split))
                if self._is_split(candidate):
                    return candidate
        where = folder or data_dir
        raise readers.TaskDataError(
            f"task {self.name!r} has no split {split!r} in {where}; found splits: "
            f"{sorted(found) or 'none'}. Fix: pass one of those to --split, or score any file "
            "(or folder) of the same format with --eval_file.")

    def read(self, data_dir, split, skip_empty=False):
        """Reads `split` from `data_dir` (a TFDS data dir for TFDS tasks)."""
        if self.tfds_name:
            return readers.read_tfds(self.tfds_name, split, data_dir, self.tfds_text_keys)
        return self.reader(self.split_path(data_dir, split), skip_empty=skip_empty)

    def read_file(self, path, skip_empty=False):
        """Reads any file (or folder) in this task's format."""
        if self.tfds_name:
            raise readers.TaskDataError(f"{self.name} reads TFDS, not files; use --split.")
        return self.reader(path, skip_empty=skip_empty)


def _intent(name, oos_split=None):
    return Task(
        name=name,
        type=CLASSIFICATION,
        metrics=("accuracy", "oos_recall") if oos_split else ("accuracy",),
        reader=readers.read_intent_dir,
        splits=(("train", "train"), ("valid", "valid")) + (
            (("oos_valid", "oos_valid"),) if oos_split else ()),
        subdir=name,
        oos_split=oos_split,
    )


def _slots(name):
    return Task(
        name=f"{name}_slots",
        type=TAGGING,
        metrics=("slot_f1",),
        reader=lambda path, skip_empty=False: readers.read_intent_dir(
            path, with_tags=True, skip_empty=skip_empty),
        splits=(("train", "train"), ("valid", "valid")),
        subdir=name,
    )


def _joint(name):
    return Task(
        name=f"{name}_joint",
        type=INTENT_AND_SLOTS,
        metrics=("accuracy", "slot_f1"),
        reader=lambda path, skip_empty=False: readers.read_intent_dir(
            path, with_tags=True, skip_empty=skip_empty),
        splits=(("train", "train"), ("valid", "valid")),
        subdir=name,
    )


_TASKS = {
    task.name: task
    for task in (
        _intent("snips"),
        _intent("atis"),
        _intent("banking77"),
        _intent("clinc150", oos_split="oos_valid"),
        _intent("hwu64"),
        _slots("snips"),
        _slots("atis"),
        _joint("snips"),
        _joint("atis"),
        Task("sst2", CLASSIFICATION, ("accuracy",), readers.read_sst2_tsv,
             (("train", "train.tsv"), ("dev", "dev.tsv")), "sst2", positive_label="1"),
        Task("mrpc", PAIR_CLASSIFICATION, ("accuracy", "f1"), readers.read_mrpc_tsv,
             (("train", "train.tsv"), ("dev", "dev.tsv")), "mrpc", positive_label="1"),
        Task("cola", CLASSIFICATION, ("accuracy", "matthews_corr"), readers.read_cola_tsv,
             (("train", "in_domain_train.tsv"), ("dev", "in_domain_dev.tsv")), "cola",
             positive_label="1"),
        Task("sgd_response", RESPONSE_SELECTION, ("recall@1", "recall@10"),
             readers.read_response_tsv, (("train", "train.tsv"), ("dev", "dev.tsv")),
             "sgd_response"),
    )
}

# TFDS names users keep GLUE under: name -> (text features, type, metrics, positive class).
_TFDS = {
    "glue/sst2": (("sentence",), CLASSIFICATION, ("accuracy",), "positive"),
    "glue/cola": (("sentence",), CLASSIFICATION, ("accuracy", "matthews_corr"), "acceptable"),
    "glue/mrpc": (("sentence1", "sentence2"), PAIR_CLASSIFICATION, ("accuracy", "f1"),
                  "equivalent"),
    "glue/qqp": (("question1", "question2"), PAIR_CLASSIFICATION, ("accuracy", "f1"),
                 "duplicate"),
    "glue/qnli": (("question", "sentence"), PAIR_CLASSIFICATION, ("accuracy",), None),
    "glue/rte": (("sentence1", "sentence2"), PAIR_CLASSIFICATION, ("accuracy",), None),
    "glue/mnli": (("premise", "hypothesis"), PAIR_CLASSIFICATION, ("accuracy",), None),
}


def task_names():
    """All registered names (TFDS ones with their `tfds:` prefix)."""
    return sorted(_TASKS) + sorted(f"tfds:{name}" for name in _TFDS)


def get_task(name):
    """Returns the `Task` called `name`.

    Args:
      name: a local task ("snips", "snips_slots", "sst2", "mrpc", "cola", "sgd_response",
        ...) or "tfds:<dataset>/<config>" (e.g. "tfds:glue/sst2").

    Raises:
      ValueError: unknown name, listing the known ones.
    """
    if name in _TASKS:
        return _TASKS[name]
    if name.startswith("tfds:") and name[5:] in _TFDS:
        text_keys, task_type, metrics, positive = _TFDS[name[5:]]
        return Task(
            name=name, type=task_type, metrics=metrics, tfds_name=name[5:],
            positive_label=positive,
            tfds_text_keys=text_keys,
            splits=(("train", "train"), ("validation", "validation")),
        )
    raise ValueError(f"unknown task {name!r}. Known tasks: {', '.join(task_names())}.")


def default_eval_split(task):
    """The split scored when none is given: the last registered one that is not OOS."""
    names = [name for name in task.split_names if name != task.oos_split]
    return names[-1]
