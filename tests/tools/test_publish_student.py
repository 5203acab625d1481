"""tools/publish_student.py end to end on a tiny random student."""

import json
import os


def test_publish_student_tool(tmp_path, run_tool, write_tiny_student):
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters + ["##" + c for c in letters]
    student_dir = write_tiny_student(tmp_path / "stage2", vocabulary, sequence_length=16)
    output, preset = tmp_path / "pretrained" / "tiny", tmp_path / "preset"
    result = run_tool(
        "publish_student", f"--student_dir={student_dir}", "--name=tiny", f"--output={output}",
        "--teacher=a random test teacher", "--corpora=none", "--stage2_steps=0",
        '--evaluation={"snips": {"accuracy": 0.1}}', f"--keras_hub_preset={preset}")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert set(summary["bytes"]) == {"weights.npz", "config.json", "vocab.txt", "MODEL_CARD.md"}
    assert max(summary["bytes"].values()) < 10 * 1024 * 1024
    card = (output / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "a random test teacher" in card and "| snips | accuracy | 0.1 |" in card
    assert os.path.isfile(preset / "tokenizer.json") and os.path.isfile(preset / "config.json")
