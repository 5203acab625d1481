"""tools/subclone_student.py end to end on the tiny teacher, and its one-line errors."""

import json
import os

from mixvocab_tf.models.encoders import load_encoder


def test_subclone_student_tool(tiny_stage_inputs, tmp_path, run_tool):
    output = tmp_path / "subclone"
    # The tiny teacher: 2 layers, 16 wide, 2 heads of 8, feed-forward 32.
    result = run_tool(
        "subclone_student", f"--teacher={tiny_stage_inputs['teacher_dir']}",
        f"--vocab={tiny_stage_inputs['student_vocab']}", "--student_size=2x8",
        f"--sample_files={tiny_stage_inputs['train_file']}", "--sample_sentences=200",
        "--sequence_length=32", f"--output_dir={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout[result.stdout.index("{"):])
    assert printed["shape"]["num_heads"] == 1 and printed["teacher_layers"] == [0, 1]
    assert 150 < printed["sample_sentences"] <= 200  # SNIPS lines of 5 words or more
    assert "teacher statistics on" in result.stdout
    assert sorted(os.listdir(output)) == ["config.json", "student.keras", "vocab.txt"]
    backbone, vocabulary, _ = load_encoder(str(output))
    assert backbone.hidden_dim == 8 and len(vocabulary) == backbone.vocabulary_size
    again = run_tool(
        "subclone_student", f"--teacher={tiny_stage_inputs['teacher_dir']}",
        f"--vocab={tiny_stage_inputs['student_vocab']}", "--student_size=3x8",
        f"--sample_files={tiny_stage_inputs['train_file']}", f"--output_dir={tmp_path / 'x'}")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    error = again.stderr.strip().splitlines()[-1]
    assert "subclone_student.py: error:" in error and "Fix: choose at most 2 layers" in error
