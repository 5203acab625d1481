"""Named evaluation sets of a vocabulary: task splits by their readers, text files, fixed
samples, bad sources named with the fix."""

import gzip
import os

import pytest

from mixvocab_tf.corpora import sample_lines
from mixvocab_tf.pipeline import evaluation_sets
from mixvocab_tf.tasks.readers import read_intent_dir


@pytest.fixture(scope="module")
def snips_train(data_dir):
    with open(os.path.join(data_dir, "tasks", "snips", "train", "seq.in"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def test_default_sets_missing_from_the_data_set_are_skipped(tmp_path, capsys):
    assert evaluation_sets.read_eval_sets(None, str(tmp_path), 100) == ({}, {})
    notes = capsys.readouterr().err
    assert all(name in notes for name in ("sst2_dev", "banking77_valid", "snips_valid",
                                          "wikipedia"))


def test_a_task_split_is_read_by_its_reader(data_dir):
    valid = read_intent_dir(os.path.join(data_dir, "tasks", "snips", "valid")).texts
    assert evaluation_sets.read_eval_set("v", "snips:valid", data_dir, 5000) == valid
    sample = evaluation_sets.read_eval_set("v", "snips:valid", data_dir, 100)
    assert len(sample) == 100 and set(sample) < set(valid)
    assert sample == evaluation_sets.read_eval_set("v", "snips:valid", data_dir, 100)


@pytest.mark.needs_data("tasks/sst2")
def test_sst2_sentences_without_header_or_labels(data_dir):
    sentences = evaluation_sets.read_eval_set("sst2_dev", "sst2:dev", data_dir, 5000)
    assert len(sentences) == 872
    assert "sentence" not in sentences and not any("\t" in s for s in sentences)


def test_evaluation_lines_of_a_corpus_leave_its_learning_sample(tmp_path, snips_train):
    corpus = tmp_path / "corpus.txt.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as f:
        f.write("".join(f"  {line}\n" for line in snips_train))
    held = evaluation_sets.read_eval_set("held", str(corpus), None, 500)
    assert len(held) == 500 and set(held) <= set(snips_train)
    sample = sample_lines([str(corpus)], 6000, seed=3)
    kept, removed = evaluation_sets.remove_eval_texts(sample, {"held": held})
    assert not set(kept) & set(held)
    assert len(kept) + removed == 6000 and removed > 100


@pytest.mark.parametrize("entries, message", [
    (["snips_valid"], "is not NAME=SOURCE"),
    (["=snips:valid"], "is not NAME=SOURCE"),
    (["a=snips:valid", "a=snips:train"], "given twice"),
])
def test_malformed_entries(entries, message):
    with pytest.raises(ValueError, match=message):
        evaluation_sets.parse_eval_sets(entries)


def test_bad_sources_name_the_fix(data_dir, tmp_path):
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    for source, message in [
            (str(tmp_path / "missing.txt"), "No text files match"),
            (str(tmp_path / "blank.txt"), "no non-empty line"),
            ("snips:test", r"no split 'test'.*found: \['train', 'valid'\]"),
            ("sniiips:valid", "TASK:SPLIT")]:
        with pytest.raises(ValueError, match=message) as error:
            evaluation_sets.read_eval_set("x", source, data_dir, 100)
        assert "Fix" in str(error.value) and str(error.value).startswith("x=")
