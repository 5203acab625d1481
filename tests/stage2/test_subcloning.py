"""Weight subcloning on a tiny random teacher: exact at full size, the importance order beats
a random one, the student directory loads, and bad inputs name the fix."""

import json
import os

import numpy as np
import pytest

from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.models.student_directory import load_student_directory
from mixvocab_tf.models.student_encoder import StudentSize
from mixvocab_tf.preprocessing.single_vocab_preprocessor import SingleVocabPreprocessor
from mixvocab_tf.preprocessing.single_vocab_preprocessor import encode_texts
from mixvocab_tf.stage2 import subcloning

# 2 layers, 32 wide, 4 heads of 8, feed-forward 128.
FULL = StudentSize(2, 32, 4, 128)


@pytest.fixture(scope="module")
def snips(data_dir):
    with open(os.path.join(data_dir, "tasks", "snips", "train", "seq.in"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if len(line.split()) >= 5]
    return lines[:400], lines[-100:]  # the statistics sample, held-out sentences


@pytest.fixture(scope="module")
def teacher(data_dir, tmp_path_factory):
    """A random BERT with the real uncased vocabulary whose LayerNorm gains are uneven
    (log-normal), as a trained BERT's are: some residual dimensions carry much more than
    others, which is what the importance order finds. Saved as a keras-hub preset."""
    import keras
    import keras_hub

    from mixvocab_tf.models.teacher import Teacher
    from mixvocab_tf.models.teacher_loading import load_teacher

    with open(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"),
              encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f]
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=FULL.num_layers, num_heads=FULL.num_heads,
        hidden_dim=FULL.hidden_dim, intermediate_dim=FULL.intermediate_dim,
        max_sequence_length=64)
    rng = np.random.default_rng(0)
    gains = np.exp(rng.normal(0, 1, FULL.hidden_dim))  # the same dims large in every norm
    for layer in backbone._flatten_layers():
        if isinstance(layer, keras.layers.LayerNormalization):
            layer.gamma.assign(gains * np.exp(rng.normal(0, 0.2, FULL.hidden_dim)))
            layer.beta.assign(rng.normal(0, 0.1, FULL.hidden_dim))
    path = str(tmp_path_factory.mktemp("subcloning") / "teacher")
    Teacher(backbone, vocabulary, True, None, "keras_hub").save_to_preset(path)
    return load_teacher(path), path


@pytest.fixture(scope="module")
def statistics(teacher, snips):
    return subcloning.teacher_statistics(teacher[0], snips[0], sequence_length=32)


def _inputs(vocabulary, texts):
    return encode_texts(SingleVocabPreprocessor(vocabulary, sequence_length=32), texts)


def _mean_pooled(sequence, inputs):
    mask = inputs["padding_mask"][..., None].astype(np.float32)
    return (np.asarray(sequence) * mask).sum(1) / mask.sum(1)


def _cosine(a, b):
    return float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def test_the_layer_by_layer_pass_is_the_teachers(teacher, snips):
    backbone = teacher[0].backbone
    inputs = _inputs(teacher[0].vocabulary, snips[1][:8])
    norms = [x for kind, _, *values in subcloning.encoder_internals(backbone, inputs)
             if kind == "norm" for x in values[1:]]
    assert len(norms) == 2 * FULL.num_layers + 1
    np.testing.assert_allclose(norms[-1], backbone(inputs)["sequence_output"], atol=1e-5)


def test_full_size_with_the_teachers_vocabulary_is_the_teacher(teacher, statistics, snips):
    teacher = teacher[0]
    student, report = subcloning.subclone(teacher, teacher.vocabulary, FULL, statistics)
    assert report["residual_dims"] == list(range(FULL.hidden_dim))
    assert report["student_tokens"]["same_token"] == len(teacher.vocabulary)
    inputs = _inputs(teacher.vocabulary, snips[1][:8])
    expected = teacher.backbone(inputs)
    outputs = student(inputs)
    # Every layer's output, read layer by layer from the teacher's own keras-hub layers.
    x = [values[1] for kind, _, *values in subcloning.encoder_internals(teacher.backbone, inputs)
         if kind == "norm"][::2]
    np.testing.assert_allclose(outputs["hidden_states"], np.stack(x, axis=1), atol=1e-5)
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(outputs[name], expected[name], atol=1e-5)
    # A shallower student keeps evenly spaced layers, the first among them.
    shallow, report = subcloning.subclone(teacher, teacher.vocabulary, StudentSize(1, 32, 4, 128),
                                          statistics)
    assert report["teacher_layers"] == [0]
    np.testing.assert_allclose(shallow(inputs)["sequence_output"], x[1], atol=1e-5)


def test_the_importance_order_keeps_more_than_a_random_one(teacher, statistics, snips):
    teacher = teacher[0]
    half = StudentSize(2, 16, 2, 64)
    inputs = _inputs(teacher.vocabulary, snips[1])
    target = _mean_pooled(teacher.backbone(inputs)["sequence_output"], inputs)

    def kept(selection, seed=0):
        """The cosine of the student's sentence vector, in the teacher's kept dimensions
        and zero elsewhere, to the teacher's: no fitted map."""
        student, report = subcloning.subclone(teacher, teacher.vocabulary, half, statistics,
                                              selection=selection, seed=seed)
        padded = np.zeros_like(target)
        padded[:, report["residual_dims"]] = _mean_pooled(
            student(inputs)["sequence_output"], inputs)
        return _cosine(padded, target)

    importance = kept("importance")
    randoms = [kept("random", seed) for seed in range(3)]
    assert importance > max(randoms) and importance > np.mean(randoms) + 0.1, (importance,
                                                                               randoms)


def test_student_tokens_take_the_teachers_rows_or_pieces(teacher, statistics):
    teacher = teacher[0]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "playlisting", "##ing",
                  "##listing", "\u2603\u2603"]
    rows, counts = subcloning.student_token_rows(teacher.vocabulary, vocabulary)
    index = {token: i for i, token in enumerate(teacher.vocabulary)}
    assert rows[5] == [index["play"]] and rows[7] == [index["##ing"]]
    assert [teacher.vocabulary[i] for i in rows[6]] == ["play", "##list", "##ing"]
    assert [teacher.vocabulary[i] for i in rows[8]] == ["##list", "##ing"]
    assert rows[9] == [index["[UNK]"]]  # what the teacher reads for a word it cannot spell
    assert counts == {"same_token": 7, "pieces": 2, "unknown": 1}
    student, _ = subcloning.subclone(teacher, vocabulary, FULL, statistics)
    table = np.asarray(teacher.backbone.token_embedding.embeddings)
    np.testing.assert_allclose(np.asarray(student.token_embedding.embeddings)[6],
                               table[rows[6]].mean(0), atol=1e-6)


def test_the_student_directory_loads_everywhere(teacher, tiny_stage_inputs, snips, tmp_path):
    sample = tmp_path / "sample.txt"
    sample.write_text("\n".join(snips[0]) + "\n", encoding="utf-8")
    output = tmp_path / "student"
    config = subcloning.subclone_student_directory(
        teacher[1], tiny_stage_inputs["student_vocab"], "2x16", [str(sample)], str(output),
        sample_sentences=300, sequence_length=32, log=lambda *_: None)
    assert sorted(os.listdir(output)) == ["config.json", "student.keras", "vocab.txt"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no staging left
    with open(output / "config.json") as f:
        assert json.load(f) == json.loads(json.dumps(config))
    assert config["num_heads"] == 2 and config["subcloning"]["head_dim"] == 8
    assert config["subcloning"]["sample_sentences"] == 300
    backbone, vocabulary, lower_case = load_encoder(str(output))
    assert backbone.num_heads == 2 and backbone.hidden_dim == 16 and lower_case
    inputs = _inputs(vocabulary, snips[1][:4])
    sequence = np.asarray(backbone(inputs)["sequence_output"])
    assert sequence.shape[-1] == 16 and np.isfinite(sequence).all()
    student, _, _ = load_student_directory(str(output))  # what distill_embeddings reads
    np.testing.assert_allclose(student(inputs)["sequence_output"], sequence, atol=1e-6)
    with pytest.raises(FileExistsError, match="--overwrite"):
        subcloning.subclone_student_directory(
            teacher[1], tiny_stage_inputs["student_vocab"], "2x16", [str(sample)], str(output))


@pytest.mark.parametrize("size, message", [
    ("3x16", r"3 layers, more than the teacher .*Fix: choose at most 2 layers"),
    ("2x64", r"64 wide, wider than the teacher.*Fix: choose a width of at most 32"),
    ("2x12", r"not a multiple of the teacher's head width 8.*Fix"),
    (StudentSize(2, 16, 2, 256), r"feed-forward width of 256.*Fix: .*intermediate_dim <= 128"),
])
def test_sizes_the_teacher_cannot_give_name_the_fix(teacher, size, message):
    with pytest.raises(ValueError, match=message):
        subcloning.subclone_shape(teacher[0].backbone, size)


def test_bad_samples_and_vocabularies_name_the_fix(teacher, tiny_stage_inputs, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("too short\nfour words only here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentence of 5 words.*Fix"):
        subcloning.subclone_student_directory(
            teacher[1], tiny_stage_inputs["student_vocab"], "2x16", [str(short)],
            str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match="Fix"):
        subcloning.subclone_student_directory(
            teacher[1], str(tmp_path / "missing.txt"), "2x16", [str(short)],
            str(tmp_path / "b"))
    with pytest.raises(ValueError, match="Fix"):
        subcloning.teacher_statistics(teacher[0], ["  "])
    with pytest.raises(ValueError, match="selection"):
        subcloning.select_neurons(teacher[0].backbone, None, subcloning.subclone_shape(
            teacher[0].backbone, "2x16"), selection="uniform")
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")
