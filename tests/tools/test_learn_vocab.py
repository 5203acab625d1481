"""tools/learn_vocab.py end to end on SNIPS utterances."""

import json
import os


def test_learn_vocab_tool(data_dir, tmp_path, run_tool):
    output = tmp_path / "student" / "vocab.txt"
    result = run_tool(
        "learn_vocab", f"--input_files={data_dir}/tasks/snips/train/seq.in", "--vocab_size=600",
        "--max_lines=3000", f"--output={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert abs(len(tokens) - 600) <= 12
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    stats = json.loads((tmp_path / "student" / "vocab_stats.json").read_text())
    assert stats["student_vocab_size"] == len(tokens) and stats["lower_case"] is True
    assert stats["held_out_lines"] == 150 and stats["train_lines"] == 2850
    for key in ("unknown_token_rate", "student_pieces_per_word", "teacher_pieces_per_word",
                "student_tokens_in_teacher"):
        assert key in stats and key in result.stdout
    assert sorted(os.listdir(output.parent)) == ["vocab.txt", "vocab_stats.json"]


def test_learn_vocab_tool_bad_glob(tmp_path, run_tool):
    result = run_tool(
        "learn_vocab", f"--input_files={tmp_path}/nothing*.txt", f"--output={tmp_path}/v.txt")
    assert result.returncode != 0
    assert "No text files match" in result.stderr
