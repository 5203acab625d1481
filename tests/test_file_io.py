"""Atomic directory writes: complete or absent, and first-writer-wins for caches."""

import os

import pytest

from mixvocab_tf.file_io import write_directory_atomic


def _writer(text):
    def write(directory):
        with open(os.path.join(directory, "a.txt"), "w") as f:
            f.write(text)
    return write


def _read(directory):
    with open(os.path.join(directory, "a.txt")) as f:
        return f.read()


def test_replace_by_default_and_keep_existing_for_caches(tmp_path):
    target = str(tmp_path / "out")
    write_directory_atomic(target, _writer("first"))
    write_directory_atomic(target, _writer("second"))
    assert _read(target) == "second"
    # A cache entry another process finished first is left as it is; the copy is dropped.
    write_directory_atomic(target, _writer("third"), keep_existing=True)
    assert _read(target) == "second"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    fresh = str(tmp_path / "fresh")
    write_directory_atomic(fresh, _writer("new"), keep_existing=True)
    assert _read(fresh) == "new"


@pytest.mark.parametrize("keep_existing", [False, True])
def test_a_failed_write_leaves_no_directory(tmp_path, keep_existing):
    def fail(directory):
        _writer("half")(directory)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_directory_atomic(str(tmp_path / "out"), fail, keep_existing=keep_existing)
    assert os.listdir(tmp_path) == []
