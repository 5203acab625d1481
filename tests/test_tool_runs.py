"""experiments/tool_runs.py: a tool's output goes to its log; a failure says why."""

import sys

import pytest


def test_a_run_is_logged_and_a_failure_raises_with_the_logs_tail(load_script, tmp_path):
    tool_runs = load_script("experiments/tool_runs.py")
    log = tmp_path / "log.txt"
    cpu = tool_runs.run_tool([sys.executable, "-c", "print('labelled 8,192 sentences')"], str(log))
    assert cpu >= 0
    text = log.read_text()
    assert text.startswith(f"\n$ {sys.executable} -c") and "labelled 8,192 sentences" in text
    with pytest.raises(RuntimeError, match=r"(?s)failed \(3\).*out of teacher shards"):
        tool_runs.run_tool([sys.executable, "-c",
                            "import sys; print('out of teacher shards'); sys.exit(3)"], str(log))
    assert "labelled 8,192 sentences" in log.read_text()  # appended, not overwritten
