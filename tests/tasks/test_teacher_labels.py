"""The sharded teacher pass: resume after a kill, shared prefixes, per-word padding."""

import os

import numpy as np
import pytest

from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import teacher_labels


def _examples(count, offset=0):
    return readers.Examples(texts=[f"text {i + offset} " + "w " * (i % 5) for i in range(count)],
                            source="test")


class _Labeller:
    """Per-example arrays that depend on the text alone; counts the rows it labels."""

    def __init__(self, stop_after=None):
        self.rows, self.stop_after = 0, stop_after

    def __call__(self, chunk):
        if self.stop_after is not None and self.rows >= self.stop_after:
            raise KeyboardInterrupt  # a kill between shards
        self.rows += len(chunk)
        words = [t.split() for t in chunk.texts]
        width = max(len(w) for w in words)
        logits = np.asarray([[len(t), t.count("w")] for t in chunk.texts], np.float32)
        mask = np.asarray([[j < len(w) for j in range(width)] for w in words])
        return {"logits": logits, "mask": mask}


def test_a_killed_pass_resumes_from_its_shards(tmp_path):
    examples = _examples(25)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        teacher_labels.sharded_teacher_pass(str(tmp_path), "k", examples, _Labeller(20), 10)
    labeller = _Labeller()
    arrays, info = teacher_labels.sharded_teacher_pass(str(tmp_path), "k", examples, labeller,
                                                       10, log=lines.append)
    assert labeller.rows == 5 and info["shards_cached"] == 2 and info["shards"] == 3
    assert not info["cache_hit"] and lines == [
        f"teacher pass: resuming, 2 of 3 shards already labelled in {info['cache_file']}"]
    direct, _ = teacher_labels.sharded_teacher_pass(None, "k", examples, _Labeller(), 10)
    np.testing.assert_array_equal(arrays["logits"], direct["logits"])
    np.testing.assert_array_equal(arrays["mask"], direct["mask"])
    # Shards of different widths are padded with False.
    assert arrays["mask"].shape == (25, 6) and not arrays["mask"][0, 2:].any()
    again = _Labeller()
    _, info = teacher_labels.sharded_teacher_pass(str(tmp_path), "k", examples, again, 10)
    assert info["cache_hit"] and again.rows == 0 and info["examples_per_second"] is None


def test_a_longer_prefix_reuses_the_full_shards_and_another_teacher_does_not(tmp_path):
    teacher_labels.sharded_teacher_pass(str(tmp_path), "k", _examples(20), _Labeller(), 8)
    labeller = _Labeller()
    _, info = teacher_labels.sharded_teacher_pass(str(tmp_path), "k", _examples(30), labeller, 8)
    assert info["shards_cached"] == 2 and labeller.rows == 14
    other = _Labeller()
    teacher_labels.sharded_teacher_pass(str(tmp_path), "other", _examples(20), other, 8)
    assert other.rows == 20
    assert sorted(os.listdir(tmp_path)) == ["teacher_k", "teacher_other"]


def test_teacher_key_follows_files_and_settings(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    key = teacher_labels.teacher_key([str(model)], ["classification", 64])
    assert key == teacher_labels.teacher_key([str(model)], ["classification", 64])
    assert key != teacher_labels.teacher_key([str(model)], ["classification", 32])
    model.write_bytes(b"other weights")
    assert key != teacher_labels.teacher_key([str(model)], ["classification", 64])
