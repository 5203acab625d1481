"""Fine-tuning on real data: the reduced teacher floor, a tiny student directory, KD."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks import task_model as task_model_lib
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.configs import SentenceHeadConfig
from mixvocab_tf.tasks.configs import TaskTrainingConfig
from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.models.student_directory import read_vocabulary
from mixvocab_tf.tasks.inputs import InputEncoder

# Reduced SNIPS intent floor: MiniLM, 1,000 training utterances, L = 32, 2 epochs
# (about a minute on 2 cores). The full issue floor (>= 97%) is in test_snips_full_floor.
SNIPS_REDUCED_FLOOR = 0.95


@pytest.fixture(scope="module")
def snips_teacher_dir(tmp_path_factory, data_dir, minilm_path):
    output = str(tmp_path_factory.mktemp("runs") / "snips_minilm")
    run = FinetuneConfig(
        task="snips",
        training=TaskTrainingConfig(epochs=2, batch_size=16, learning_rate=1e-4,
                                    sequence_length=32),
        data=DataSelectionConfig(max_train_examples=1000))
    config = finetuning.finetune(run, minilm_path, os.path.join(data_dir, "tasks"), output,
                                 verbose=0)
    return output, config, run


def test_minilm_snips_intent_reduced_floor(snips_teacher_dir, data_dir):
    output, config, run = snips_teacher_dir
    assert config["eval"]["metrics"]["accuracy"] >= SNIPS_REDUCED_FLOOR, config["eval"]
    assert sorted(os.listdir(output)) == ["labels.txt", "model.keras", "task_config.json",
                                          "vocab.txt"]
    with open(os.path.join(output, "task_config.json")) as f:
        written = json.load(f)
    assert written["labels"] == sorted(written["labels"]) and len(written["labels"]) == 7
    assert (written["type"], written["sequence_length"], written["lower_case"]) == (
        "classification", 32, True)
    assert written["pooling"] == "mean"  # "auto" for a teacher: its own mean pooling
    # The run's config is recorded whole, beside the keys the report reads.
    assert config["run_config"] == dataclasses.asdict(run)
    assert written["run_config"]["training"]["batch_size"] == 16
    assert written["run_config"]["head"]["pooling"] == "auto"
    # The saved model scores what the in-memory one scored.
    report = evaluation.evaluate_model_dir(output, data_dir=os.path.join(data_dir, "tasks"),
                                           split="valid")
    assert report["metrics"]["accuracy"] == pytest.approx(config["eval"]["metrics"]["accuracy"])


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, minilm_path, write_tiny_student):
    vocabulary = read_vocabulary(os.path.join(minilm_path, "vocab.txt"))
    return write_tiny_student(tmp_path_factory.mktemp("student") / "stage2", vocabulary,
                              sequence_length=64)


def test_load_encoder_reads_student_and_teacher(student_dir, minilm_path):
    backbone, vocabulary, lower_case = load_encoder(student_dir)
    assert isinstance(backbone, StudentEncoder) and len(vocabulary) == 30522 and lower_case
    teacher, teacher_vocabulary, _ = load_encoder(minilm_path)
    assert teacher.hidden_dim == 384 and teacher_vocabulary == vocabulary
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_encoder(student_dir + "_missing")


def test_task_distillation_pulls_the_student_to_the_teacher(
        snips_teacher_dir, student_dir, data_dir, tmp_path):
    """Soft labels only (kd_weight=1): the student learns from the teacher's outputs alone.

    Called the old way (task name first, settings as keywords): still works, with a
    DeprecationWarning, and runs the config the new call names."""
    teacher_dir = snips_teacher_dir[0]
    tasks = os.path.join(data_dir, "tasks")
    with pytest.warns(DeprecationWarning, match=r"finetune\(FinetuneConfig"):
        kd = finetuning.finetune(
            "snips", student_dir, tasks, str(tmp_path / "kd"), teacher_dir=teacher_dir,
            kd_weight=1.0, temperature=2.0, epochs=8, batch_size=32, learning_rate=3e-3,
            sequence_length=32, max_train_examples=1000, max_eval_examples=350, verbose=0)
    new_call = FinetuneConfig(
        task="snips", kd_weight=1.0, temperature=2.0,
        training=TaskTrainingConfig(epochs=8, batch_size=32, learning_rate=3e-3,
                                    sequence_length=32),
        data=DataSelectionConfig(max_train_examples=1000, max_eval_examples=350))
    assert kd["run_config"] == dataclasses.asdict(new_call)
    assert kd["training"]["kd_weight"] == 1.0
    assert kd["pooling"] == "ngram"  # "auto" for a student
    # Far above chance (1/7) although the student never saw a gold label (measured: 94%).
    assert kd["eval"]["metrics"]["accuracy"] > 0.8, kd["eval"]


def test_unknown_pooling_fails_before_any_work(tmp_path, data_dir):
    with pytest.raises(ValueError, match="unknown pooling 'max'.*'cls', 'mean'"):
        finetuning.finetune(FinetuneConfig(task="sst2", head=SentenceHeadConfig(pooling="max")),
                            str(tmp_path / "no_model"), os.path.join(data_dir, "tasks"),
                            str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_data("tasks/banking77")
def test_ten_shot_banking77_subset(data_dir):
    from mixvocab_tf.tasks import task_registry

    train = task_registry.get_task("banking77").read(os.path.join(data_dir, "tasks"), "train")
    shots = finetuning.select_per_class(train, 10, seed=0)
    counts = {label: shots.labels.count(label) for label in set(shots.labels)}
    assert len(counts) == 77 and set(counts.values()) == {10} and len(shots) == 770
    again = finetuning.select_per_class(train, 10, seed=0)
    other = finetuning.select_per_class(train, 10, seed=1)
    assert again.texts == shots.texts and other.texts != shots.texts
    with pytest.raises(ValueError, match="examples_per_class must be >= 1"):
        finetuning.select_per_class(train, 0)


def test_atomic_write_replaces_a_directory(tmp_path, student_dir):
    target = tmp_path / "task"
    backbone, vocabulary, _ = load_encoder(student_dir)
    from mixvocab_tf.tasks import heads

    model = heads.build_task_model(backbone, "classification", num_labels=2)
    for labels in (["a", "b"], ["x", "y"]):
        task_model_lib.save_task_model(str(target), model, vocabulary, labels,
                                       {"task": "sst2", "type": "classification",
                                        "lower_case": True, "sequence_length": 16})
    assert task_model_lib.load_task_model(str(target)).labels == ["x", "y"]
    assert [p.name for p in tmp_path.iterdir()] == ["task"]  # no staging or backup left


def test_fitted_task_model_is_saved_without_optimizer_state(tmp_path, student_dir):
    from mixvocab_tf.tasks import heads

    backbone, vocabulary, _ = load_encoder(student_dir)
    model = heads.build_task_model(backbone, "classification", num_labels=2)
    ids = np.array([[101, 2054, 102, 0]], np.int32)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids > 0) * 1}
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, np.array([1]), epochs=1, verbose=0)
    config = {"task": "sst2", "type": "classification", "lower_case": True, "sequence_length": 4}
    task_model_lib.save_task_model(str(tmp_path / "fitted"), model, vocabulary, ["0", "1"], config)
    weights_only = keras.Model(model.inputs, model.outputs)
    weights_only.save(str(tmp_path / "plain.keras"))
    size = os.path.getsize(tmp_path / "fitted" / "model.keras")
    assert size <= 1.05 * os.path.getsize(tmp_path / "plain.keras")  # no Adam slots (3x)
    loaded = task_model_lib.load_task_model(str(tmp_path / "fitted"))
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def _rows_by_tokens(features):
    rows = {}
    for i, (ids, mask) in enumerate(zip(features["token_ids"], features["padding_mask"])):
        rows.setdefault(tuple(ids[:mask.sum()]), []).append(i)
    return rows


@pytest.mark.parametrize("task_name", [
    pytest.param("sst2", marks=pytest.mark.needs_data("tasks/sst2")), "snips_slots"])
def test_length_buckets_cut_only_padding(data_dir, minilm_path, task_name):
    """Bucketed batches: one shape per 8 tokens, no real token or tag target dropped."""
    from mixvocab_tf.tasks import task_registry

    task = task_registry.get_task(task_name)
    examples = finetuning.select_examples(task.read(os.path.join(data_dir, "tasks"), "train"),
                                          400, seed=0)
    labels = finetuning._label_list(task, examples)
    encoder = InputEncoder(read_vocabulary(os.path.join(minilm_path, "vocab.txt")), True, 64)
    features, x, y, weights = finetuning._training_arrays(task, examples, labels, encoder)
    tagging_task = task.type == "tagging"
    rows = _rows_by_tokens(features)
    dataset = finetuning._dataset(x, y, weights, 16, 0, bucket_length=64,
                                  sequence_targets=tagging_task)
    widths = set()
    for batch in dataset.take(60):
        bx, by = batch[0], batch[1].numpy()
        mask = bx["padding_mask"].numpy()
        width = mask.shape[1]
        widths.add(width)
        lengths = mask.sum(1)
        # Cut to the longest example rounded up to 8, and batches hold similar lengths.
        assert width % 8 == 0 and width - 8 < lengths.max() <= width
        assert lengths.min() > width - 8
        for r, (ids, n) in enumerate(zip(bx["token_ids"].numpy(), lengths)):
            candidates = rows[tuple(ids[:n])]
            if tagging_task:
                assert by.shape[1] == width and batch[2].shape[1] == width
                assert any((y[c, :width] == by[r]).all() and weights[c, width:].sum() == 0
                           for c in candidates)
            else:
                assert by[r] in {y[c] for c in candidates}
    assert len(widths) >= 3 and max(widths) <= 64


def test_bucketed_tagging_finetunes_the_tiny_student(student_dir, data_dir, tmp_path):
    data = DataSelectionConfig(max_train_examples=300, max_eval_examples=100)
    config = finetuning.finetune(
        FinetuneConfig(task="snips_slots", slot_swap_augment=1, data=data,
                       training=TaskTrainingConfig(epochs=1, batch_size=32, learning_rate=1e-3,
                                                   sequence_length=32)),
        student_dir, os.path.join(data_dir, "tasks"), str(tmp_path / "slots"), verbose=0)
    assert config["training"]["bucket_by_length"] is True
    assert (config["training"]["examples"], config["training"]["training_examples"]) == (300, 600)
    assert np.isfinite(config["training"]["final_loss"])
    # It learns: four epochs end at a lower loss and find slots (the all-O tagger scores 0).
    longer = finetuning.finetune(
        FinetuneConfig(task="snips_slots", slot_swap_augment=1, data=data,
                       training=TaskTrainingConfig(epochs=4, batch_size=32, learning_rate=3e-3,
                                                   sequence_length=32)),
        student_dir, os.path.join(data_dir, "tasks"), str(tmp_path / "longer"), verbose=0)
    assert longer["training"]["final_loss"] < 0.8 * config["training"]["final_loss"]
    assert longer["eval"]["metrics"]["slot_f1"] > 0.2  # measured 0.40 (loss 3.95 -> 1.59)


def test_mediapipe_normalization_trains_and_scores_as_the_device(student_dir, data_dir, tmp_path):
    tasks = os.path.join(data_dir, "tasks")
    config = finetuning.finetune(
        FinetuneConfig(task="snips", normalization="mediapipe",
                       training=TaskTrainingConfig(epochs=1, batch_size=32, learning_rate=1e-3,
                                                   sequence_length=32),
                       data=DataSelectionConfig(max_train_examples=200, max_eval_examples=100)),
        student_dir, tasks, str(tmp_path / "mp"), verbose=0)
    assert config["normalization"] == "mediapipe"
    task_model = task_model_lib.load_task_model(str(tmp_path / "mp"))
    encoder = InputEncoder.for_task_model(task_model)
    bert = InputEncoder(task_model.vocabulary, True, 32)
    # MediaPipe keeps the accent (the word is unknown); BERT strips it.
    device, original = (e.encode_texts(["play amélie"])["token_ids"][0] for e in (encoder, bert))
    unk = task_model.vocabulary.index("[UNK]")
    assert unk in device and unk not in original
    # The saved model is scored with the normalisation it was trained with.
    report = evaluation.evaluate_model_dir(str(tmp_path / "mp"), data_dir=tasks, split="valid",
                                           max_examples=100)
    assert report["metrics"]["accuracy"] == pytest.approx(config["eval"]["metrics"]["accuracy"])
    with pytest.raises(ValueError, match="classification"):
        finetuning.finetune(FinetuneConfig(task="snips_slots", normalization="mediapipe"),
                            student_dir, tasks, str(tmp_path / "slots"), verbose=0)
    with pytest.raises(ValueError, match="slot_swap_augment needs slot tags.*Fix"):
        finetuning.finetune(FinetuneConfig(task="snips", slot_swap_augment=1), student_dir,
                            tasks, str(tmp_path / "swap"), verbose=0)


def test_frozen_encoder_trains_the_head_alone(student_dir, data_dir, tmp_path):
    tasks = os.path.join(data_dir, "tasks")
    encoder_before = [w.copy() for w in load_encoder(student_dir)[0].get_weights()]

    def run(name, freeze):
        config = finetuning.finetune(
            FinetuneConfig(task="snips", freeze_encoder=freeze,
                           training=TaskTrainingConfig(epochs=1, batch_size=32,
                                                       learning_rate=3e-3, sequence_length=32),
                           data=DataSelectionConfig(max_train_examples=200,
                                                    max_eval_examples=100)),
            student_dir, tasks, str(tmp_path / name), verbose=0)
        model = task_model_lib.load_task_model(str(tmp_path / name)).model
        encoder = next(layer for layer in model.layers if isinstance(layer, StudentEncoder))
        return config, encoder.get_weights(), model

    probe, probe_encoder, probe_model = run("probe", True)
    assert probe["training"]["freeze_encoder"] is True
    for before, after in zip(encoder_before, probe_encoder, strict=True):
        np.testing.assert_array_equal(before, after)
    head = probe_model.get_layer(index=-1).get_weights()[0]
    assert np.abs(head).sum() > 0 and np.isfinite(probe["training"]["final_loss"])
    # Without the flag the same run moves the encoder.
    _, tuned_encoder, _ = run("tuned", False)
    assert any(not np.array_equal(b, a) for b, a in zip(encoder_before, tuned_encoder))
    with pytest.raises(ValueError, match="freeze_encoder.*snips_slots.*Fix"):
        finetuning.finetune(FinetuneConfig(task="snips_slots", freeze_encoder=True),
                            student_dir, tasks, str(tmp_path / "slots"), verbose=0)


@pytest.mark.slow
def test_snips_full_floor(data_dir, minilm_path, tmp_path):
    config = finetuning.finetune(
        FinetuneConfig(task="snips",
                       training=TaskTrainingConfig(epochs=2, batch_size=16, learning_rate=1e-4,
                                                   sequence_length=32),
                       data=DataSelectionConfig(max_train_examples=4000)),
        minilm_path, os.path.join(data_dir, "tasks"), str(tmp_path / "snips"), verbose=0)
    assert config["eval"]["metrics"]["accuracy"] >= 0.97


@pytest.mark.slow
def test_snips_slots_full_floor(data_dir, minilm_path, tmp_path):
    config = finetuning.finetune(
        FinetuneConfig(task="snips_slots",
                       training=TaskTrainingConfig(epochs=1, batch_size=16, learning_rate=2e-4,
                                                   sequence_length=32)),
        minilm_path, os.path.join(data_dir, "tasks"), str(tmp_path / "slots"), verbose=0)
    # Measured: 92.4% (all 13,084 utterances, 1 epoch, ~6 min on 2 cores).
    assert config["eval"]["metrics"]["slot_f1"] >= 0.90


@pytest.mark.slow
@pytest.mark.needs_data("tasks/sst2")
def test_sst2_full_floor(data_dir, minilm_path, tmp_path):
    # All 67,349 training phrases for 2 epochs, batches bucketed by length (most phrases are
    # a few words, so a batch is cut far below L = 64), masked mean pooling (how
    # all-MiniLM-L6-v2 was trained). Measured: 89.68% (1,252 s user CPU, 20.5 min wall on
    # 2 shared cores; 88.07% after 1 epoch, 633 s);
    # earlier recipes with every batch padded to L stayed below: 87.6% (16K longest phrases,
    # 1 epoch, lr 8e-5), 86.9% ([CLS] pooling, same).
    config = finetuning.finetune(
        FinetuneConfig(task="sst2", head=SentenceHeadConfig(pooling="mean"),
                       training=TaskTrainingConfig(epochs=2, batch_size=32, learning_rate=1e-4,
                                                   sequence_length=64, bucket_by_length=True)),
        minilm_path, os.path.join(data_dir, "tasks"), str(tmp_path / "sst2"), verbose=0)
    print(config["eval"]["metrics"], config["training"]["seconds"])
    assert config["eval"]["metrics"]["accuracy"] >= 0.88


def test_tagging_losses_average_over_labelled_tokens():
    from mixvocab_tf.tasks import task_registry

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (4, 16))
    logits = rng.normal(size=(4, 16, 5)).astype("float32")
    weights = np.zeros((4, 16), "float32")
    weights[:, :6] = 1.0  # 6 labelled tokens a row, the rest padding or later pieces
    soft = rng.dirichlet(np.ones(5), (4, 16)).astype("float32")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected_hard = -(np.take_along_axis(log_probs, labels[..., None], -1)[..., 0] * weights).sum()
    expected_hard /= weights.sum()
    hard, soft_loss = finetuning.task_losses(task_registry.TAGGING, temperature=1.0)
    assert float(hard(labels, logits, weights)) == pytest.approx(expected_hard, rel=1e-5)
    # Padding the batch to twice the width changes nothing.
    pad = lambda a: np.concatenate([a, np.zeros_like(a)], axis=1)
    assert float(hard(pad(labels), pad(logits), pad(weights))) == pytest.approx(
        expected_hard, rel=1e-5)
    assert float(soft_loss(soft, logits, weights)) == pytest.approx(
        float(soft_loss(pad(soft), pad(logits), pad(weights))), rel=1e-5)
    # Classification keeps the plain batch mean.
    hard, _ = finetuning.task_losses(task_registry.CLASSIFICATION)
    assert float(hard(labels[:, 0], logits[:, 0])) == pytest.approx(
        -np.take_along_axis(log_probs[:, 0], labels[:, :1], -1).mean(), rel=1e-5)
