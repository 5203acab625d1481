"""Stage II: the Distiller on a tiny Stage I teacher and real text."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.stage2.distiller import Distiller
from mixvocab_tf.stage2.distiller import initialize_student_embeddings
from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.vocab import Vocabulary


@pytest.fixture(scope="module")
def parts(tiny_stage_inputs):
    keras.utils.set_random_seed(5)
    teacher = load_teacher(tiny_stage_inputs["teacher_dir"])
    vocabulary = Vocabulary.load(tiny_stage_inputs["student_vocab"])
    stage1 = MixedVocabTeacher(
        teacher.backbone, vocabulary.size, student_embedding_dim=8,
        masked_lm_head=teacher.masked_lm_head,
    )
    lines = open(tiny_stage_inputs["train_file"], encoding="utf-8").read().split("\n")[:16]
    layer = SingleVocabPreprocessor(
        vocabulary, sequence_length=32, masking_rate=0.15, max_predictions=6, seed=2
    )
    return stage1, vocabulary, layer(tf.constant(lines))


def _student(vocabulary_size, **kwargs):
    return StudentEncoder(
        vocabulary_size=vocabulary_size, num_layers=2, hidden_dim=16, num_heads=2,
        intermediate_dim=32, embedding_dim=8, max_sequence_length=64, **kwargs,
    )


def test_teacher_reads_the_student_ids_in_its_joint_space(parts):
    stage1, vocabulary, batch = parts
    distiller = Distiller(stage1, _student(vocabulary.size))
    teacher_inputs = distiller.teacher_inputs(batch)
    ids, mask = teacher_inputs["token_ids"].numpy(), batch["padding_mask"].numpy()
    v_t = stage1.teacher_vocabulary_size
    np.testing.assert_array_equal(ids[mask], batch["token_ids"].numpy()[mask] + v_t)
    assert (ids[~mask] == 0).all()


def test_student_embeddings_start_from_the_stage1_table(parts):
    stage1, vocabulary, _ = parts
    student = _student(vocabulary.size)
    initialize_student_embeddings(student, stage1)
    np.testing.assert_array_equal(
        student.token_embedding.embeddings.numpy(), stage1.student_embedding.embeddings.numpy()
    )
    wide = StudentEncoder(vocabulary_size=vocabulary.size, num_layers=1, hidden_dim=16,
                          num_heads=2, intermediate_dim=32)
    with pytest.raises(ValueError, match="embedding_dim=8"):
        initialize_student_embeddings(wide, stage1)


def test_vocabulary_mismatch_is_a_clear_error(parts):
    stage1, vocabulary, _ = parts
    with pytest.raises(ValueError, match="Stage I student vocabulary"):
        Distiller(stage1, _student(vocabulary.size + 1))


def test_every_loss_term_is_finite_and_weighted(parts):
    stage1, vocabulary, batch = parts
    distiller = Distiller(
        stage1, _student(vocabulary.size, output_attention_scores=True),
        mlm_weight=1.0, kd_weight=0.5, hidden_weight=2.0, attention_weight=0.25, temperature=2.0,
    )
    terms = {k: float(v) for k, v in distiller.compute_losses(batch).items()}
    for name in ("mlm_loss", "kd_loss", "hidden_loss", "attention_loss"):
        assert np.isfinite(terms[name]) and terms[name] > 0, name
    expected = terms["mlm_loss"] + 0.5 * terms["kd_loss"] + 2.0 * terms["hidden_loss"]
    expected += 0.25 * terms["attention_loss"]
    assert terms["loss"] == pytest.approx(expected, rel=1e-5)


def test_projection_directions(parts):
    stage1, vocabulary, batch = parts
    up = Distiller(stage1, _student(vocabulary.size))  # the default
    assert up.hidden_projection.kernel.shape == (16, stage1.backbone.hidden_dim)
    down = Distiller(stage1, _student(vocabulary.size), projection="down")
    assert down.hidden_projection.kernel.shape == (stage1.backbone.hidden_dim, 16)
    for distiller in (up, down):
        assert np.isfinite(float(distiller.compute_losses(batch)["hidden_loss"]))


def test_mlm_only_baseline_skips_the_teacher(parts):
    stage1, vocabulary, batch = parts
    distiller = Distiller(stage1, _student(vocabulary.size), kd_weight=0, hidden_weight=0)
    terms = distiller.compute_losses(batch)
    assert float(terms["kd_loss"]) == 0.0 and float(terms["loss"]) == float(terms["mlm_loss"])


def test_fit_lowers_the_distillation_loss_and_keeps_the_teacher_frozen(parts, tmp_path):
    stage1, vocabulary, batch = parts
    teacher_weights = [w.copy() for w in stage1.get_weights()]
    distiller = Distiller(stage1, _student(vocabulary.size))
    distiller.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = distiller.evaluate(batch, verbose=0, return_dict=True)
    distiller.fit(tf.data.Dataset.from_tensors(batch).repeat(30), verbose=0)
    after = distiller.evaluate(batch, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] * 0.8
    assert after["hidden_loss"] < before["hidden_loss"]
    for old, new in zip(teacher_weights, stage1.get_weights()):
        np.testing.assert_array_equal(old, new)
    # The student alone saves and reloads for fine-tuning.
    path = os.path.join(tmp_path, "student.keras")
    distiller.student.save(path)
    restored = keras.saving.load_model(path)
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    np.testing.assert_allclose(
        restored(inputs)["pooled_output"], distiller.student(inputs)["pooled_output"], atol=1e-6
    )


def test_deeper_student_distils_attention_from_transformer_layers_only(parts):
    # A 4-layer student of the 2-layer teacher: student layers 1..4 pair with
    # teacher layers 1, 1, 2, 2 (never the embeddings, never "layer -1").
    stage1, vocabulary, batch = parts
    student = StudentEncoder(
        vocabulary_size=vocabulary.size, num_layers=4, hidden_dim=16, num_heads=2,
        intermediate_dim=32, embedding_dim=8, max_sequence_length=64,
        output_attention_scores=True,
    )
    distiller = Distiller(stage1, student, attention_weight=1.0)
    assert distiller.layer_map == [(0, 0), (1, 1), (2, 1), (3, 2), (4, 2)]
    teacher_outputs = distiller.teacher_forward(batch)
    terms = distiller.compute_losses(batch, teacher_outputs=teacher_outputs)
    student_scores = distiller(batch)["attention_scores"].numpy()
    teacher_scores = teacher_outputs["attention_scores"].numpy()
    mask = batch["padding_mask"].numpy().astype("float32")

    def kl(p, q):  # [B, heads, L, L] -> mean over real query rows
        value = (p * (np.log(p + 1e-9) - np.log(q + 1e-9))).sum(-1)
        weights = np.broadcast_to(mask[:, None, :], value.shape)
        return (value * weights).sum() / weights.sum()

    expected = np.mean([kl(teacher_scores[:, t], student_scores[:, s])
                        for s, t in [(0, 0), (1, 0), (2, 1), (3, 1)]])
    assert float(terms["attention_loss"]) == pytest.approx(expected, rel=1e-4)
    # The hidden-state loss compares student layers with teacher layers, not the embeddings.
    teacher_index = [t for _, t in distiller.layer_map]
    assert teacher_index.count(0) == 1
