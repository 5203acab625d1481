"""tools/distill_task.py as a user runs it: a joint task's k-shot flag or n-gram bag is a
one-line error."""


def test_joint_task_refuses_k_shot_selection_in_one_line(tmp_path, data_dir, run_tool):
    result = run_tool("distill_task", f"--student={tmp_path}/student",
                      f"--teacher_dir={tmp_path}/teacher", "--task=snips_joint",
                      f"--data_dir={data_dir}", f"--output_dir={tmp_path}/out",
                      "--examples_per_class=2")
    assert result.returncode != 0
    assert "Fix: use --max_train_examples" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_joint_task_refuses_an_ngram_bag_in_one_line(tmp_path, data_dir, run_tool):
    result = run_tool("distill_task", f"--student={tmp_path}/student",
                      f"--teacher_dir={tmp_path}/teacher", "--task=snips_joint",
                      f"--data_dir={data_dir}", f"--output_dir={tmp_path}/out",
                      "--ngram_bag_buckets=101")
    assert result.returncode != 0
    assert "ngram_bag_buckets adds a sentence feature; snips_joint" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
