"""tools/distill_task.py as a user runs it: a joint task's k-shot flag or n-gram bag is a
one-line error."""

import pytest


@pytest.mark.parametrize("flag, message", [
    ("--examples_per_class=2", "Fix: use --max_train_examples"),
    ("--ngram_bag_buckets=101", "ngram_bag_buckets adds a sentence feature; snips_joint"),
])
def test_joint_task_refuses_a_sentence_only_flag_in_one_line(tmp_path, data_dir, run_tool, flag,
                                                              message):
    result = run_tool("distill_task", f"--student={tmp_path}/student",
                      f"--teacher_dir={tmp_path}/teacher", "--task=snips_joint",
                      f"--data_dir={data_dir}", f"--output_dir={tmp_path}/out", flag)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
