"""Sentence-embedding distillation: sentence sampling, the cached teacher pass, a short run."""

import dataclasses
import json
import os

import numpy as np
import pytest

from mixvocab_tf.stage2 import sentence_embedding
from mixvocab_tf.stage2.config import SentenceEmbeddingConfig
from mixvocab_tf.training.config import config_from_keywords
from mixvocab_tf.models.teacher_loading import load_teacher


def test_split_sentences_cuts_and_drops():
    text = "Yes. It rained all day long on the hill. " + " ".join(["word"] * 50) + "."
    sentences = sentence_embedding.split_sentences(text, min_words=3, max_words=40)
    assert sentences[0] == "It rained all day long on the hill."
    assert len(sentences) == 2 and len(sentences[1].split()) == 40


def test_corpus_sentences_samples_every_file_equally(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("".join(f"alpha {i} one two three four. Alpha again {i} and more words.\n"
                         for i in range(50)))
    b.write_text("".join(f"beta {i} one two three four five.\n" for i in range(500)))
    sentences = sentence_embedding.corpus_sentences([str(a), str(b)], paragraphs_per_file=20)
    assert sum(s.startswith("beta") for s in sentences) == 20
    assert sum(s.lower().startswith("alpha") for s in sentences) == 40
    again = sentence_embedding.corpus_sentences([str(a), str(b)], paragraphs_per_file=20)
    assert again == sentences
    assert len(sentence_embedding.corpus_sentences([str(a), str(b)], 20, max_sentences=7)) == 7


def test_teacher_embeddings_are_the_masked_mean_and_cached(tiny_stage_inputs, tmp_path,
                                                           monkeypatch):
    teacher = load_teacher(tiny_stage_inputs["teacher_dir"])
    sentences = ["play some jazz music now please", "what is the weather like in paris",
                 "book a table for two at eight"]
    monkeypatch.setattr(sentence_embedding, "SHARD_SIZE", 2)
    cache = str(tmp_path / "cache")
    vectors, cpu = sentence_embedding.teacher_embeddings(teacher, sentences, cache, 32)
    assert vectors.shape == (3, teacher.hidden_dim) and cpu > 0
    # The last, shorter shard is named by its count: a longer draw does not overwrite it.
    assert sorted(os.listdir(cache)) == ["shard000.npz", "shard001_1.npz"]
    # The reference: the backbone at full length, mean over real tokens.
    from mixvocab_tf.preprocessing.single_vocab_preprocessor import SingleVocabPreprocessor
    from mixvocab_tf.preprocessing.single_vocab_preprocessor import encode_texts

    inputs = encode_texts(
        SingleVocabPreprocessor(teacher.vocabulary, lower_case=True, sequence_length=32), sentences)
    sequence = np.asarray(teacher.backbone(inputs)["sequence_output"])
    mask = inputs["padding_mask"][..., None].astype(np.float32)
    reference = (sequence * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(vectors, reference, atol=5e-3)  # float16 storage
    cached, cpu = sentence_embedding.teacher_embeddings(teacher, sentences, cache, 32)
    assert cpu == 0 and np.array_equal(cached, vectors)
    # A shard whose texts changed is recomputed, not trusted.
    changed, cpu = sentence_embedding.teacher_embeddings(
        teacher, sentences[:2] + ["set an alarm for six"], cache, 32)
    assert cpu > 0 and np.array_equal(changed[:2], vectors[:2])


def test_prefixes_of_one_draw_share_the_teacher_cache(tiny_stage_inputs, tmp_path, monkeypatch):
    teacher = load_teacher(tiny_stage_inputs["teacher_dir"])
    sentences = [f"play song number {i} by the band now" for i in range(5)]
    monkeypatch.setattr(sentence_embedding, "SHARD_SIZE", 2)
    cache = str(tmp_path / "cache")
    longer, cpu = sentence_embedding.teacher_embeddings(teacher, sentences, cache, 32)
    shorter, cpu_shorter = sentence_embedding.teacher_embeddings(teacher, sentences[:3], cache, 32)
    assert np.array_equal(shorter[:2], longer[:2]) and cpu_shorter > 0  # only its last shard
    again, cpu_again = sentence_embedding.teacher_embeddings(teacher, sentences, cache, 32)
    assert cpu_again == 0 and np.array_equal(again, longer)
    assert sorted(os.listdir(cache)) == ["shard000.npz", "shard001.npz", "shard001_1.npz",
                                         "shard002_1.npz"]


def _student_and_corpus(tiny_stage_inputs, write_tiny_student, tmp_path, utterances):
    """A tiny random student of the tiny student vocabulary, and a corpus of `utterances` SNIPS
    utterances, three a paragraph (prose has several sentences a line)."""
    with open(tiny_stage_inputs["student_vocab"]) as f:
        vocabulary = [line.rstrip("\n") for line in f]
    student_dir = write_tiny_student(tmp_path / "student", vocabulary)
    corpus = tmp_path / "corpus.txt"
    with open(tiny_stage_inputs["train_file"]) as f:
        lines = [line.strip() for line in f][:utterances]
    corpus.write_text("".join(". ".join(lines[i:i + 3]) + ".\n"
                              for i in range(0, utterances, 3)))
    return vocabulary, student_dir, corpus


def test_short_run_moves_the_student_toward_the_teacher(tiny_stage_inputs, write_tiny_student,
                                                       tmp_path):
    vocabulary, student_dir, corpus = _student_and_corpus(tiny_stage_inputs, write_tiny_student,
                                                          tmp_path, 600)
    model_dir = str(tmp_path / "run")
    run_config = SentenceEmbeddingConfig(held_out_sentences=64, epochs=3, batch_size=32,
                                         learning_rate=3e-3, sequence_length=32,
                                         teacher_sequence_length=32, steps_per_loop=20)
    inputs = (student_dir, tiny_stage_inputs["teacher_dir"], [str(corpus)], model_dir)
    result = sentence_embedding.distill_sentence_embeddings(run_config, *inputs, verbose=0)
    train_count = len(sentence_embedding.corpus_sentences([str(corpus)])) - 64
    assert result["sentences"] == train_count > 300
    assert result["metrics"]["val_cosine"] > result["held_out_cosine_start"] + 0.2
    with open(os.path.join(result["export_dir"], "config.json")) as f:
        config = json.load(f)
    record = config["sentence_embedding_distillation"]
    assert 0 <= record["train_steps"] - int(3 * train_count / 32) < 3 and config["lower_case"]
    # The export is a student directory fine-tuning reads.
    from mixvocab_tf.models.encoders import load_encoder

    backbone, vocab, _ = load_encoder(result["export_dir"])
    assert list(vocab) == vocabulary
    # flags.json: the inputs (the corpus resolved) and the config, setting by setting.
    with open(os.path.join(model_dir, "flags.json")) as f:
        record = json.load(f)
    names = ("student_dir", "teacher_path", "train_files", "model_dir")
    assert [record.pop(name) for name in names] == [*inputs[:2], [str(corpus)], model_dir]
    assert config_from_keywords(SentenceEmbeddingConfig, **record) == run_config
    # A rerun trains nothing more; the 0.1 keyword call makes the same config, so it is one.
    old_call = dict(student_dir=student_dir, teacher_path=tiny_stage_inputs["teacher_dir"],
                    train_files=[str(corpus)], model_dir=model_dir, held_out_sentences=64,
                    epochs=3, batch_size=32, learning_rate=3e-3, sequence_length=32,
                    teacher_sequence_length=32, steps_per_loop=20, verbose=0)
    with pytest.warns(DeprecationWarning, match=r"call distill_sentence_embeddings\("
                                                r"SentenceEmbeddingConfig\(\.\.\.\)"):
        again = sentence_embedding.distill_sentence_embeddings(**old_call)
    assert again["metrics"] == {} and again["teacher_cpu_seconds"] == 0
    with pytest.raises(ValueError, match="different settings"):
        sentence_embedding.distill_sentence_embeddings(
            dataclasses.replace(run_config, learning_rate=1e-3), *inputs, verbose=0)
    # A teacher length past its position table is refused before a run folder is made.
    with pytest.raises(ValueError, match="teacher_sequence_length=96 is longer than the "
                                         "teacher's 64 positions. Fix: pass"):
        sentence_embedding.distill_sentence_embeddings(
            dataclasses.replace(run_config, teacher_sequence_length=96), *inputs[:3],
            str(tmp_path / "too_long"), verbose=0)
    assert not os.path.exists(tmp_path / "too_long")


def test_sigkill_then_rerun_resumes_the_sentence_vector_stage(
        tiny_stage_inputs, write_tiny_student, tmp_path, sigkill_after_first_checkpoint):
    """tools/distill_embeddings.py killed after its first checkpoint: the same command
    resumes at that step (the teacher's vectors come from their cache) and finishes."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    with open(tiny_stage_inputs["student_vocab"]) as f:
        vocabulary = [line.rstrip("\n") for line in f]
    student_dir = write_tiny_student(tmp_path / "student", vocabulary)
    corpus = tmp_path / "corpus.txt"
    with open(tiny_stage_inputs["train_file"]) as f:
        corpus.write_text("".join(line.strip() + ".\n" for line in list(f)[:400]))
    model_dir = str(tmp_path / "run")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    command = [sys.executable, os.path.join(repo, "tools", "distill_embeddings.py"),
               f"--student={student_dir}", f"--teacher={tiny_stage_inputs['teacher_dir']}",
               f"--train_files={corpus}", f"--model_dir={model_dir}", "--epochs=40",
               "--batch_size=16", "--held_out_sentences=32", "--sequence_length=32",
               "--teacher_sequence_length=32", "--steps_per_loop=10"]
    killed_at = sigkill_after_first_checkpoint(command, model_dir, 240)
    assert not os.path.exists(os.path.join(model_dir, "export")), "killed before the end"

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert f"ckpt-{killed_at} at step {killed_at}." in output  # the one resume line
    with open(os.path.join(model_dir, "export", "config.json")) as f:
        record = json.load(f)["sentence_embedding_distillation"]
    assert record["train_steps"] > killed_at


def test_teacher_word_states_are_each_words_first_piece(tiny_stage_inputs, tmp_path):
    teacher = load_teacher(tiny_stage_inputs["teacher_dir"])
    sentences = ["play some westbam jazz now", "what is the weather like in paris today",
                 "book it"]
    cache = str(tmp_path / "cache")
    vectors, words, cpu = sentence_embedding.teacher_word_states(teacher, sentences, cache, 32,
                                                                 max_words=6)
    assert vectors.shape == (3, teacher.hidden_dim) and words.shape == (3, 6, teacher.hidden_dim)
    pooled, _ = sentence_embedding.teacher_embeddings(teacher, sentences, str(tmp_path / "p"), 32)
    np.testing.assert_allclose(vectors, pooled, atol=5e-3)
    from mixvocab_tf.preprocessing.word_alignment import WordAligner

    encoded = WordAligner(list(teacher.vocabulary), True, 32).encode([s.split() for s in sentences])
    sequence = np.asarray(teacher.backbone(
        {k: encoded[k] for k in ("token_ids", "segment_ids", "padding_mask")})["sequence_output"])
    for row, sentence in enumerate(sentences):
        count = min(len(sentence.split()), 6)
        starts = encoded["word_starts"][row, :count]
        np.testing.assert_allclose(words[row, :count], sequence[row, starts], atol=5e-3)
        assert not words[row, count:].any()  # words the sentence lacks (or past 6) are zeros
    assert encoded["word_starts"][0, 3] > 3  # "westbam" takes several pieces: gathered, not shifted
    again = sentence_embedding.teacher_word_states(teacher, sentences, cache, 32, max_words=6)
    assert again[2] == 0 and np.array_equal(again[1], words)


def test_word_cosine_distance_compares_only_the_words_both_sides_have():
    true = np.array([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]], np.float32)
    same = sentence_embedding.word_cosine_distance(true, true * 3)
    opposite = sentence_embedding.word_cosine_distance(true, -true)
    student_lacks_one = sentence_embedding.word_cosine_distance(
        true, np.array([[[1.0, 0.0], [0.0, 0.0], [5.0, 5.0]]], np.float32))
    np.testing.assert_allclose(np.asarray(same), [0.0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(opposite), [2.0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(student_lacks_one), [0.0], atol=1e-6)


def test_a_short_run_with_the_word_term(tiny_stage_inputs, write_tiny_student, tmp_path):
    _, student_dir, corpus = _student_and_corpus(tiny_stage_inputs, write_tiny_student, tmp_path,
                                                 300)
    run_config = SentenceEmbeddingConfig(held_out_sentences=64, epochs=3, batch_size=32,
                                         learning_rate=3e-3, sequence_length=32,
                                         teacher_sequence_length=32, steps_per_loop=10,
                                         word_weight=1.0, max_words=12)
    model_dir = str(tmp_path / "run")
    result = sentence_embedding.distill_sentence_embeddings(
        run_config, student_dir, tiny_stage_inputs["teacher_dir"], [str(corpus)], model_dir,
        teacher_cache_dir=str(tmp_path / "cache"), verbose=0)
    assert result["metrics"]["val_cosine"] > result["held_out_cosine_start"] + 0.1
    assert "val_words_loss" in result["metrics"]
    with open(os.path.join(result["export_dir"], "config.json")) as f:
        record = json.load(f)["sentence_embedding_distillation"]
    assert record["word_weight"] == 1.0 and record["max_words"] == 12
    assert "val_cosine" in record["final_metrics"]
    assert os.listdir(tmp_path / "cache") == ["words12"]
    with open(os.path.join(model_dir, "flags.json")) as f:
        assert json.load(f)["word_weight"] == 1.0
