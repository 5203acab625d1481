"""Joint intent + slot task distillation on real SNIPS data with tiny models: per-word targets
across the two tokenisations, which rows carry gold labels, the teacher cache, an end-to-end
run whose written model scores as the in-memory one, and a wrong teacher named."""

import dataclasses
import os

import keras
import numpy as np
import pytest

from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import joint_distillation as jd
from mixvocab_tf.tasks import task_distillation as td
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.configs import DistillTrainingConfig
from mixvocab_tf.models.student_directory import read_vocabulary
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.task_model import base_task_config
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.vocab import learn_vocabulary


@pytest.fixture(scope="module")
def models(tmp_path_factory, data_dir, write_tiny_student):
    """An untrained tiny joint teacher (BERT's vocabulary, MediaPipe normalisation) and a tiny
    student with a 400-token vocabulary learned on SNIPS text."""
    root = tmp_path_factory.mktemp("joint_kd")
    task = task_registry.get_task("snips_joint")
    train = task.read(data_dir, "train")
    intents = sorted(set(train.labels))
    tags = ["O"] + sorted({t for row in train.tags for t in row} - {"O"})
    vocabulary = read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    keras.utils.set_random_seed(0)
    encoder = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=16,
                             num_heads=2, intermediate_dim=32, max_sequence_length=64)
    model = joint.build_joint_model(encoder, len(intents), len(tags))
    config = {**base_task_config(task, True, "mediapipe", 32),
              "outputs": [joint.INTENT_OUTPUT, joint.SLOT_OUTPUT], "slot_labels": tags,
              "tag_position": "first_subtoken", "pooling": "mean"}
    teacher = save_task_model(str(root / "teacher"), model, vocabulary, intents, config)
    intent_only = heads.build_task_model(encoder, task_registry.CLASSIFICATION, len(intents))
    classifier = save_task_model(str(root / "classifier"), intent_only, vocabulary, intents, {
        **base_task_config(task_registry.get_task("snips"), True, "mediapipe", 32),
        "pooling": "mean"})
    lines = train.texts[:1000]
    student = write_tiny_student(root / "student",
                                 learn_vocabulary(lines, vocab_size=400, lower_case=True))
    return {"teacher": teacher, "classifier": classifier, "student": student}


class _NoPredict:
    def predict(self, *args, **kwargs):
        raise AssertionError("the teacher ran although its labels were cached")


def test_targets_are_per_word_across_tokenisations(models, data_dir, tmp_path):
    examples = task_registry.get_task("snips_joint").read(data_dir, "valid").take(12)
    swapped = augmentation.swap_slot_values(examples, 1, seed=0)
    transfer = examples.concatenate(swapped, examples.take(4))
    origin = np.concatenate([np.full(12, td.LABELLED), np.full(12, jd.SWAPPED),
                             np.full(2, td.AUGMENTED), np.full(2, td.UNLABELLED)])
    teacher = load_task_model(models["teacher"])
    cache = str(tmp_path / "cache")
    intent, slots, mask, info = jd.joint_teacher_logits(models["teacher"], transfer, cache,
                                                        teacher=teacher)
    assert not info["cache_hit"] and os.path.isdir(info["cache_file"])
    # A rerun reads the cache and never calls the teacher.
    again = jd.joint_teacher_logits(models["teacher"], transfer, cache,
                                    teacher=dataclasses.replace(teacher, model=_NoPredict()))
    assert again[3]["cache_hit"]
    np.testing.assert_array_equal(again[1], slots)

    student_vocabulary = read_vocabulary(os.path.join(models["student"], "vocab.txt"))
    encoder = InputEncoder(student_vocabulary, True, 32, "mediapipe")
    intents, tags = teacher.labels, teacher.config["slot_labels"]
    x, y = jd.student_arrays(transfer, origin, intents, tags, intent, slots, mask, encoder)
    teacher_features = joint.encode(InputEncoder.for_task_model(teacher), transfer)
    direct = joint.predict(teacher.model, teacher_features)
    assert (x["word_starts"] != teacher_features["word_starts"]).any()
    np.testing.assert_allclose(y["intent_soft"][:, :-1], direct[joint.INTENT_OUTPUT], atol=1e-5)
    assert (y["intent_soft"][:, -1] == 1).all()
    # Gold labels hold for the originals and their slot-swapped variants only.
    np.testing.assert_array_equal(y["intent_hard"][:, 1], [1] * 24 + [0] * 4)
    tag_index = {t: i for i, t in enumerate(tags)}
    for row, text in enumerate(transfer.texts):
        words = len(text.split())
        if origin[row] in (td.LABELLED, jd.SWAPPED):
            assert intents[int(y["intent_hard"][row, 0])] == transfer.labels[row]
        for word in range(words):
            t_pos = teacher_features["word_starts"][row, word]
            np.testing.assert_allclose(y["slot_soft"][row, word, :-1],
                                       direct[joint.SLOT_OUTPUT][row, t_pos], atol=1e-5)
            seen = float(x["word_starts"][row, word] >= 0)
            assert y["slot_soft"][row, word, -1] == seen
            gold = origin[row] in (td.LABELLED, jd.SWAPPED)
            assert y["slot_hard"][row, word, 1] == seen * gold
            if gold:
                assert y["slot_hard"][row, word, 0] == tag_index[transfer.tags[row][word]]
        assert (y["slot_soft"][row, words:, -1] == 0).all()


def test_distill_joint_end_to_end(models, data_dir, tmp_path):
    transfer = tmp_path / "general.txt"
    transfer.write_text("play the new album by miles davis\n\nwill it snow in oslo\n",
                        encoding="utf-8")
    output = str(tmp_path / "student_joint")
    run = DistillTaskConfig(
        task="snips_joint", augment=1, slot_swap_augment=1, transfer_files=(str(transfer),),
        training=DistillTrainingConfig(train_steps=2, batch_size=16),
        data=DataSelectionConfig(max_train_examples=40, max_eval_examples=24))
    config = jd.distill_joint(run, models["student"], models["teacher"], data_dir, output,
                              cache_dir=str(tmp_path / "cache"), verbose=0)
    # Recorded with the joint defaults it resolved: 6 epochs, rate 1e-3, the teacher's L.
    assert config["run_config"]["training"] == dataclasses.asdict(dataclasses.replace(
        run.training, epochs=6, learning_rate=1e-3, sequence_length=32))
    report = config["distillation"]
    assert report["transfer_examples"] == {"labelled": 40, "slot_swapped": 40, "augmented": 40,
                                           "unlabelled": 2}
    assert report["teacher_cpu_seconds"] > 0 and report["student_cpu_seconds"] > 0
    assert config["normalization"] == "mediapipe" and config["outputs"] == [
        joint.INTENT_OUTPUT, joint.SLOT_OUTPUT]
    scores = config["eval"]["metrics"]
    assert 0.0 <= scores["accuracy"] <= 1.0 and 0.0 <= scores["slot_f1"] <= 1.0
    # The written student scores as the in-memory one did.
    scored = evaluation.evaluate_model_dir(output, data_dir=data_dir, split="valid",
                                           max_examples=24)
    for name in ("accuracy", "slot_f1"):
        assert scored["metrics"][name] == pytest.approx(scores[name])
    # Training moves the student towards its teacher: four epochs end at a lower loss, and the
    # rerun reads the teacher's labels from the cache. Called the old way (task name first,
    # settings as keywords): a DeprecationWarning, and the config the new call names.
    with pytest.warns(DeprecationWarning, match=r"distill_joint\(DistillTaskConfig"):
        longer = jd.distill_joint(
            "snips_joint", models["student"], models["teacher"], data_dir,
            str(tmp_path / "longer"), augment=1, slot_swap_augment=1,
            transfer_files=[str(transfer)], max_train_examples=40, epochs=4, learning_rate=3e-3,
            batch_size=16, max_eval_examples=24, cache_dir=str(tmp_path / "cache"), verbose=0)
    new_call = dataclasses.replace(run, training=DistillTrainingConfig(
        epochs=4, learning_rate=3e-3, batch_size=16, sequence_length=32))
    assert longer["run_config"] == dataclasses.asdict(new_call)
    assert longer["distillation"]["teacher_cache_hit"]
    assert longer["training"]["final_loss"] < 0.9 * config["training"]["final_loss"]  # 0.79


def test_a_teacher_of_another_task_type_is_named(models, data_dir, tmp_path):
    with pytest.raises(ValueError, match="needs a joint intent \\+ slot teacher.*--task=snips_joint"):
        jd.distill_joint(DistillTaskConfig(task="snips_joint"), models["student"],
                         models["classifier"], data_dir, str(tmp_path / "out"), verbose=0)
    with pytest.raises(ValueError, match="slot_swap_augment must be >= 0"):
        jd.distill_joint(DistillTaskConfig(task="snips_joint", slot_swap_augment=-1),
                         models["student"], models["teacher"], data_dir, str(tmp_path / "out"),
                         verbose=0)
    assert not os.path.exists(tmp_path / "out")
