"""The dialogue assistant: MediaPipe's normalisation in TFLite-ready ops, the joint intent +
slot model, the assistant's rules, and the Android bundle checked by the Java core on the JVM
(token ids exactly; intent, confidence, slots and reply from the Python model's logits)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.assistant import bundle as assistant
from mixvocab_tf.export import exporter
from mixvocab_tf.preprocessing.normalization import MEDIAPIPE_NON_SPLITTING
from mixvocab_tf.preprocessing.normalization import WordPieceSegmenter
from mixvocab_tf.preprocessing.normalization import _MEDIAPIPE_DELIM
from mixvocab_tf.preprocessing.normalization import _MEDIAPIPE_KEEP
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.configs import TaskTrainingConfig
from mixvocab_tf.models.student_directory import read_vocabulary

L = 32
REPLIES = {"PlayMusic": ["Playing {artist} on {service}.", "Playing {artist}.", "Playing music."],
           "<out_of_scope>": ["Sorry."], "<empty>": ["Say something."],
           "<too_long>": ["Too long."], "<no_known_word>": ["Unknown words."]}


@pytest.fixture(scope="module")
def bert_vocab(data_dir):
    return read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))


def _regex_ids(vocab, texts):
    """MediaPipe's tokenisation as its regular expression states it (the reference)."""
    import tensorflow_text as tf_text

    words = tf_text.regex_split(tf.strings.lower(tf.constant(texts)), _MEDIAPIPE_DELIM,
                                _MEDIAPIPE_KEEP)
    tokenizer = tf_text.FastWordpieceTokenizer(vocab=vocab, token_out_type=tf.int32,
                                               unknown_token="[UNK]", no_pretokenization=True)
    return tokenizer.tokenize(words).merge_dims(1, 2).to_list()


def _code_point_texts(stop):
    points = [c for c in range(1, stop) if not 0xD800 <= c <= 0xDFFF]
    points += [c for c in MEDIAPIPE_NON_SPLITTING if c >= stop]
    return [f"a{chr(c)}b X{chr(c)}Y {chr(c)}".encode("utf-8") for c in points]


def test_mediapipe_normalizer_splits_as_mediapipes_regex(bert_vocab):
    # Every code point of the BMP's first 12K (Latin, Greek, Cyrillic, CJK punctuation, the
    # Unicode spaces) and the non-splitting list, between letters and alone.
    texts = _code_point_texts(0x3100)
    ours = WordPieceSegmenter(bert_vocab, True, "mediapipe").segment(tf.constant(texts)).to_list()
    assert ours == _regex_ids(bert_vocab, texts)


@pytest.mark.slow  # every Unicode code point: about a minute
def test_mediapipe_normalizer_splits_as_mediapipes_regex_on_every_code_point(bert_vocab):
    texts = _code_point_texts(0x110000)
    segmenter = WordPieceSegmenter(bert_vocab, True, "mediapipe")
    for begin in range(0, len(texts), 100_000):
        chunk = texts[begin:begin + 100_000]
        assert segmenter.segment(tf.constant(chunk)).to_list() == _regex_ids(bert_vocab, chunk)


def test_assistant_rules():
    text = "Play  Daft Punk on Spotify"
    assert assistant.decode_slots(text, ["O", "B-artist", "I-artist", "O", "B-service"]) == [
        ("artist", "Daft Punk"), ("service", "Spotify")]
    # conlleval: an I- without a B- starts a span; an I- of another type too.
    assert assistant.bio_spans(["I-a", "I-a", "B-a", "I-b", "O"]) == [
        ("a", 0, 1), ("a", 2, 2), ("b", 3, 3)]
    assert assistant.fill_template(REPLIES["PlayMusic"], [("artist", "A"), ("artist", "B")]) == (
        "Playing A and B.")
    assert assistant.fill_template(["{x}"], []) is None
    bot = assistant.Assistant(["GetWeather", "PlayMusic"], None, REPLIES, threshold=0.9)
    ids, mask = np.array([2, 5, 3, 0]), np.array([1, 1, 1, 0])
    assert bot.answer("", ids, mask, 1, [0, 1]).kind == "empty"
    assert bot.answer(" \t\u200b\x01", ids, mask, 1, [0, 1]).kind == "empty"
    assert bot.answer("x" * 10_000, ids, mask, 1, [0, 1]).reply == "Too long."
    assert bot.answer("\U0001F600", np.array([2, 1, 3, 0]), mask, 1, [0, 1]).kind == (
        "no_known_word")
    low = bot.answer("play", ids, mask, 1, np.array([1.0, 1.5], np.float32))
    assert (low.kind, low.intent, low.reply) == ("out_of_scope", "PlayMusic", "Sorry.")
    assert bot.answer("play", ids, mask, 1, [0.0, 5.0]).reply == "Playing music."
    assert assistant.choose_threshold([0.1, 0.5, 0.9, 0.95], keep=0.75) == 0.5
    with pytest.raises(ValueError, match="<no_known_word>"):
        assistant.Assistant(["x"], None, {"<out_of_scope>": ["no"]}, 0.5)


@pytest.fixture(scope="module")
def joint_bundle(tmp_path_factory, data_dir, bert_vocab, write_tiny_student):
    """A tiny joint intent + slot student (1 layer, 32 wide) trained 150 steps on 3,000 SNIPS
    utterances and a slot-swapped variant of each, with MediaPipe's normalisation, exported in
    the ids form, bundled with 150 valid utterances."""
    root = tmp_path_factory.mktemp("assistant")
    student = write_tiny_student(root / "student", bert_vocab)
    model_dir = str(root / "joint")
    tasks = os.path.join(data_dir, "tasks")
    config = finetuning.finetune(
        FinetuneConfig(task="snips_joint", normalization="mediapipe", slot_swap_augment=1,
                       training=TaskTrainingConfig(train_steps=150, batch_size=32,
                                                   learning_rate=5e-3, sequence_length=L),
                       data=DataSelectionConfig(max_train_examples=3000, max_eval_examples=200)),
        student, tasks, model_dir, verbose=0)
    export = str(root / "ids")
    report = exporter.export_tflite(model_dir, export, input_form="ids", sequence_length=L,
                                    data_dir=tasks, max_eval_examples=100,
                                    num_validation_examples=16, measure_latency=False)
    with open(os.path.join(tasks, "snips", "valid", "seq.in"), encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f][:150]
    texts += ["Play Daft Punk on Spotify", "PLAY THE BEATLES ON DEEZER", "play café del mar"]
    summary = assistant.write_android_bundle(model_dir, export, str(root / "bundle"), 0.5, texts)
    return {"config": config, "report": report, "summary": summary, "model_dir": model_dir,
            "bundle": str(root / "bundle"), "export": export, "texts": texts}


def test_joint_model_learns_both_heads_and_exports_both_outputs(joint_bundle):
    training = joint_bundle["config"]["training"]
    assert (training["examples"], training["training_examples"]) == (3000, 6000)  # + swaps
    scores = joint_bundle["config"]["eval"]["metrics"]
    assert scores["accuracy"] > 0.8 and scores["slot_f1"] > 0.2, scores
    report = joint_bundle["report"]
    assert report["signature"]["outputs"] == [
        "logits", "probabilities", "slot_logits", "slot_probabilities"]
    assert report["accuracy"]["prediction_agreement"] >= 0.97
    assert report["accuracy"]["slot_f1"]["tflite"] > 0.2
    summary = joint_bundle["summary"]
    assert {"model.tflite", "labels.txt", "slot_labels.txt", "vocab.txt", "replies.tsv",
            "assistant.json", "assistant.properties", "test_vectors.tsv",
            "assistant_vectors.tsv"} <= set(summary["files"])
    assert summary["answers"]["intent"] > 100
    assert {"empty", "too_long", "no_known_word"} <= set(summary["answers"])


def test_an_export_read_in_place_answers_as_its_written_bundle(joint_bundle):
    written = assistant.AssistantBundle.load(joint_bundle["bundle"])
    in_place = assistant.AssistantBundle.from_export(joint_bundle["model_dir"],
                                                     joint_bundle["export"], threshold=0.5)
    config = {k: v for k, v in written.config.items() if k != "mediapipe_metadata"}
    assert in_place.config == config
    assert in_place.vocabulary == written.vocabulary
    texts = joint_bundle["texts"][:40]
    for got, want in zip(in_place.run(in_place.encode(texts)), written.run(written.encode(texts))):
        np.testing.assert_array_equal(got, want)
    assert in_place.answer(texts[-3]) == written.answer(texts[-3])


def test_java_core_gives_the_python_answer_on_every_vector(joint_bundle, run_java_core):
    bundle = joint_bundle["bundle"]
    result = run_java_core({"bundle": bundle, "vocab": os.path.join(bundle, "vocab.txt"),
                            "vectors": os.path.join(bundle, "test_vectors.tsv")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "OK (11 tests)" in result.stdout
    checked = int(result.stdout.split("assistant vectors checked: ")[1].split(",")[0])
    assert checked == joint_bundle["summary"]["vectors"]
    assert int(result.stdout.split("with slots: ")[1].split()[0]) > 50
