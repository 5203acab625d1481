"""tools/publish_student.py end to end on a tiny random student."""

import json


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
    # The preset the tool wrote loads in plain keras-hub and computes what the published
    # student computes.
    import keras_hub
    import numpy as np

    from mixvocab_tf.models import pretrained

    student, _, _ = pretrained.load_student(str(output))
    backbone = keras_hub.models.BertBackbone.from_preset(str(preset))
    x = {"token_ids": np.array([[2, 7, 8, 33, 3, 0]], np.int32),
         "segment_ids": np.zeros((1, 6), np.int32),
         "padding_mask": np.array([[1, 1, 1, 1, 1, 0]], bool)}
    np.testing.assert_allclose(backbone(x)["sequence_output"], student(x)["sequence_output"],
                               atol=1e-5)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(preset))
    assert [vocabulary[int(i)] for i in np.asarray(tokenizer(["abc"]))[0]] == ["a", "##b", "##c"]


def test_publish_student_reads_an_evaluation_file_and_refuses_bad_json(tmp_path, run_tool,
                                                                       write_tiny_student):
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters
    student_dir = write_tiny_student(tmp_path / "stage2", vocabulary, sequence_length=16)
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"sst2 (dev 872)": {"accuracy float, seed 0": "81.00"}}))
    output = tmp_path / "tiny"
    result = run_tool("publish_student", f"--student_dir={student_dir}", "--name=tiny",
                      f"--output={output}", f"--evaluation={evaluation}")
    assert result.returncode == 0, result.stderr[-2000:]
    card = (output / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "| sst2 (dev 872) | accuracy float, seed 0 | 81.00 |" in card
    result = run_tool("publish_student", f"--student_dir={student_dir}", "--name=tiny",
                      f"--output={tmp_path / 'bad'}", "--evaluation={sst2: 81}")
    assert result.returncode == 1
    assert "neither a JSON file nor JSON" in result.stderr and "Fix:" in result.stderr
    assert not (tmp_path / "bad").exists()
