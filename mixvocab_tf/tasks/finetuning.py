"""Fine-tunes an encoder (a Stage II student or a teacher) on one task.

`finetune(...)` reads the task's train split, builds the task model (`heads.py`), trains it
with AdamW (warm-up + cosine decay), optionally distils a fine-tuned teacher task model's
soft labels into it (`teacher_dir`, `kd_weight`, `temperature`), scores the eval split and
writes the task model directory (`task_model.py`).

Example:
>>> result = finetune("snips", minilm_path, "../shared/data/tasks", "runs/snips",
...                   epochs=1, sequence_length=32, max_train_examples=2000)
>>> result["eval"]["metrics"]["accuracy"]
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf.losses.task import SoftTargetLoss
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import tagging
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.models.encoders import load_encoder
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


def finetune(task_name, model_path, data_dir, output_dir, epochs=2, train_steps=None,
             batch_size=32, learning_rate=5e-5, sequence_length=64, max_train_examples=None,
             train_selection="random", teacher_dir=None, kd_weight=0.5, temperature=2.0,
             dropout=0.1, eval_split=None, max_eval_examples=None, seed=0, oos_threshold=0.5,
             embedding_dim=128, similarity_scale=20.0, warmup_fraction=0.1, weight_decay=0.01,
             skip_empty=False, pooling=heads.POOLING_AUTO, bucket_by_length=True,
             examples_per_class=None, normalization="bert", slot_swap_augment=0,
             slot_swap_rate=0.5, ngram_bag_buckets=0, ngram_bag_dim=32, verbose=1):
    """Fine-tunes `model_path` on `task_name` and writes a task model directory.

    Args:
      task_name: a name of `task_registry.task_names()`.
      model_path: a Stage II student directory or a teacher directory (`load_encoder`).
      data_dir: the data folder (`../shared/data` or its `tasks/`); a TFDS data dir for
        `tfds:` tasks.
      output_dir: the task model directory to write (replaced atomically).
      epochs: passes over the (selected) training examples; ignored when `train_steps` is set.
      train_steps: total optimizer steps instead of epochs.
      batch_size, learning_rate, dropout, warmup_fraction, weight_decay: training settings.
      sequence_length: L of the task model (and of its export).
      max_train_examples, train_selection: a training subset (see `select_examples`).
      examples_per_class: a k-shot training subset, k examples of every label
        (`select_per_class`; applied before `max_train_examples`).
      teacher_dir: a fine-tuned teacher task model directory (same task) for soft labels.
      kd_weight: weight of the soft-label loss; the hard-label loss gets 1 - kd_weight.
      temperature: the distillation temperature T.
      eval_split: split scored after training (default: the task's dev/valid split;
        "none" to skip).
      max_eval_examples: score at most this many (response selection: rounded to 100s).
      seed: shuffling, subset and initialisation seed.
      oos_threshold: CLINC150: top probability below which an utterance is out-of-scope.
      embedding_dim, similarity_scale: the response-selection dual encoder.
      skip_empty: skip and count empty data lines instead of failing.
      pooling: (pair) classification sentence vector, "mean", "cls" or "ngram"
        (`build_task_model`); "auto" (the default): "ngram" for a student, "mean" for a
        teacher (`heads.resolve_pooling`). The task config records the one used.
      ngram_bag_buckets, ngram_bag_dim: (pair) classification: a hashed bag of word-piece
        uni- and bigrams beside the sentence vector (`build_task_model`); 0 buckets for none.
      bucket_by_length: train on batches of similar length, each cut to its longest example
        (rounded up to 8 tokens) instead of L; same model, several times less work on data
        with many short examples (SST-2). Response selection always pads to L.
      normalization: "bert" (BERT's: NFD, accents stripped) or "mediapipe" (tokenise exactly
        as MediaPipe Tasks does on the device: ASCII lower-casing, accents kept; sentence and
        pair classification only). Saved in the task config; evaluation and export follow it.
      slot_swap_augment, slot_swap_rate: slot tasks (tagging or joint): add this many
        variants of every training utterance with slot values swapped for others of the same
        type (`augmentation.swap_slot_values`), each span swapped with probability
        `slot_swap_rate`; epochs are over the enlarged set.
      verbose: Keras fit verbosity.

    Returns:
      The task config written to `output_dir/task_config.json` (with "eval" scores).
    """
    task = task_registry.get_task(task_name)
    check_ngram_bag(task, ngram_bag_buckets, ngram_bag_dim)  # before the joint task's own path
    if task.type == task_registry.INTENT_AND_SLOTS:
        # Two heads, two losses: their own module.
        if teacher_dir:
            raise ValueError("finetune's soft labels take one head; a joint intent + slot "
                             "task distils both with tools/distill_task.py "
                             f"--task={task.name}. Fix: leave --teacher_dir empty here.")
        return joint.finetune_joint(
            task_name, model_path, data_dir, output_dir, epochs=epochs, train_steps=train_steps,
            batch_size=batch_size, learning_rate=learning_rate, sequence_length=sequence_length,
            max_train_examples=max_train_examples, dropout=dropout,
            warmup_fraction=warmup_fraction, weight_decay=weight_decay, eval_split=eval_split,
            max_eval_examples=max_eval_examples, seed=seed, normalization=normalization,
            skip_empty=skip_empty, slot_swap_augment=slot_swap_augment,
            slot_swap_rate=slot_swap_rate, verbose=verbose)
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
    pooling = heads.resolve_pooling(pooling, backbone)
    encoder = InputEncoder(vocabulary, lower_case, sequence_length, normalization)
    features, x, y, weights = _training_arrays(task, train, labels, encoder)
    model = heads.build_task_model(backbone, task.type, num_labels=len(labels) or None,
                                   dropout=dropout, embedding_dim=embedding_dim,
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
        trainer = heads.build_dual_encoder_trainer(model, similarity_scale)
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
        "oos_threshold": oos_threshold if task.oos_split else None,
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
            "teacher_dir": teacher_dir, "kd_weight": kd_weight if teacher_dir else None,
            "temperature": temperature if teacher_dir else None, "seed": seed,
            "final_loss": float(history.history["loss"][-1]),
            "seconds": round(train_seconds, 1),
        },
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
