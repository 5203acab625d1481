"""tools/distill_embeddings.py as a user runs it: bad input is a one-line error, no run folder."""


def test_missing_student_is_a_one_line_error(tmp_path, data_dir, run_tool):
    result = run_tool("distill_embeddings", f"--student={tmp_path}/nothing",
                      f"--train_files={data_dir}/corpora/eltec_novels_en.txt.gz",
                      f"--model_dir={tmp_path}/run")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nothing" in result.stderr and "Fix" in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_corpus_is_a_one_line_error(tmp_path, run_tool):
    result = run_tool("distill_embeddings", f"--student={tmp_path}/student",
                      f"--train_files={tmp_path}/none*.txt.gz", f"--model_dir={tmp_path}/run")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "none*.txt.gz" in result.stderr
    assert not (tmp_path / "run").exists()
