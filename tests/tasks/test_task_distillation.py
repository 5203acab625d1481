"""Task distillation on real SNIPS data with tiny models: losses, the teacher cache, word-level
tagging targets, the transfer set and its few-shot rule, and scoring an unregistered split."""

import dataclasses
import gzip
import json
import os
import shutil

import keras
import numpy as np
import pytest

from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import task_distillation as td
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.configs import DistillTrainingConfig
from mixvocab_tf.models.student_directory import read_vocabulary
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.inputs import model_inputs
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.tasks.transfer_text import TransferTextConfig
from mixvocab_tf.tasks.transfer_text import read_transfer_texts
from mixvocab_tf.vocab import learn_vocabulary


@pytest.fixture(scope="module")
def models(tmp_path_factory, data_dir, write_tiny_student):
    """Untrained tiny teacher task models (BERT's vocabulary) for SNIPS intents and slots and
    MRPC, and a tiny student with a 400-token vocabulary learned on SNIPS text."""
    root = tmp_path_factory.mktemp("task_kd")
    vocabulary = read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    out = {"root": root}
    for name in ("snips", "snips_slots", "mrpc"):
        task = task_registry.get_task(name)
        if not os.path.exists(task.split_path(data_dir, "train")):
            continue  # a clone's data has SNIPS only: the MRPC tests skip (needs_data)
        train = task.read(data_dir, "train")
        labels = (["O"] + sorted({t for tags in train.tags for t in tags} - {"O"})
                  if task.type == task_registry.TAGGING else sorted(set(train.labels)))
        keras.utils.set_random_seed(0)
        encoder = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=16,
                                 num_heads=2, intermediate_dim=32, max_sequence_length=64)
        model = heads.build_task_model(encoder, task.type, num_labels=len(labels))
        out[name] = save_task_model(str(root / f"teacher_{name}"), model, vocabulary, labels, {
            "task": name, "type": task.type, "lower_case": True, "normalization": "bert",
            "sequence_length": 32, "metrics": list(task.metrics),
            "pooling": "mean" if task.type != task_registry.TAGGING else None})
    lines = task_registry.get_task("snips").read(data_dir, "train").texts[:1000]
    out["student"] = write_tiny_student(root / "student",
                                        learn_vocabulary(lines, vocab_size=400, lower_case=True))
    return out


@pytest.mark.parametrize("settings, message", [
    ({"augment": -1}, "augment must be >= 0"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"kd_weight": 0.0, "hard_weight": 0.0}, "not both 0"),
    ({"hard_weight": -1.0}, "must be >= 0"),
    ({"temperature": -2.0}, "temperature must be > 0"),
    ({"feature_weight": -1.0}, "feature_weight must be >= 0"),
])
def test_out_of_range_settings_are_named(settings, message):
    td.check_settings()  # the defaults pass
    with pytest.raises(ValueError, match=message):
        td.check_settings(**settings)


class _NoPredict:
    def predict(self, *args, **kwargs):
        raise AssertionError("the teacher ran although its labels were cached")


class _KilledAfter:
    """A model that predicts `rows` rows, then stops the run as a kill would."""

    def __init__(self, model, rows):
        self.model, self.rows = model, rows

    def predict(self, inputs, *args, **kwargs):
        if self.rows <= 0:
            raise KeyboardInterrupt
        self.rows -= len(inputs["token_ids"])
        return self.model.predict(inputs, *args, **kwargs)


def test_teacher_labels_are_cached_and_reused(models, data_dir, tmp_path):
    examples = task_registry.get_task("snips").read(data_dir, "valid").take(40)
    cache = str(tmp_path / "cache")
    teacher = load_task_model(models["snips"])
    logits, mask, info = td.teacher_logits(models["snips"], "classification", examples, cache,
                                           teacher=teacher)
    assert not info["cache_hit"] and info["cpu_seconds"] > 0 and os.path.isdir(info["cache_file"])
    assert (info["shards"], info["shards_cached"], info["examples_labelled"]) == (1, 0, 40)
    assert logits.shape == (40, 7) and mask.all()
    direct = teacher.model.predict(model_inputs(InputEncoder.for_task_model(teacher).encode_texts(
        examples.texts)), verbose=0)
    np.testing.assert_allclose(logits, direct, atol=1e-5)
    # Second call: same numbers from disk, the teacher is never called.
    stub = dataclasses.replace(teacher, model=_NoPredict())
    again, _, info2 = td.teacher_logits(models["snips"], "classification", examples, cache,
                                        teacher=stub)
    assert info2["cache_hit"] and info2["cache_file"] == info["cache_file"]
    np.testing.assert_array_equal(again, logits)
    # Other texts are another shard of the same teacher's folder.
    _, _, info3 = td.teacher_logits(models["snips"], "classification", examples.take(39), cache,
                                    teacher=teacher)
    assert not info3["cache_hit"] and info3["cache_file"] == info["cache_file"]
    assert len(os.listdir(info["cache_file"])) == 2
    # Shards of 16: a pass killed after its first shard resumes from it.
    fresh = str(tmp_path / "fresh")
    with pytest.raises(KeyboardInterrupt):
        td.teacher_logits(models["snips"], "classification", examples, fresh, shard_size=16,
                          teacher=dataclasses.replace(teacher, model=_KilledAfter(teacher.model, 16)))
    resumed, _, info4 = td.teacher_logits(models["snips"], "classification", examples, fresh,
                                          shard_size=16, teacher=teacher)
    assert (info4["shards"], info4["shards_cached"], info4["examples_labelled"]) == (3, 1, 24)
    np.testing.assert_allclose(resumed, logits, atol=1e-5)


def test_tagging_targets_are_per_word_across_tokenisations(models, data_dir):
    examples = task_registry.get_task("snips_slots").read(data_dir, "valid").take(30)
    teacher = load_task_model(models["snips_slots"])
    logits, mask, _ = td.teacher_logits(models["snips_slots"], "tagging", examples, None,
                                        teacher=teacher)
    student_vocabulary = read_vocabulary(os.path.join(models["student"], "vocab.txt"))
    encoder = InputEncoder(student_vocabulary, True, 32)
    origin = np.full(len(examples), td.LABELLED)
    x, y = td._student_arrays("tagging", examples, origin, teacher.labels, logits, mask, encoder,
                              False)
    teacher_features = InputEncoder.for_task_model(teacher).encode_words(
        [t.split() for t in examples.texts])
    token_logits = teacher.model.predict(model_inputs(teacher_features), verbose=0)
    # The two vocabularies split words differently, so first pieces sit at other positions ...
    assert (x["word_starts"] != teacher_features["word_starts"]).any()
    # ... but the student's target for word j is the teacher's logits at ITS first piece of j.
    index = {t: i for i, t in enumerate(teacher.labels)}
    for row, text in enumerate(examples.texts):
        for word in range(len(text.split())):
            t_pos = teacher_features["word_starts"][row, word]
            np.testing.assert_allclose(y["soft"][row, word, :-1], token_logits[row, t_pos],
                                       atol=1e-5)
            # Words past the student's L (its pieces are shorter) carry no weight.
            seen = float(x["word_starts"][row, word] >= 0)
            assert y["soft"][row, word, -1] == seen and y["hard"][row, word, 1] == seen
            assert y["hard"][row, word, 0] == index[examples.tags[row][word]]
        assert (y["soft"][row, len(text.split()):, -1] == 0).all()  # no padding words


def _write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("name", [pytest.param("mrpc", marks=pytest.mark.needs_data("tasks/mrpc")),
                                  "snips_slots"])
def test_distill_task_end_to_end(models, data_dir, tmp_path, name):
    lines = ["play the new album by miles davis", "", "will it snow in oslo tomorrow",
             "book a table for two at an italian restaurant"]
    if name == "mrpc":  # sentence pairs: first<TAB>second
        lines = [f"{line}\t{line} please" if line else line for line in lines]
    transfer = _write_gz(tmp_path / "general.txt.gz", lines)
    # One padded shape (no length buckets): one trace of the train step.
    run = DistillTaskConfig(
        task=name, augment=1, replace_rate=0.4, transfer_files=(transfer,),
        training=DistillTrainingConfig(train_steps=2, batch_size=16, bucket_by_length=False),
        data=DataSelectionConfig(max_train_examples=48, max_eval_examples=24))
    cache = str(tmp_path / "cache")
    output = str(tmp_path / "student_task")
    config = td.distill_task(run, models["student"], models[name], data_dir, output,
                             cache_dir=cache, verbose=0)
    # Recorded with the defaults it resolved: 2 epochs, rate 1e-4, the teacher's L.
    assert config["run_config"] == dataclasses.asdict(dataclasses.replace(
        run, training=dataclasses.replace(run.training, epochs=2, learning_rate=1e-4,
                                          sequence_length=32)))
    report = config["distillation"]
    assert report["transfer_examples"] == {"labelled": 48, "augmented": 48, "unlabelled": 3}
    assert report["teacher_cpu_seconds"] > 0 and report["student_cpu_seconds"] > 0
    assert not report["teacher_cache_hit"]
    metric = task_registry.get_task(name).metrics[0]
    assert 0.0 <= config["eval"]["metrics"][metric] <= 1.0
    assert os.path.isdir(report["teacher_cache_file"])  # the rerun's hit: see the cache test
    assert report["teacher_shards"] == [0, 1]
    if name == "snips_slots":
        # The written student scores as the in-memory one did.
        scored = evaluation.evaluate_model_dir(output, data_dir=data_dir, split="valid",
                                               max_examples=24)
        assert scored["metrics"][metric] == pytest.approx(config["eval"]["metrics"][metric])
        return
    # More steps bring the student closer to its teacher (KL on the labelled pairs), and the
    # rerun reads the teacher's labels from the cache. Called the old way (task name first,
    # settings as keywords): a DeprecationWarning, and the config the new call names.
    longer = str(tmp_path / "longer")
    with pytest.warns(DeprecationWarning, match=r"distill_task\(DistillTaskConfig"):
        again = td.distill_task(
            name, models["student"], models[name], data_dir, longer, augment=1,
            replace_rate=0.4, transfer_files=[transfer], max_train_examples=48, train_steps=30,
            learning_rate=3e-3, batch_size=16, max_eval_examples=24, bucket_by_length=False,
            cache_dir=cache, verbose=0)
    new_call = dataclasses.replace(run, training=dataclasses.replace(
        run.training, train_steps=30, learning_rate=3e-3, epochs=2, sequence_length=32))
    assert again["run_config"] == dataclasses.asdict(new_call)
    assert again["distillation"]["teacher_cache_hit"]
    pairs = task_registry.get_task(name).read(data_dir, "train").take(48)
    teacher_logits, _, _ = td.teacher_logits(models[name], "pair_classification", pairs, None)

    def kl_to_teacher(model_dir):
        student = load_task_model(model_dir)
        features = InputEncoder.for_task_model(student).encode_examples("pair_classification",
                                                                        pairs)
        logits = student.model.predict(model_inputs(features), verbose=0)
        target = keras.ops.softmax(teacher_logits / 2.0)
        return float(keras.ops.mean(keras.losses.kl_divergence(
            target, keras.ops.softmax(logits / 2.0))))

    assert kl_to_teacher(longer) < 0.75 * kl_to_teacher(output)  # measured: 0.58 of it


def test_logit_mse_matches_the_logits_kl_only_their_distribution(models, data_dir, tmp_path):
    # A teacher whose logits all sit 5 above the tiny teacher's: the same distribution.
    teacher = load_task_model(models["snips"])
    output_layer = teacher.model.layers[-1]
    kernel, bias = output_layer.get_weights()
    output_layer.set_weights([kernel, bias + 5.0])
    shifted = save_task_model(str(tmp_path / "shifted"), teacher.model, teacher.vocabulary,
                              teacher.labels, teacher.config)
    examples = task_registry.get_task("snips").read(data_dir, "train").take(48)
    teacher_logits, _, _ = td.teacher_logits(shifted, "classification", examples, None)

    def distance(soft_loss):
        run = DistillTaskConfig(
            task="snips", soft_loss=soft_loss, hard_weight=0.0,
            training=DistillTrainingConfig(train_steps=40, batch_size=16,
                                           learning_rate=3e-3, bucket_by_length=False),
            data=DataSelectionConfig(max_train_examples=48, max_eval_examples=8))
        output = str(tmp_path / soft_loss)
        config = td.distill_task(run, models["student"], shifted, data_dir, output,
                                 cache_dir=str(tmp_path / "cache"), verbose=0)
        assert config["distillation"]["soft_loss"] == soft_loss
        student = load_task_model(output)
        logits = student.model.predict(model_inputs(InputEncoder.for_task_model(
            student).encode_texts(examples.texts)), verbose=0)
        return float(np.mean((logits - teacher_logits) ** 2))

    assert distance("mse") < 0.25 * distance("kl")
    with pytest.raises(ValueError, match="Unknown soft_loss 'l2'.*Fix"):
        td.distill_task(DistillTaskConfig(task="snips", soft_loss="l2"), models["student"],
                        models["snips"], data_dir, str(tmp_path / "bad"), verbose=0)
    with pytest.raises(ValueError, match="one-head tasks.*snips_joint.*Fix"):
        td.distill_task(DistillTaskConfig(task="snips_joint", soft_loss="mse"),
                        models["student"], models["snips"], data_dir, str(tmp_path / "joint"),
                        verbose=0)


def test_sentence_features_are_the_teachers_classifier_input_and_train_the_student(
        models, data_dir, tmp_path):
    examples = task_registry.get_task("snips").read(data_dir, "train").take(48)
    cache = str(tmp_path / "cache")
    logits, features, info = td.teacher_features(models["snips"], "classification", examples,
                                                 cache)
    teacher = load_task_model(models["snips"])
    inputs = model_inputs(InputEncoder.for_task_model(teacher).encode_texts(examples.texts))
    expected_logits, expected_features = heads.with_sentence_features(teacher.model).predict(
        inputs, verbose=0)
    np.testing.assert_allclose(logits, expected_logits, atol=1e-4)
    np.testing.assert_allclose(features, expected_features, atol=2e-3)  # stored as float16
    # A model that lists its one output (as a fine-tuned MiniLM teacher loads) works alike.
    listed = keras.Model(teacher.model.inputs, [teacher.model.output])
    np.testing.assert_allclose(heads.with_sentence_features(listed, concatenated=True).predict(
        inputs, verbose=0), np.concatenate([expected_logits, expected_features], -1), atol=1e-5)
    assert features.shape == (48, 16) and info["examples_labelled"] == 48
    # Its own shards: a logits-only pass beside it labels again, a second features pass not.
    assert td.teacher_logits(models["snips"], "classification", examples, cache)[2][
        "examples_labelled"] == 48
    again = td.teacher_features(models["snips"], "classification", examples, cache,
                                teacher=dataclasses.replace(teacher, model=_NoPredict()))
    assert again[2]["cache_hit"]

    def run(feature_weight):
        config = DistillTaskConfig(
            task="snips", feature_weight=feature_weight, kd_weight=0.0, hard_weight=1.0,
            training=DistillTrainingConfig(epochs=4, batch_size=16, learning_rate=3e-3,
                                           bucket_by_length=False),
            data=DataSelectionConfig(max_train_examples=48, max_eval_examples=8))
        output = str(tmp_path / f"student_{feature_weight}")
        record = td.distill_task(config, models["student"], models["snips"], data_dir, output,
                                 cache_dir=cache, verbose=0)
        assert record["distillation"]["feature_weight"] == feature_weight
        assert "feature_projection" not in [
            layer.name for layer in load_task_model(output).model.layers]
        return record["training"]["feature_distance"]

    assert run(0.0) is None
    distances = run(5.0)
    assert len(distances) == 4 and distances[-1] < 0.5 * distances[0]

    with pytest.raises(ValueError, match="tags words.*Fix"):
        td.distill_task(DistillTaskConfig(task="snips_slots", feature_weight=1.0),
                        models["student"], models["snips_slots"], data_dir,
                        str(tmp_path / "slots"), verbose=0)
    with pytest.raises(ValueError, match="one-head tasks.*Fix"):
        td.distill_task(DistillTaskConfig(task="snips_joint", feature_weight=1.0),
                        models["student"], models["snips"], data_dir, str(tmp_path / "joint"),
                        verbose=0)


def _few_shot_teacher(teacher_dir, folder, examples_per_class, seed):
    """A copy of `teacher_dir` recorded as fine-tuned on the k-shot subset of `seed`."""
    shutil.copytree(teacher_dir, folder)
    path = os.path.join(folder, "task_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config.setdefault("training", {}).update(examples_per_class=examples_per_class, seed=seed)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return str(folder)


def test_few_shot_run_may_not_read_the_other_training_utterances(models, data_dir, tmp_path):
    train_text = os.path.join(data_dir, "tasks", "snips", "train", "seq.in")
    teacher = _few_shot_teacher(models["snips"], tmp_path / "teacher_2shot", 2, 0)
    with pytest.raises(ValueError, match="a few-shot run's other training data"):
        td.distill_task(DistillTaskConfig(task="snips", transfer_files=(train_text,),
                                          data=DataSelectionConfig(examples_per_class=2)),
                        models["student"], teacher, data_dir, str(tmp_path / "out"), verbose=0)


def test_few_shot_student_needs_its_teachers_subset(models, data_dir, tmp_path):
    def distil(teacher, seed):
        config = DistillTaskConfig(task="snips", data=DataSelectionConfig(examples_per_class=2),
                                   training=DistillTrainingConfig(seed=seed))
        td.distill_task(config, models["student"], teacher, data_dir, str(tmp_path / "out"),
                        verbose=0)

    with pytest.raises(ValueError, match="fine-tuned on the whole training split"):
        distil(models["snips"], 0)
    with pytest.raises(ValueError, match="2-shot subset of seed 0; .* seed 1's"):
        distil(_few_shot_teacher(models["snips"], tmp_path / "teacher_2shot", 2, 0), 1)
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.needs_data("tasks/mrpc")
def test_transfer_set_order_and_pair_lines(data_dir, tmp_path):
    train = task_registry.get_task("mrpc").read(data_dir, "train").take(5)
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("a cat sat\ta cat was sitting\n\nno tab here\n", encoding="utf-8")
    config = TransferTextConfig(min_words=1, max_lines=1)
    with pytest.raises(ValueError, match="first<TAB>second"):
        read_transfer_texts([str(pairs_file)], "pair_classification", config)
    pairs_file.write_text("a cat sat\ta cat was sitting\n\n", encoding="utf-8")
    texts, pairs, _ = read_transfer_texts([str(pairs_file)], "pair_classification", config)
    examples, origin = td.build_transfer_set(train, texts=texts, pairs=pairs)
    assert origin.tolist() == [td.LABELLED] * 5 + [td.UNLABELLED]
    assert (examples.texts[-1], examples.text_pairs[-1]) == ("a cat sat", "a cat was sitting")


def test_evaluate_accepts_any_split_folder_and_lists_found_ones(models, data_dir, tmp_path):
    folder = tmp_path / "snips"
    for split in ("train", "valid"):
        shutil.copytree(os.path.join(data_dir, "tasks", "snips", split), folder / split)
    shutil.copytree(folder / "valid", folder / "test")
    task = task_registry.get_task("snips")
    assert task.found_splits(str(tmp_path)).keys() == {"train", "valid", "test"}
    report = evaluation.evaluate_model_dir(models["snips"], data_dir=str(tmp_path), split="test",
                                           max_examples=30)
    valid = evaluation.evaluate_model_dir(models["snips"], data_dir=str(tmp_path), split="valid",
                                          max_examples=30)
    assert report["source"].endswith("test") and report["metrics"] == valid["metrics"]
    with pytest.raises(ValueError, match=r"found splits: \['test', 'train', 'valid'\]"):
        evaluation.evaluate_model_dir(models["snips"], data_dir=str(tmp_path), split="tset")


@pytest.mark.needs_data("tasks/cola")
def test_glue_file_splits_follow_the_registered_pattern(data_dir, tmp_path):
    cola = tmp_path / "cola"
    cola.mkdir()
    for name in ("in_domain_train.tsv", "in_domain_dev.tsv"):
        shutil.copy(os.path.join(data_dir, "tasks", "cola", name), cola / name)
    shutil.copy(cola / "in_domain_dev.tsv", cola / "out_of_domain_dev.tsv")
    shutil.copy(cola / "in_domain_dev.tsv", cola / "in_domain_test.tsv")
    task = task_registry.get_task("cola")
    assert sorted(task.found_splits(str(tmp_path))) == ["dev", "out_of_domain_dev", "test",
                                                        "train"]
    assert len(task.read(str(tmp_path), "out_of_domain_dev")) == 527
    assert task.read(str(tmp_path), "test").source.endswith("in_domain_test.tsv")
    # The task folder itself works too, with the same splits.
    assert sorted(task.found_splits(str(cola))) == ["dev", "out_of_domain_dev", "test", "train"]


def test_a_transfer_set_holding_the_evaluated_split_is_refused(models, data_dir, tmp_path):
    valid = os.path.join(data_dir, "tasks", "snips", "valid", "seq.in")
    copy = tmp_path / "copy.txt"
    shutil.copy(valid, copy)
    for files, message in (([valid], "must not read as transfer text"),
                           ([str(copy)], r"contain \d+ of the \d+ examples of snips valid")):
        with pytest.raises(ValueError, match=message):
            td.distill_task(DistillTaskConfig(task="snips", transfer_files=tuple(files)),
                            models["student"], models["snips"], data_dir, str(tmp_path / "out"),
                            verbose=0)
    assert not (tmp_path / "out").exists()


class _Killed(Exception):
    pass


def test_a_killed_student_pass_resumes_where_it_stopped(models, data_dir, tmp_path,
                                                         monkeypatch, capsys):
    """Killed after its step-4 checkpoint, the rerun restores weights, optimizer, step and
    dropout's random state, skips the batches already seen, and ends exactly where an
    uninterrupted run ends."""
    from mixvocab_tf.training import checkpointing  # noqa: PLC0415

    run = DistillTaskConfig(
        task="snips", training=DistillTrainingConfig(train_steps=6, batch_size=8,
                                                     learning_rate=3e-3),
        data=DataSelectionConfig(max_train_examples=40, eval_split="none"))
    cache = str(tmp_path / "cache")
    whole = td.distill_task(run, models["student"], models["snips"], data_dir,
                            str(tmp_path / "whole"), cache_dir=cache, verbose=0)
    assert whole["training"]["resumed_from_step"] == 0
    assert not os.path.exists(tmp_path / ".whole.resume")  # removed with the output written

    monkeypatch.setattr(checkpointing, "RESUME_SAVE_STEPS", 2)
    save = checkpointing.SaveEverySteps.on_train_batch_end

    def killed_after_step_4(self, batch, logs=None):
        save(self, batch, logs)
        if int(self.model.optimizer.iterations.numpy()) == 4:
            raise _Killed()

    monkeypatch.setattr(checkpointing.SaveEverySteps, "on_train_batch_end", killed_after_step_4)
    output = str(tmp_path / "resumed")
    with pytest.raises(_Killed):
        td.distill_task(run, models["student"], models["snips"], data_dir, output,
                        cache_dir=cache, verbose=0)
    assert not os.path.exists(output) and os.path.isdir(tmp_path / ".resumed.resume")
    monkeypatch.setattr(checkpointing.SaveEverySteps, "on_train_batch_end", save)
    resumed = td.distill_task(run, models["student"], models["snips"], data_dir, output,
                              cache_dir=cache, verbose=0)
    assert resumed["training"]["resumed_from_step"] == 4
    assert "student pass: resuming at step 4 of 6" in capsys.readouterr().out
    a = load_task_model(str(tmp_path / "whole")).model.get_weights()
    b = load_task_model(output).model.get_weights()
    assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b))

    # Other settings never resume a run that is not theirs.
    monkeypatch.setattr(checkpointing.SaveEverySteps, "on_train_batch_end", killed_after_step_4)
    with pytest.raises(_Killed):
        td.distill_task(run, models["student"], models["snips"], data_dir, output,
                        cache_dir=cache, verbose=0)
    monkeypatch.setattr(checkpointing.SaveEverySteps, "on_train_batch_end", save)
    other = dataclasses.replace(run, temperature=3.0)
    assert td.distill_task(other, models["student"], models["snips"], data_dir, output,
                           cache_dir=cache, verbose=0)["training"]["resumed_from_step"] == 0
