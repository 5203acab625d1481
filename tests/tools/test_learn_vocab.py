"""tools/learn_vocab.py end to end on SNIPS utterances, with evaluation sets."""

import json
import os

import pytest

from mixvocab_tf.tasks.readers import read_intent_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED_VOCAB = os.path.join(REPO, "pretrained", "6x128", "vocab.txt")


@pytest.fixture(scope="module")
def snips_train(data_dir):
    with open(os.path.join(data_dir, "tasks", "snips", "train", "seq.in"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def test_learn_vocab_tool(data_dir, tmp_path, run_tool):
    output = tmp_path / "student" / "vocab.txt"
    result = run_tool(
        "learn_vocab", f"--input_files={data_dir}/tasks/snips/train/seq.in", "--vocab_size=600",
        "--max_lines=3000", f"--output={output}", "--eval_sets=")
    assert result.returncode == 0, result.stderr[-2000:]
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert abs(len(tokens) - 600) <= 12
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    stats = json.loads((tmp_path / "student" / "vocab_stats.json").read_text())
    assert stats["student_vocab_size"] == len(tokens) and stats["lower_case"] is True
    assert stats["held_out_lines"] == 150 and stats["train_lines"] == 2850
    assert stats["eval_sets"] == {} and stats["eval_texts_excluded_from_learning"] == 0
    for key in ("unknown_token_rate", "student_pieces_per_word", "teacher_pieces_per_word",
                "student_tokens_in_teacher"):
        assert key in stats and key in result.stdout
    assert sorted(os.listdir(output.parent)) == ["vocab.txt", "vocab_stats.json"]


def test_evaluation_texts_are_not_learned(data_dir, tmp_path, run_tool, snips_train):
    # A made-up word in 150 texts of the corpus: learned when they are learning text, not when
    # they are an evaluation set.
    corpus, evaluation = tmp_path / "corpus.txt", tmp_path / "evaluation.txt"
    corpus.write_text("".join(line + "\n" for line in snips_train[:3000]), encoding="utf-8")
    marked = [f"{line} blorptastic" for line in snips_train[3000:3150]]
    evaluation.write_text("".join(line + "\n" for line in marked), encoding="utf-8")
    output = tmp_path / "vocab.txt"
    result = run_tool(
        "learn_vocab", f"--input_files={corpus},{evaluation}", "--vocab_size=600",
        "--max_lines=0", f"--output={output}",
        f"--eval_sets=marked={evaluation},snips_valid=snips:valid", f"--data_dir={data_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads((tmp_path / "vocab_stats.json").read_text())
    # The marked texts, and the corpus lines that are also SNIPS valid utterances.
    valid = set(read_intent_dir(os.path.join(data_dir, "tasks", "snips", "valid")).texts)
    in_valid = sum(" ".join(line.split()) in valid for line in snips_train[:3000])
    assert stats["eval_texts_excluded_from_learning"] == 150 + in_valid
    assert stats["train_lines"] + stats["held_out_lines"] == 3000 - in_valid
    assert list(stats["eval_sets"]) == ["marked", "snips_valid"]
    marked_figures, valid_figures = stats["eval_sets"]["marked"], stats["eval_sets"]["snips_valid"]
    assert marked_figures["lines"] == 150 and valid_figures["lines"] == 700
    assert marked_figures["source"] == str(evaluation) and valid_figures["source"] == "snips:valid"
    for figures in (marked_figures, valid_figures):
        for key in ("student_pieces_per_word", "teacher_pieces_per_word", "unknown_token_rate",
                    "teacher_unknown_token_rate"):
            assert key in figures
        assert 1.0 <= figures["teacher_pieces_per_word"] < figures["student_pieces_per_word"]
    assert "marked: 150 texts" in result.stdout
    assert "blorptastic" not in output.read_text(encoding="utf-8").split()

    from mixvocab_tf.vocab import learn_vocabulary

    assert "blorptastic" in learn_vocabulary(snips_train[150:3000] + marked, vocab_size=600)


def test_measure_only(data_dir, run_tool):
    result = run_tool(
        "learn_vocab", f"--vocab={SHIPPED_VOCAB}",
        f"--eval_sets=snips_valid={data_dir}/tasks/snips/valid/seq.in")
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(result.stdout)
    with open(SHIPPED_VOCAB, encoding="utf-8") as f:
        shipped_size = sum(1 for line in f if line.strip())
    assert stats["student_vocab_size"] == shipped_size and stats["teacher_vocab_size"] == 30522
    figures = stats["eval_sets"]["snips_valid"]
    assert figures["lines"] == 700 and figures["unknown_token_rate"] < 0.01
    assert 1.0 <= figures["teacher_pieces_per_word"] < figures["student_pieces_per_word"] < 2.0


def test_learn_vocab_tool_bad_glob(tmp_path, run_tool):
    result = run_tool(
        "learn_vocab", f"--input_files={tmp_path}/nothing*.txt", f"--output={tmp_path}/v.txt")
    assert result.returncode != 0
    assert "No text files match" in result.stderr


def test_bad_evaluation_set_is_one_line(tmp_path, run_tool):
    result = run_tool("learn_vocab", f"--vocab={SHIPPED_VOCAB}", "--eval_sets=snips_valid")
    assert result.returncode != 0
    assert "is not NAME=SOURCE" in result.stderr and "Traceback" not in result.stderr
