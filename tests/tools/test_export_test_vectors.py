"""tools/export_test_vectors.py end to end: SNIPS valid plus the edge cases, and bad input."""

import os
import subprocess
import sys

from mixvocab_tf.export.test_vectors import EDGE_CASE_TEXTS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "export_test_vectors.py")


def _run(*args):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_export_test_vectors_tool(data_dir, tmp_path):
    vocab = os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")
    output = tmp_path / "vectors.tsv"
    result = _run(f"--vocab={vocab}", "--sequence_length=24", f"--output={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = output.read_text(encoding="utf-8").splitlines()
    with open(os.path.join(data_dir, "tasks", "snips", "valid", "seq.in"), encoding="utf-8") as f:
        n_valid = sum(1 for _ in f)
    assert lines[0] == "# sequence_length=24 lower_case=true"
    assert len(lines) == 1 + n_valid + len(EDGE_CASE_TEXTS)
    assert all(len(line.split("\t")[1].split()) == 24 for line in lines[1:])

    missing = _run("--vocab=/no/such/vocab.txt", f"--output={tmp_path / 'x.tsv'}")
    assert missing.returncode == 1
    assert "not found" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "x.tsv").exists()
