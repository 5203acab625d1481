"""Readers on the real task data, and their errors on broken copies of it."""

import os
import shutil

import pytest

from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import task_registry


def _tasks(data_dir):
    return os.path.join(data_dir, "tasks")


def _needs(folder, *values):
    """A parameter set that runs where the data set holds tasks/<folder> (a clone: snips)."""
    return pytest.param(*values, marks=pytest.mark.needs_data(f"tasks/{folder}"))


@pytest.mark.parametrize(
    "name, split, count, num_labels",
    [("snips", "valid", 700, 7), _needs("atis", "atis", "valid", 500, 16),
     _needs("banking77", "banking77", "valid", 1540, 77),
     _needs("clinc150", "clinc150", "valid", 3000, 150),
     _needs("clinc150", "clinc150", "oos_valid", 100, 1),
     _needs("hwu64", "hwu64", "valid", 1076, 64)],
)
def test_intent_splits(data_dir, name, split, count, num_labels):
    examples = task_registry.get_task(name).read(_tasks(data_dir), split)
    assert len(examples) == count == len(examples.labels)
    assert len(set(examples.labels)) == num_labels
    assert all(text and text == text.strip() for text in examples.texts)


@pytest.mark.parametrize("name, count", [("snips_slots", 700),
                                         _needs("atis", "atis_slots", 500)])
def test_slot_tags_align_with_words(data_dir, name, count):
    examples = task_registry.get_task(name).read(_tasks(data_dir), "valid")
    assert len(examples) == count
    for text, tags in zip(examples.texts, examples.tags):
        assert len(text.split()) == len(tags)
        assert all(t == "O" or t[:2] in ("B-", "I-") for t in tags)


@pytest.mark.needs_data("tasks/sst2", "tasks/mrpc", "tasks/cola", "tasks/sgd_response")
def test_glue_and_response_files(data_dir):
    tasks = _tasks(data_dir)
    sst2 = task_registry.get_task("sst2").read(tasks, "dev")
    mrpc = task_registry.get_task("mrpc").read(tasks, "train")
    cola = task_registry.get_task("cola").read(tasks, "dev")
    sgd = task_registry.get_task("sgd_response").read(tasks, "train")
    # Line counts minus the header rows (MRPC's header starts with a byte-order mark).
    assert (len(sst2), len(mrpc), len(cola), len(sgd)) == (872, 3668, 527, 9058)
    for examples in (sst2, mrpc, cola):
        assert set(examples.labels) == {"0", "1"}
    assert mrpc.texts[0].startswith("Amrozi accused his brother")
    assert mrpc.text_pairs[0].startswith("Referring to him as only")
    assert sgd.groups[0] == "1_00000" and sgd.text_pairs[0].startswith("Do you have")


def _copy_split(data_dir, tmp_path, task="snips", split="valid"):
    target = tmp_path / task
    shutil.copytree(os.path.join(_tasks(data_dir), task, split), target)
    return target


def test_mismatched_seq_out_names_file_and_line(data_dir, tmp_path):
    folder = _copy_split(data_dir, tmp_path)
    lines = (folder / "seq.out").read_text(encoding="utf-8").split("\n")
    lines[4] = " ".join(lines[4].split()[:-1])  # one tag short on line 5
    (folder / "seq.out").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(readers.TaskDataError, match=r"seq\.out:5: .* tags for .* words"):
        readers.read_intent_dir(str(folder), with_tags=True)
    # Intent reading does not need seq.out.
    assert len(readers.read_intent_dir(str(folder))) == 700


def test_empty_line_fails_or_is_counted(data_dir, tmp_path):
    folder = _copy_split(data_dir, tmp_path)
    lines = (folder / "seq.in").read_text(encoding="utf-8").split("\n")
    lines[9] = "   "
    (folder / "seq.in").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(readers.TaskDataError, match=r"seq\.in:10: empty utterance"):
        readers.read_intent_dir(str(folder))
    skipped = readers.read_intent_dir(str(folder), skip_empty=True)
    assert (len(skipped), skipped.skipped) == (699, 1)


def test_missing_files_and_line_count_mismatch(data_dir, tmp_path):
    folder = _copy_split(data_dir, tmp_path)
    with pytest.raises(readers.TaskDataError, match="not found: .*nowhere"):
        readers.read_intent_dir(str(tmp_path / "nowhere"))
    labels = (folder / "label").read_text(encoding="utf-8").split("\n")
    (folder / "label").write_text("\n".join(labels[:-3]), encoding="utf-8")
    with pytest.raises(readers.TaskDataError, match="label has 698 lines but .*seq.in has 700"):
        readers.read_intent_dir(str(folder))


def test_bad_glue_label_and_columns(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("sentence\tlabel\ngood film\t1\nbad film\tpositive\n", encoding="utf-8")
    with pytest.raises(readers.TaskDataError, match=r"dev\.tsv:3: label 'positive' is not 0 or 1"):
        readers.read_sst2_tsv(str(path))
    path.write_text("sentence\tlabel\ngood film\t1\textra\n", encoding="utf-8")
    with pytest.raises(readers.TaskDataError, match=r"dev\.tsv:2: 3 columns, expected 2"):
        readers.read_sst2_tsv(str(path))


def test_tfds_not_prepared_is_a_clear_error(tmp_path):
    with pytest.raises(readers.TaskDataError, match="not prepared .*tfds build glue/sst2"):
        task_registry.get_task("tfds:glue/sst2").read(str(tmp_path), "validation")


def test_unknown_task_lists_known_ones():
    with pytest.raises(ValueError, match="unknown task 'snipz'.*snips_slots"):
        task_registry.get_task("snipz")
