"""Evaluation: length-bucketed prediction gives the full-length outputs, row for row."""

import keras
import numpy as np
import pytest

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


def _tiny_classifier(directory, data_dir, task_name, oos_threshold=None):
    """An untrained 1-layer classifier of `task_name`'s labels (BERT's vocabulary), saved."""
    import os

    from mixvocab_tf.tasks import task_registry
    from mixvocab_tf.models.student_directory import read_vocabulary
    from mixvocab_tf.tasks.task_model import save_task_model

    vocabulary = read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    task = task_registry.get_task(task_name)
    labels = sorted(set(task.read(data_dir, "train").labels))
    keras.utils.set_random_seed(0)
    encoder = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=16,
                             num_heads=2, intermediate_dim=32, max_sequence_length=32)
    model = heads.build_task_model(encoder, "classification", num_labels=len(labels),
                                   pooling="mean")
    return save_task_model(str(directory), model, vocabulary, labels, {
        "task": task_name, "type": "classification", "lower_case": True,
        "normalization": "bert", "sequence_length": 32, "metrics": list(task.metrics),
        "pooling": "mean", "oos_threshold": oos_threshold})


def test_unknown_label_policies_count_skip_or_refuse(data_dir, tmp_path):
    import os
    import shutil

    import pytest

    from mixvocab_tf.tasks import readers

    model = _tiny_classifier(tmp_path / "model", data_dir, "snips")
    folder = tmp_path / "valid"
    shutil.copytree(os.path.join(data_dir, "tasks", "snips", "valid"), folder)
    labels = (folder / "label").read_text(encoding="utf-8").split("\n")
    labels[:3] = ["NotAnIntent"] * 3
    (folder / "label").write_text("\n".join(labels), encoding="utf-8")
    wrong = evaluation.evaluate_model_dir(model, eval_file=str(folder))
    skip = evaluation.evaluate_model_dir(model, eval_file=str(folder), unknown_labels="skip")
    assert wrong["unknown_labels"] == skip["unknown_labels"] == {"NotAnIntent": 3}
    assert (wrong["examples"], skip["examples"]) == (700, 697)
    # The same 697 predictions: "wrong" counts the 3 as errors, "skip" leaves them out.
    assert wrong["metrics"]["accuracy"] * 700 == pytest.approx(skip["metrics"]["accuracy"] * 697)
    with pytest.raises(readers.TaskDataError, match="example 1 has label 'NotAnIntent'.*Fix:"):
        evaluation.evaluate_model_dir(model, eval_file=str(folder), unknown_labels="error")


@pytest.mark.needs_data("tasks/clinc150")
def test_oos_file_is_scored_against_the_threshold(data_dir, tmp_path):
    import os

    tasks = os.path.join(data_dir, "tasks", "clinc150")
    args = dict(eval_file=os.path.join(tasks, "valid"), oos_file=os.path.join(tasks, "oos_valid"),
                max_examples=100)
    # Every top probability is below 1.01: every out-of-scope utterance is caught (and
    # every in-scope one refused); a threshold of 0 catches none.
    always = evaluation.evaluate_model_dir(
        _tiny_classifier(tmp_path / "always", data_dir, "clinc150", 1.01), **args)
    never = evaluation.evaluate_model_dir(
        _tiny_classifier(tmp_path / "never", data_dir, "clinc150", 0.0), **args)
    assert always["metrics"]["oos_recall"] == 1.0 and always["metrics"]["accuracy"] == 0.0
    assert never["metrics"]["oos_recall"] == 0.0
    assert never["metrics"]["accuracy"] == never["metrics"]["accuracy_without_oos_threshold"]
