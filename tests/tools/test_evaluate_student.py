"""tools/evaluate_student.py as a user calls it (the runs themselves: tests/pipeline)."""


def test_an_unknown_evaluation_is_one_line_naming_the_fix(tmp_path, run_tool, data_dir):
    result = run_tool("evaluate_student", "--student=6x128", f"--data_dir={data_dir}",
                      f"--output_dir={tmp_path / 'card'}", "--evaluations=mnli:0")
    assert result.returncode == 1
    assert "unknown evaluation 'mnli'" in result.stderr and "Fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "card" / "evaluation.json").exists()
