"""Stage I model: joint-space embedding, the two MLM softmaxes, training, saving."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
from mixvocab_tf.models.mixed_vocab_teacher import masked_lm_losses
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.preprocessing import MixedVocabPreprocessor


@pytest.fixture(scope="module")
def tiny(tiny_stage_inputs):
    teacher = load_teacher(tiny_stage_inputs["teacher_dir"])
    lines = open(tiny_stage_inputs["train_file"], encoding="utf-8").read().split("\n")[:16]

    def batch(p_sv, masking_rate=0.15, seed=1):
        layer = MixedVocabPreprocessor(
            teacher.vocabulary,
            tiny_stage_inputs["student_vocab"],
            sequence_length=32,
            p_sv=p_sv,
            masking_rate=masking_rate,
            max_predictions=6,
            seed=seed,
        )
        return layer, layer(tf.constant(lines))

    return teacher, batch


def _model(teacher, student_size, **kwargs):
    keras.utils.set_random_seed(3)
    return MixedVocabTeacher(
        teacher.backbone,
        student_vocabulary_size=student_size,
        student_embedding_dim=8,
        masked_lm_head=teacher.masked_lm_head,
        **kwargs,
    )


def test_teacher_ids_read_exactly_like_the_plain_teacher(tiny):
    teacher, batch = tiny
    layer, inputs = batch(p_sv=0.0, masking_rate=None)
    model = _model(teacher, layer.student_vocabulary.size)
    plain = teacher.backbone(
        {k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    )["sequence_output"]
    mixed = model(inputs)["sequence_output"]
    np.testing.assert_allclose(mixed, plain, atol=1e-6)


def test_teacher_positions_use_the_pretrained_head(tiny):
    teacher, batch = tiny
    layer, inputs = batch(p_sv=0.0)
    model = _model(teacher, layer.student_vocabulary.size)
    expected = teacher.masked_lm_logits(
        {k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")},
        inputs["mask_positions"],
    )
    np.testing.assert_allclose(model(inputs)["teacher_logits"], expected, atol=1e-4)


def test_student_ids_are_embedded_as_projected_student_rows(tiny):
    teacher, batch = tiny
    layer, inputs = batch(p_sv=1.0, masking_rate=None)
    model = _model(teacher, layer.student_vocabulary.size)
    ids = inputs["token_ids"].numpy()
    student = inputs["student_token_mask"].numpy()
    assert student[inputs["padding_mask"].numpy()].all()
    v_t = len(teacher.vocabulary)
    e_s = model.student_embedding.embeddings.numpy()
    p = model.student_projection.kernel.numpy()
    tokens = np.where(student[..., None], e_s[np.where(student, ids - v_t, 0)] @ p, 0.0)
    backbone = teacher.backbone
    expected = backbone.embeddings_layer_norm(
        tokens
        + backbone.position_embedding.position_embeddings.numpy()[None, : ids.shape[1]]
        + backbone.segment_embedding.embeddings.numpy()[inputs["segment_ids"].numpy()]
    )
    actual = model.embed(inputs["token_ids"], inputs["segment_ids"])
    real = inputs["padding_mask"].numpy()
    np.testing.assert_allclose(np.asarray(actual)[real], np.asarray(expected)[real], atol=1e-5)


def test_losses_route_each_label_to_its_vocabulary():
    v_t = 5
    mask_ids = np.array([[1, 6, 0]])  # teacher 1, student 1 (6 - 5), padding
    weights = np.array([[1.0, 1.0, 0.0]])
    teacher_logits = np.log(np.array([[[0.1, 0.6, 0.1, 0.1, 0.1]] * 3]))
    student_logits = np.log(np.array([[[0.2, 0.3, 0.5]] * 3]))
    parts = masked_lm_losses(v_t, mask_ids, weights, teacher_logits, student_logits)
    np.testing.assert_allclose(parts["loss"][0, :2], [-np.log(0.6), -np.log(0.3)], rtol=1e-5)
    np.testing.assert_array_equal(parts["correct"][0, :2], [1.0, 0.0])
    np.testing.assert_array_equal(parts["teacher_weight"], [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(parts["student_weight"], [[0.0, 1.0, 0.0]])


def test_fit_learns_the_student_vocabulary(tiny):
    teacher, batch = tiny
    layer, inputs = batch(p_sv=0.5)
    model = _model(teacher, layer.student_vocabulary.size)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(inputs, verbose=0, return_dict=True)
    data = tf.data.Dataset.from_tensors(inputs).repeat(40)
    model.fit(data, epochs=1, verbose=0)
    after = model.evaluate(inputs, verbose=0, return_dict=True)
    assert after["student_mlm_loss"] < before["student_mlm_loss"] - 1.0
    assert after["student_mlm_accuracy"] > before["student_mlm_accuracy"]
    # The pooler is not on the MLM path and stays frozen.
    assert not teacher.backbone.pooled_dense.trainable


def test_keras_save_round_trip(tiny, tmp_path):
    teacher, batch = tiny
    layer, inputs = batch(p_sv=0.5)
    model = _model(teacher, layer.student_vocabulary.size)
    expected = model(inputs)
    path = os.path.join(tmp_path, "teacher.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.mlm_layer_norm_epsilon == model.mlm_layer_norm_epsilon
    actual = restored(inputs)
    for key in ("sequence_output", "teacher_logits", "student_logits"):
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-6)


def test_student_table_starts_from_the_teachers_embeddings(tiny, tiny_stage_inputs):
    teacher, _ = tiny
    from mixvocab_tf.vocab import Vocabulary

    student = Vocabulary.load(tiny_stage_inputs["student_vocab"]).tokens
    model = MixedVocabTeacher(teacher.backbone, len(student), student_embedding_dim=16)
    covered = model.initialize_student_table(teacher.vocabulary, student)
    assert covered > 0.95  # nearly every piece is spelled by BERT's vocabulary
    projected = np.asarray(model.projected_student_embeddings())
    table = teacher.backbone.token_embedding.embeddings.numpy()
    index = {t: i for i, t in enumerate(teacher.vocabulary)}
    # Full rank (d = D): tokens the teacher has get exactly its embedding.
    shared = [(j, index[t]) for j, t in enumerate(student) if t in index]
    np.testing.assert_allclose(
        projected[[j for j, _ in shared]], table[[i for _, i in shared]], atol=1e-4
    )
    # A student-only token gets the mean of the teacher pieces that spell it.
    from mixvocab_tf.models.mixed_vocab_teacher import _teacher_pieces

    spelled = [(j, _teacher_pieces(t, index)) for j, t in enumerate(student) if t not in index]
    spelled = [(j, rows) for j, rows in spelled if rows]
    assert spelled
    for j, rows in spelled[:5]:
        np.testing.assert_allclose(projected[j], table[rows].mean(0), atol=1e-4)


def test_student_table_wider_than_the_teacher(tiny, tiny_stage_inputs):
    teacher, _ = tiny
    from mixvocab_tf.vocab import Vocabulary

    student = Vocabulary.load(tiny_stage_inputs["student_vocab"]).tokens
    narrow = MixedVocabTeacher(teacher.backbone, len(student), student_embedding_dim=16)
    wide = MixedVocabTeacher(teacher.backbone, len(student), student_embedding_dim=24)
    narrow.initialize_student_table(teacher.vocabulary, student)
    wide.initialize_student_table(teacher.vocabulary, student)  # d=24 > D=16
    np.testing.assert_allclose(
        wide.projected_student_embeddings(), narrow.projected_student_embeddings(), atol=1e-5
    )
    assert np.abs(wide.student_embedding.embeddings.numpy()[:, 16:]).max() > 0
