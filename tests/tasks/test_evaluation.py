"""Evaluation: length-bucketed prediction gives the full-length outputs, row for row."""

import keras
import numpy as np

from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import heads


def test_predict_sentences_matches_full_length_prediction():
    keras.utils.set_random_seed(0)
    student = StudentEncoder(vocabulary_size=60, num_layers=2, hidden_dim=16, num_heads=2,
                             intermediate_dim=32, max_sequence_length=32)
    model = heads.build_task_model(student, "classification", num_labels=4, pooling="ngram",
                                   ngram_bag_buckets=101)
    rng = np.random.RandomState(1)
    lengths = rng.randint(3, 33, size=40)  # every bucket of 8, the full width too
    mask = (np.arange(32)[None, :] < lengths[:, None]).astype(np.int32)
    features = {"token_ids": rng.randint(5, 60, (40, 32)).astype(np.int32) * mask,
                "segment_ids": np.zeros((40, 32), np.int32), "padding_mask": mask}
    full = evaluation.predict(model, features, batch_size=16)
    bucketed = evaluation.predict_sentences(model, features, batch_size=16)
    assert bucketed.shape == full.shape == (40, 4)
    np.testing.assert_allclose(bucketed, full, atol=1e-5)
    assert np.array_equal(bucketed.argmax(-1), full.argmax(-1))
