"""Corpus files: gzip read by name, glob errors, one-pass line sampling."""

import gzip
import os
import random

import pytest

from mixvocab_tf.corpora import CorpusError
from mixvocab_tf.corpora import iter_lines
from mixvocab_tf.corpora import resolve_text_files
from mixvocab_tf.corpora import sample_lines


def _write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return str(path)


def test_gzip_and_plain_files_read_alike(tmp_path):
    lines = ["first paragraph", "", "  second  paragraph ", "third"]
    plain = tmp_path / "a.txt"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    packed = _write_gz(tmp_path / "b.txt.gz", lines)
    assert list(iter_lines([str(plain)])) == list(iter_lines([packed]))
    assert list(iter_lines([packed])) == ["first paragraph", "second  paragraph", "third"]
    assert resolve_text_files(f"{tmp_path}/*.txt,{tmp_path}/*.gz") == [str(plain), packed]


@pytest.mark.needs_data("corpora/wikipedia_en.txt.gz")
def test_real_wikipedia_gzip_resolves_and_reads(data_dir):
    path = os.path.join(data_dir, "corpora", "wikipedia_en.txt.gz")
    assert resolve_text_files([path]) == [path]
    first = next(iter_lines([path]))
    # One paragraph a line, natural prose.
    assert len(first.split()) >= 12 and first.isprintable()


def test_resolve_errors_name_the_fix(tmp_path):
    with pytest.raises(CorpusError, match="No text files match"):
        resolve_text_files([str(tmp_path / "none*.txt")])
    _write_gz(tmp_path / "empty.txt.gz", ["", "  "])
    with pytest.raises(CorpusError, match="no non-empty line"):
        resolve_text_files(str(tmp_path / "empty.txt.gz"))
    (tmp_path / "plain.gz").write_text("not gzip\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"not readable as gzip.*Fix: name gzip files \*\.gz"):
        resolve_text_files(str(tmp_path / "plain.gz"))


def test_sample_lines_keeps_the_shuffle_order_under_the_cap(tmp_path):
    lines = [f"line {i}" for i in range(50)]
    path = _write_gz(tmp_path / "c.txt.gz", lines)
    expected = list(lines)
    random.Random(3).shuffle(expected)
    # Below the cap: what the readers did before sampling existed (shuffle, cut).
    assert sample_lines([path], max_lines=100, seed=3) == expected
    assert sample_lines([path], max_lines=0, seed=3) == expected


def test_sample_lines_caps_uniformly_and_deterministically(tmp_path):
    a = _write_gz(tmp_path / "a.txt.gz", [f"a {i}" for i in range(3000)])
    b = tmp_path / "b.txt"
    b.write_text("".join(f"b {i}\n" for i in range(1000)), encoding="utf-8")
    sample = sample_lines([a, str(b)], max_lines=400, seed=0)
    assert len(sample) == len(set(sample)) == 400
    assert sample == sample_lines([a, str(b)], max_lines=400, seed=0)
    assert sample != sample_lines([a, str(b)], max_lines=400, seed=1)
    # Both files, in proportion to their lines (3:1), and late lines too.
    share_b = sum(line.startswith("b") for line in sample) / 400
    assert 0.15 < share_b < 0.35
    assert any(int(line.split()[1]) >= 2500 for line in sample if line.startswith("a"))
