"""tools/distill_embeddings.py as a user runs it: bad input is a one-line error, no run folder."""

import pytest


def test_missing_student_is_a_one_line_error(tmp_path, embedded_data_dir, run_tool):
    result = run_tool("distill_embeddings", f"--student={tmp_path}/nothing",
                      f"--train_files={embedded_data_dir}/corpus/wordnet_glosses.txt",
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


@pytest.mark.slow  # 25-40 s: the MiniLM teacher pass and a short fit
@pytest.mark.needs_data("corpora/eltec_novels_en.txt.gz")
def test_a_published_student_starts_by_name(tmp_path, data_dir, run_tool, monkeypatch):
    # A published student ships float16 weights.npz and no student.keras: the tool
    # continues from its cached Stage II-format copy.
    import gzip
    import json

    with gzip.open(f"{data_dir}/corpora/eltec_novels_en.txt.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(60)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setenv("MIXVOCAB_CACHE", str(tmp_path / "cache"))
    result = run_tool("distill_embeddings", "--student=6x128", f"--train_files={corpus}",
                      f"--model_dir={tmp_path}/run", "--max_sentences=24",
                      "--held_out_sentences=8", "--batch_size=8", "--sequence_length=32")
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / "run" / "export" / "config.json").read_text())
    start = config["sentence_embedding_distillation"]["start_student"]
    assert start.startswith(str(tmp_path / "cache")) and "6x128" in start
    assert config["sentence_embedding_distillation"]["train_steps"] >= 1
