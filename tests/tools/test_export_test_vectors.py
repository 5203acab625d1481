"""tools/export_test_vectors.py end to end: SNIPS valid plus the edge cases, and bad input."""

import os

from mixvocab_tf.export.test_vectors import EDGE_CASE_TEXTS


def test_export_test_vectors_tool(data_dir, tmp_path, run_tool):
    vocab = os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")
    # Named: the tool's default (SNIPS valid of the development data set) is not on a clone.
    texts = os.path.join(data_dir, "tasks", "snips", "valid", "seq.in")
    output = tmp_path / "vectors.tsv"
    result = run_tool("export_test_vectors", f"--vocab={vocab}", f"--texts={texts}",
                      "--sequence_length=24", f"--output={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = output.read_text(encoding="utf-8").splitlines()
    with open(texts, encoding="utf-8") as f:
        n_valid = sum(1 for _ in f)
    assert lines[0] == "# sequence_length=24 lower_case=true normalization=bert"
    assert len(lines) == 1 + n_valid + len(EDGE_CASE_TEXTS)
    assert all(len(line.split("\t")[1].split()) == 24 for line in lines[1:])

    missing = run_tool(
        "export_test_vectors", "--vocab=/no/such/vocab.txt", f"--output={tmp_path / 'x.tsv'}")
    assert missing.returncode == 1
    assert "not found" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "x.tsv").exists()
