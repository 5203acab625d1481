"""Fine-tunes an encoder (a Stage II student or a teacher) on one task.

`finetune(config, ...)` (a `configs.FinetuneConfig`) reads the task's train split, builds the
task model (`heads.py`), trains it with AdamW (warm-up + cosine decay), optionally distils a
fine-tuned teacher task model's soft labels into it (`teacher_dir`, `kd_weight`,
`temperature`), scores the eval split and writes the task model directory (`task_model.py`).

Example:
>>> config = FinetuneConfig(task="snips",
...                         training=TaskTrainingConfig(epochs=1, sequence_length=32),
...                         data=DataSelectionConfig(max_train_examples=2000))
>>> result = finetune(config, minilm_path, "../shared/data/tasks", "runs/snips")
>>> result["eval"]["metrics"]["accuracy"], result["run_config"]["training"]["epochs"]
"""

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf.losses.task import SoftTargetLoss
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import tagging
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.selection import TRAIN_SELECTIONS  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.selection import select_examples
from mixvocab_tf.tasks.selection import select_per_class
from mixvocab_tf.tasks.task_model import TaskModel
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import base_task_config
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.training.length_buckets import length_bucketed
from mixvocab_tf.training.optimization import build_for_fit
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.optimization import unread_pooler_ignored



def check_ngram_bag(task, buckets, dim):
    """Refuses an n-gram bag a task cannot take, with the fix."""
    if not buckets:
        return
    if task.type not in (task_registry.CLASSIFICATION, task_registry.PAIR_CLASSIFICATION):
        raise ValueError(f"ngram_bag_buckets adds a sentence feature; {task.name} is "
                         f"{task.type}. Fix: leave it at 0 for this task.")
    if buckets < 0 or dim < 1:
        raise ValueError(f"ngram_bag_buckets={buckets} and ngram_bag_dim={dim} must be "
                         "positive (e.g. 65521 and 32), or buckets 0 for no bag.")


def ngram_bag_config(buckets, dim):
    """The task config's record of the n-gram bag (None without one)."""
    return {"buckets": int(buckets), "dim": int(dim)} if buckets else None


def task_losses(task_type, temperature=2.0):
    """The hard-label and soft-label losses of a task type.

    Tagging averages over labelled tokens (the first piece of each word, the
    positions with sample weight 1), not over batch x length: that reduction
    would scale the effective rate with padding and bucket width. Without
    sample weights (classification) both reductions are the same.

    Returns:
      `(hard_loss, soft_loss)`: sparse cross-entropy on logits and
      `SoftTargetLoss(temperature)`.
    """
    reduction = ("mean_with_sample_weight" if task_type == task_registry.TAGGING
                 else "sum_over_batch_size")
    return (keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction),
            SoftTargetLoss(temperature, reduction=reduction))


def _label_list(task, examples):
    if task.type == task_registry.TAGGING:
        tags = sorted({t for tags in examples.tags for t in tags} - {"O"})
        return ["O"] + tags
    if task.type == task_registry.RESPONSE_SELECTION:
        return []
    return sorted(set(examples.labels))


def _teacher_soft_targets(teacher_dir, task, examples, labels, temperature, student_features,
                          sequence_length):
    """The fine-tuned teacher's softened distributions, aligned with the student's targets."""
    teacher = load_task_model(teacher_dir)
    if teacher.task_type != task.type:
        raise ValueError(f"--teacher_dir {teacher_dir} is a {teacher.task_type} model; "
                         f"task {task.name} is {task.type}.")
    if task.type == task_registry.RESPONSE_SELECTION:
        raise ValueError("task-specific distillation is not implemented for response selection.")
    if teacher.labels != labels:
        raise ValueError(
            f"--teacher_dir {teacher_dir} has labels {teacher.labels[:5]}... but the training data "
            f"gives {labels[:5]}...; fine-tune the teacher on the same task and data.")
    encoder = InputEncoder.for_task_model(teacher)
    features = encoder.encode_examples(task.type, examples)
    logits = evaluation.predict(teacher.model, features)
    if task.type != task_registry.TAGGING:
        return evaluation.softmax(logits, temperature).astype(np.float32)
    # Word-level teacher distributions, placed at the student's first sub-tokens.
    probabilities = evaluation.softmax(logits, temperature)
    soft = np.full((len(examples), sequence_length, len(labels)), 1.0 / len(labels), np.float32)
    for row, words in enumerate(examples.texts):
        for word in range(len(words.split())):
            t_pos = features["word_starts"][row, word]
            s_pos = student_features["word_starts"][row, word]
            if t_pos >= 0 and s_pos >= 0:
                soft[row, s_pos] = probabilities[row, t_pos]
    return soft


def _training_arrays(task, examples, labels, encoder):
    """(x, y, sample_weight or None) NumPy structures of the training examples."""
    features = encoder.encode_examples(task.type, examples)
    x = {k: features[k] for k in heads.ENCODER_INPUTS}
    if task.type == task_registry.TAGGING:
        index = {tag: i for i, tag in enumerate(labels)}
        y, weights = tagging.tag_targets(
            features["word_starts"], [[index[t] for t in tags] for tags in examples.tags],
            encoder.sequence_length)
        return features, x, y, weights
    if task.type == task_registry.RESPONSE_SELECTION:
        responses = encoder.encode_texts(examples.text_pairs)
        x = {**{"context_" + k: v for k, v in x.items()},
             **{"response_" + k: responses[k] for k in heads.ENCODER_INPUTS}}
        return features, x, None, None
    index = {label: i for i, label in enumerate(labels)}
    return features, x, np.asarray([index[l] for l in examples.labels], np.int32), None


def _dataset(x, y, weights, batch_size, seed, in_batch_labels=False, bucket_length=None,
             sequence_targets=False):
    count = len(next(iter(x.values())))
    parts = (x,) if y is None else ((x, y) if weights is None else (x, y, weights))
    dataset = tf.data.Dataset.from_tensor_slices(parts)
    dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
    if bucket_length and not in_batch_labels:
        dataset = length_bucketed(dataset, batch_size, bucket_length, sequence_targets)
    else:
        # In-batch negatives need full batches: every row's label is its own column.
        dataset = dataset.batch(batch_size, drop_remainder=in_batch_labels)
    if in_batch_labels:
        dataset = dataset.map(lambda x: (x, tf.range(batch_size, dtype=tf.int32)))
    return dataset.prefetch(tf.data.AUTOTUNE)


@configs.accepts_legacy_call(FinetuneConfig)
def finetune(config, model_path, data_dir, output_dir, teacher_dir=None, verbose=1):
    """Fine-tunes `model_path` on `config.task` and writes a task model directory.

    Args:
      config: a `FinetuneConfig` (each setting's meaning: `configs.py`): the task, its
        training, sentence head (classification), data selection, the input normalization
        (saved in the task config; evaluation and export follow it), the soft-label loss
        with `teacher_dir`, the CLINC150 out-of-scope threshold, the response-selection dual
        encoder and the slot-swap augmentation of slot tasks. A joint intent + slot task goes
        to `joint.finetune_joint`.
      model_path: a Stage II student directory or a teacher directory (`load_encoder`).
      data_dir: the data folder (`../shared/data` or its `tasks/`); a TFDS data dir for
        `tfds:` tasks.
      output_dir: the task model directory to write (replaced atomically).
      teacher_dir: a fine-tuned teacher task model directory (same task) for soft labels.
      verbose: Keras fit verbosity.

    The old call, `finetune(task_name, model_path, data_dir, output_dir, epochs=..., ...)`
    with the config's field names as keywords, still works (a DeprecationWarning).

    Returns:
      The task config written to `output_dir/task_config.json` (with "eval" scores and the
      config as "run_config").
    """
    training, head, data = config.training, config.head, config.data
    epochs, train_steps, batch_size = training.epochs, training.train_steps, training.batch_size
    learning_rate, sequence_length, dropout = (
        training.learning_rate, training.sequence_length, training.dropout)
    warmup_fraction, weight_decay, seed, bucket_by_length = (
        training.warmup_fraction, training.weight_decay, training.seed, training.bucket_by_length)
    pooling, ngram_bag_buckets, ngram_bag_dim = (
        head.pooling, head.ngram_bag_buckets, head.ngram_bag_dim)
    max_train_examples, train_selection, examples_per_class = (
        data.max_train_examples, data.train_selection, data.examples_per_class)
    eval_split, max_eval_examples, skip_empty = (
        data.eval_split, data.max_eval_examples, data.skip_empty)
    kd_weight, temperature, normalization = (
        config.kd_weight, config.temperature, config.normalization)
    slot_swap_augment, slot_swap_rate = config.slot_swap_augment, config.slot_swap_rate
    task = task_registry.get_task(configs.task_of(config))
    check_ngram_bag(task, ngram_bag_buckets, ngram_bag_dim)  # before the joint task's own path
    if config.freeze_encoder and task.type not in (task_registry.CLASSIFICATION,
                                                   task_registry.PAIR_CLASSIFICATION):
        raise ValueError(f"freeze_encoder trains a (pair) classification head alone; "
                         f"{task.name} is {task.type}. Fix: leave --freeze_encoder off.")
    if task.type == task_registry.INTENT_AND_SLOTS:
        # Two heads, two losses: their own module.
        if teacher_dir:
            raise ValueError("finetune's soft labels take one head; a joint intent + slot "
                             "task distils both with tools/distill_task.py "
                             f"--task={task.name}. Fix: leave --teacher_dir empty here.")
        return joint.finetune_joint(config, model_path, data_dir, output_dir, verbose=verbose)
    if slot_swap_augment and task.type != task_registry.TAGGING:
        raise ValueError(f"slot_swap_augment needs slot tags; {task.name} is {task.type}. "
                         "Fix: use it with a *_slots or *_joint task, or leave it at 0.")
    if not 0.0 <= kd_weight <= 1.0:
        raise ValueError(f"kd_weight must be in [0, 1], got {kd_weight}")
    heads.resolve_pooling(pooling, None)  # a bad name fails before any work
    check_normalization(normalization)
    if normalization != "bert" and task.type not in (task_registry.CLASSIFICATION,
                                                     task_registry.PAIR_CLASSIFICATION):
        raise ValueError(
            f"normalization={normalization!r} is for (pair) classification, the models "
            f"MediaPipe's TextClassifier runs; {task.name} is {task.type}. Fix: use 'bert'.")
    keras.utils.set_random_seed(seed)
    started = time.time()
    train = task.read(data_dir, "train", skip_empty=skip_empty)
    if len(train) == 0:
        raise readers.TaskDataError(f"{train.source}: no training examples.")
    if examples_per_class is not None:
        train = select_per_class(train, examples_per_class, seed)
    train = select_examples(train, max_train_examples, train_selection, seed)
    labelled = len(train)
    if slot_swap_augment:
        train = train.concatenate(augmentation.swap_slot_values(
            train, slot_swap_augment, slot_swap_rate, seed))
    labels = _label_list(task, train)

    backbone, vocabulary, lower_case = load_encoder(model_path)
    # Frozen weights get no gradients, so the backward pass stops at the pooled vector.
    backbone.trainable = not config.freeze_encoder
    pooling = heads.resolve_pooling(pooling, backbone)
    encoder = InputEncoder(vocabulary, lower_case, sequence_length, normalization)
    features, x, y, weights = _training_arrays(task, train, labels, encoder)
    model = heads.build_task_model(backbone, task.type, num_labels=len(labels) or None,
                                   dropout=dropout, embedding_dim=config.embedding_dim,
                                   pooling=pooling, ngram_bag_buckets=ngram_bag_buckets,
                                   ngram_bag_dim=ngram_bag_dim,
                                   name=f"{task.name.replace(':', '_').replace('/', '_')}_model")

    steps_per_epoch = math.ceil(len(train) / batch_size)
    total_steps = train_steps or epochs * steps_per_epoch
    fit_epochs, fit_steps = (1, train_steps) if train_steps else (epochs, steps_per_epoch)
    optimizer = create_optimizer(learning_rate, total_steps, warmup_fraction, weight_decay)
    bucket = sequence_length if bucket_by_length else None
    tagging_task = task.type == task_registry.TAGGING
    hard_loss, soft_loss = task_losses(task.type, temperature)

    if task.type == task_registry.RESPONSE_SELECTION:
        if teacher_dir:
            raise ValueError("task-specific distillation is not implemented for response selection.")
        trainer = heads.build_dual_encoder_trainer(model, config.similarity_scale)
        trainer.compile(optimizer=optimizer, loss=hard_loss)
        build_for_fit(trainer)
        dataset = _dataset(x, None, None, batch_size, seed, in_batch_labels=True)
    elif teacher_dir:
        soft = _teacher_soft_targets(teacher_dir, task, train, labels, temperature, features,
                                     sequence_length)
        logits = model(model.input)
        trainer = keras.Model(model.input, {
            "hard": keras.layers.Identity(name="hard")(logits),
            "soft": keras.layers.Identity(name="soft")(logits)})
        trainer.compile(optimizer=optimizer,
                        loss={"hard": hard_loss, "soft": soft_loss},
                        loss_weights={"hard": 1.0 - kd_weight, "soft": kd_weight})
        targets = {"hard": y, "soft": soft}
        sample = None if weights is None else {"hard": weights, "soft": weights}
        build_for_fit(trainer, x, targets, sample)
        dataset = _dataset(x, targets, sample, batch_size, seed,
                           bucket_length=bucket, sequence_targets=tagging_task)
    else:
        trainer = model
        trainer.compile(optimizer=optimizer, loss=hard_loss,
                        weighted_metrics=["sparse_categorical_accuracy"])
        dataset = _dataset(x, y, weights, batch_size, seed, bucket_length=bucket,
                           sequence_targets=tagging_task)
        build_for_fit(trainer, x, y, weights)

    with unread_pooler_ignored():
        history = trainer.fit(dataset, epochs=fit_epochs, steps_per_epoch=fit_steps,
                              verbose=verbose)
    train_seconds = time.time() - started

    config = {
        **base_task_config(task, lower_case, normalization, sequence_length),
        "outputs": (["context_embedding", "response_embedding"]
                    if task.type == task_registry.RESPONSE_SELECTION else ["logits"]),
        "tag_position": "first_subtoken" if task.type == task_registry.TAGGING else None,
        "pooling": (pooling if task.type in (task_registry.CLASSIFICATION,
                                             task_registry.PAIR_CLASSIFICATION)
                    else heads.POOLING_MEAN if task.type == task_registry.RESPONSE_SELECTION
                    else None),
        "ngram_bag": ngram_bag_config(ngram_bag_buckets, ngram_bag_dim),
        "oos_threshold": config.oos_threshold if task.oos_split else None,
        "oos_label": task_registry.OOS_LABEL if task.oos_split else None,
        "encoder": {"path": str(model_path), "parameters": int(backbone.count_params())},
        "parameters": int(model.count_params()),
        "training": {
            "examples": labelled, "skipped_lines": train.skipped, "epochs": fit_epochs,
            "slot_swap_augment": slot_swap_augment, "slot_swap_rate": slot_swap_rate,
            "training_examples": len(train),
            "steps": int(total_steps), "batch_size": batch_size, "learning_rate": learning_rate,
            "max_train_examples": max_train_examples, "train_selection": train_selection,
            "examples_per_class": examples_per_class,
            "bucket_by_length": bool(bucket_by_length),
            "dropout": dropout, "warmup_fraction": warmup_fraction, "weight_decay": weight_decay,
            "freeze_encoder": bool(config.freeze_encoder),
            "teacher_dir": teacher_dir, "kd_weight": kd_weight if teacher_dir else None,
            "temperature": temperature if teacher_dir else None, "seed": seed,
            "final_loss": float(history.history["loss"][-1]),
            "seconds": round(train_seconds, 1),
        },
        "run_config": dataclasses.asdict(config),
    }
    if eval_split != "none":
        split = eval_split or task_registry.default_eval_split(task)
        examples = task.read(data_dir, split, skip_empty=skip_empty)
        oos = task.read(data_dir, task.oos_split, skip_empty=skip_empty) if task.oos_split else None
        task_model = TaskModel(model, vocabulary, labels, dict(config, labels=labels))
        eval_started = time.time()
        scores, details = evaluation.evaluate_examples(
            task_model, task, examples, oos, max_examples=max_eval_examples)
        config["eval"] = {"split": split, "source": examples.source, "metrics": scores,
                          "seconds": round(time.time() - eval_started, 1), **details}
    save_task_model(output_dir, model, vocabulary, labels, config)
    return config
