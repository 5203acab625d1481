"""Task distillation of a joint intent + slot model (the dialogue assistant's two heads).

The student (`joint.build_joint_model` on a Stage II student) learns a fine-tuned joint
teacher (`tools/finetune.py --task=snips_joint` on MiniLM) with the four terms of
`task_distillation`, one pair a head:

  * intent: T^2 KL to the teacher's softened intent probabilities + cross-entropy to the gold
    intent;
  * slots: the same per word, the teacher's logits read at the first piece of each word in
    its own (30K) tokenisation and the student's at the first piece of the same word in its
    (5K) tokenisation, each term averaged over the words that carry it.

The transfer set is the training split, `slot_swap_augment` slot-swapped variants of every
utterance (`augmentation.swap_slot_values`: gold intent and tags stay right, so they keep
their hard labels), `augment` word-replaced variants (teacher labels only unless
`hard_labels_on_augmented`) and unlabelled `transfer_files` lines (teacher labels only). The
teacher labels the set once; its logits are cached like `task_distillation`'s.

`task_distillation.distill_task` is the runner for every task type and sends joint tasks
here: this module is the two-head student pass, on the transfer set, losses and teacher cache
both share (`transfer_set.py`, `losses/task.py`).

Example:
>>> config = distill_joint(DistillTaskConfig(task="snips_joint", slot_swap_augment=1),
...                        "runs/demo/stage2", "runs/snips_joint_minilm", "../shared/data",
...                        "runs/snips_joint_kd")
>>> config["eval"]["metrics"]["slot_f1"], config["distillation"]["teacher_cpu_seconds"]
"""

import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf.layers.word_gather import WordGather
from mixvocab_tf.losses.task import WeightedHardLoss
from mixvocab_tf.losses.task import WeightedKLDivergence
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.selection import select_examples
from mixvocab_tf.tasks.selection import subsample
from mixvocab_tf.tasks.transfer_set import AUGMENTED
from mixvocab_tf.tasks.transfer_set import LABELLED
from mixvocab_tf.tasks.transfer_set import UNLABELLED
from mixvocab_tf.tasks.transfer_set import build_transfer_set
from mixvocab_tf.tasks.transfer_set import check_settings
from mixvocab_tf.tasks.transfer_set import distillation_record
from mixvocab_tf.tasks.transfer_set import make_replacer
from mixvocab_tf.tasks.transfer_set import teacher_cache_key
from mixvocab_tf.tasks.task_model import TaskModel
from mixvocab_tf.tasks.teacher_labels import sharded_teacher_pass
from mixvocab_tf.tasks.transfer_text import TransferTextConfig
from mixvocab_tf.tasks.transfer_text import read_transfer_texts
from mixvocab_tf.tasks.task_model import base_task_config
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.training.optimization import build_for_fit
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.optimization import unread_pooler_ignored

# Slot-swapped variants: new text, gold intent and tags still right.
SWAPPED = 3
TERMS = ("intent_hard", "intent_soft", "slot_hard", "slot_soft")


def joint_teacher_logits(teacher_dir, examples, cache_dir=None, batch_size=256, teacher=None):
    """The joint teacher's intent logits [N, C] and per-word slot logits [N, W, T], cached.

    Args:
      teacher_dir: a fine-tuned joint task model directory.
      examples: the transfer set (texts split into words at whitespace).
      cache_dir: the shard cache root (`teacher_labels`; None: no cache).
      batch_size: inference batch size.
      teacher: the loaded `TaskModel` (read from `teacher_dir` when None).

    Returns:
      (intent_logits, slot_logits, word_mask [N, W] of the words the teacher saw, info as
      `teacher_labels.sharded_teacher_pass` returns it).
    """
    teacher = teacher or load_task_model(teacher_dir)
    key = teacher_cache_key(teacher_dir, teacher, task_registry.INTENT_AND_SLOTS)
    encoder = InputEncoder.for_task_model(teacher)

    def label_rows(chunk):
        features = joint.encode(encoder, chunk)
        outputs = joint.predict(teacher.model, features, batch_size=batch_size)
        starts = features["word_starts"]
        slots = np.take_along_axis(outputs[joint.SLOT_OUTPUT],
                                   np.maximum(starts, 0)[..., None], axis=1)
        return {"intent": outputs[joint.INTENT_OUTPUT], "slots": slots, "mask": starts >= 0}

    arrays, info = sharded_teacher_pass(cache_dir, key, examples, label_rows)
    return arrays["intent"], arrays["slots"], arrays["mask"], info


def student_arrays(examples, origin, intents, tags, teacher_intent, teacher_slots, teacher_mask,
                   encoder, hard_labels_on_augmented=False):
    """x (encoder inputs + "word_starts") and y of the four `TERMS` (targets packed with weights).

    Hard terms weigh the rows whose gold labels hold (labelled and slot-swapped examples, and
    word-replaced ones with `hard_labels_on_augmented`); soft terms every row. Slot terms
    weigh only the words both tokenisations kept (truncation can cut different words).
    """
    hard_rows = ((origin == LABELLED) | (origin == SWAPPED)
                 | ((origin == AUGMENTED) & hard_labels_on_augmented))
    features = joint.encode(encoder, examples)
    starts = features["word_starts"]
    width = starts.shape[1]
    teacher_slots, teacher_mask = _fit_width(teacher_slots, width), _fit_width(teacher_mask, width)
    seen = (starts >= 0) & teacher_mask
    intent_index = {label: i for i, label in enumerate(intents)}
    tag_index = {tag: i for i, tag in enumerate(tags)}
    intent_ids = np.zeros(len(examples), np.float32)
    tag_ids = np.zeros(starts.shape, np.float32)
    for row in np.flatnonzero(hard_rows):
        intent_ids[row] = intent_index[examples.labels[row]]
        row_tags = examples.tags[row][:width]
        tag_ids[row, :len(row_tags)] = [tag_index[t] for t in row_tags]
    x = {k: features[k] for k in heads.ENCODER_INPUTS}
    x["word_starts"] = starts
    hard = hard_rows.astype(np.float32)
    y = {
        "intent_hard": np.stack([intent_ids, hard], -1),
        "intent_soft": np.concatenate(
            [teacher_intent, np.ones((len(examples), 1), np.float32)], -1),
        "slot_hard": np.stack([tag_ids, (seen & hard_rows[:, None]).astype(np.float32)], -1),
        "slot_soft": np.concatenate([teacher_slots, seen[..., None].astype(np.float32)], -1),
    }
    return x, y


def _fit_width(array, width):
    """Cuts or pads (with zeros / False) the word axis (1) of `array` to `width`."""
    if array.shape[1] >= width:
        return array[:, :width]
    pad = [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad)


def _dataset(x, y, batch_size, seed, sequence_length, multiple=8):
    """Shuffled batches, each cut to its longest example (tokens) and its longest word list."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x["token_ids"]), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.repeat().batch(batch_size)

    def trim(x, y):
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), 1))
        width = tf.minimum((longest + multiple - 1) // multiple * multiple, sequence_length)
        # No sentence has more words than pieces: `width` columns hold every word kept.
        x = {k: v[:, :width] for k, v in x.items()}
        y = {k: v[:, :width] if k.startswith("slot") else v for k, v in y.items()}
        return x, y

    return dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def build_trainer(model):
    """The joint model with per-word slot logits and one named output per `TERMS` entry."""
    inputs = {k: keras.Input(shape=(None,), dtype="int32", name=k)
              for k in (*heads.ENCODER_INPUTS, "word_starts")}
    outputs = joint.named_outputs(model, model({k: inputs[k] for k in heads.ENCODER_INPUTS}))
    words = WordGather(name="word_logits")(outputs[joint.SLOT_OUTPUT], inputs["word_starts"])
    sources = {"intent": outputs[joint.INTENT_OUTPUT], "slot": words}
    return keras.Model(inputs, {term: keras.layers.Identity(name=term)(sources[term.split("_")[0]])
                                for term in TERMS})


@configs.accepts_legacy_call(DistillTaskConfig)
def distill_joint(config, student_path, teacher_dir, data_dir, output_dir, cache_dir=None,
                  verbose=1):
    """Distils a fine-tuned joint intent + slot teacher into a joint student task model.

    Args:
      config: a `DistillTaskConfig` of a joint task ("snips_joint", "atis_joint"); each
        setting's meaning: `configs.py`. Read: the student's training (epochs are over the
        whole transfer set; None epochs, rate and L: 6, 1e-3 and the teacher's L; batches are
        always cut to their longest example), `max_train_examples` (a seeded random subset),
        `eval_split`, `max_eval_examples`, `skip_empty`, the word-replaced variants
        (`augment`, `replace_rate`, `replacer`, `num_candidates`, `mlm_teacher`, as in
        `task_distillation.distill_task`), the slot-swapped variants (`slot_swap_augment`,
        `slot_swap_rate`), the unlabelled `transfer_files` (one utterance a line, taken as
        they are: of `transfer_text` only `max_lines` applies), and the loss: `kd_weight` x
        the KL terms + `hard_weight` x the gold-label terms at temperature T, `slot_weight`
        on both slot terms, `hard_labels_on_augmented`. The sentence head, `train_selection`
        and `examples_per_class` do not apply.
      student_path: a Stage II student directory (or any encoder `load_encoder` reads).
      teacher_dir: the teacher's joint task model directory (`tools/finetune.py`, same task);
        its intents, slot tags and input normalisation become the student's.
      data_dir: the data folder (`../shared/data` or its `tasks/`).
      output_dir: the student task model directory (written atomically).
      cache_dir: the teacher-logit cache (default: `teacher_label_cache` beside `output_dir`).
      verbose: Keras fit verbosity.

    The old call, `distill_joint(task_name, student_path, teacher_dir, data_dir, output_dir,
    augment=..., ...)` with the config's field names (and `max_transfer_lines`) as keywords,
    still works (a DeprecationWarning).

    Returns:
      The task config written to `output_dir/task_config.json`, with "distillation", "eval"
      and the config (epochs, rate and L resolved) as "run_config".
    """
    task = task_registry.get_task(configs.task_of(config))
    joint.check_joint_task(task)
    training = config.training.resolved(joint=True)
    data = config.data
    augment, kd_weight, hard_weight, temperature = (
        config.augment, config.kd_weight, config.hard_weight, config.temperature)
    replace_rate, replacer, num_candidates, mlm_teacher = (
        config.replace_rate, config.replacer, config.num_candidates, config.mlm_teacher)
    slot_swap_augment, slot_swap_rate, slot_weight = (
        config.slot_swap_augment, config.slot_swap_rate, config.slot_weight)
    hard_labels_on_augmented, transfer_files = (
        config.hard_labels_on_augmented, config.transfer_files)
    max_train_examples, eval_split, skip_empty, seed = (
        data.max_train_examples, data.eval_split, data.skip_empty, training.seed)
    check_settings(augment=augment, epochs=training.epochs, kd_weight=kd_weight,
                   hard_weight=hard_weight, temperature=temperature)
    if slot_swap_augment < 0:
        raise ValueError(f"slot_swap_augment must be >= 0, got {slot_swap_augment}.")
    keras.utils.set_random_seed(seed)
    teacher = load_task_model(teacher_dir)
    if teacher.task_type != task.type or "slot_labels" not in teacher.config:
        raise ValueError(f"--teacher_dir {teacher_dir} is a {teacher.task_type} model; "
                         f"{task.name} needs a joint intent + slot teacher. Fix: fine-tune "
                         f"the teacher with tools/finetune.py --task={task.name}.")
    intents, tags = list(teacher.labels), list(teacher.config["slot_labels"])
    training = training.resolved(joint=True, teacher_sequence_length=teacher.sequence_length)
    config = dataclasses.replace(config, training=training)  # the run, as recorded
    epochs, train_steps, batch_size, learning_rate = (
        training.epochs, training.train_steps, training.batch_size, training.learning_rate)
    sequence_length, dropout = training.sequence_length, training.dropout

    train = task.read(data_dir, "train", skip_empty=skip_empty)
    train = select_examples(train, max_train_examples, "random", seed)
    unknown = sorted((set(train.labels) - set(intents))
                     | ({t for row in train.tags for t in row} - set(tags)))
    if unknown:
        raise ValueError(f"the training data has labels {unknown[:5]} that the teacher "
                         f"{teacher_dir} does not predict. Fix: distil from a teacher "
                         "fine-tuned on the same task and data.")

    cpu = time.process_time()
    swapper = (make_replacer(replacer, teacher, num_candidates, mlm_teacher,
                             teacher.sequence_length) if augment else None)
    texts, files = [], []
    split = None if eval_split == "none" else (
        eval_split or task_registry.default_eval_split(task))
    # Read once: the transfer text may not contain it, and it is scored after training.
    evaluated = task.read(data_dir, split, skip_empty=skip_empty) if split else None
    if transfer_files:
        # Utterances as they are: no sentence cutting or length filter.
        utterances = TransferTextConfig(split_sentences=False, min_words=1, max_words=0,
                                        max_lines=config.transfer_text.max_lines)
        texts, _, stats = read_transfer_texts(
            transfer_files, task_registry.TAGGING, utterances,
            protected=[task.split_path(data_dir, split)] if split else [],
            evaluation_texts=evaluated.texts if evaluated else (),
            evaluation_name=f"{task.name} {split}")
        files = stats["files"]
    transfer, origin = build_transfer_set(train, augment, replace_rate, swapper, texts,
                                          seed=seed)
    if slot_swap_augment:
        swapped = augmentation.swap_slot_values(train, slot_swap_augment, slot_swap_rate, seed)
        transfer = transfer.concatenate(swapped)
        origin = np.concatenate([origin, np.full(len(swapped), SWAPPED)])
    augment_cpu = time.process_time() - cpu

    cache_dir = cache_dir or os.path.join(os.path.dirname(os.path.abspath(output_dir)),
                                          "teacher_label_cache")
    t_intent, t_slots, t_mask, teacher_info = joint_teacher_logits(
        teacher_dir, transfer, cache_dir, teacher=teacher)

    cpu, wall = time.process_time(), time.time()
    backbone, vocabulary, lower_case = load_encoder(student_path)
    encoder = InputEncoder(vocabulary, lower_case, sequence_length, teacher.normalization)
    x, y = student_arrays(transfer, origin, intents, tags, t_intent, t_slots, t_mask, encoder,
                          hard_labels_on_augmented)
    model = joint.build_joint_model(backbone, len(intents), len(tags), dropout,
                                    name=f"{task.name}_student")
    trainer = build_trainer(model)
    steps_per_epoch = math.ceil(len(transfer) / batch_size)
    total_steps = train_steps or epochs * steps_per_epoch
    fit_epochs, fit_steps = (1, train_steps) if train_steps else (epochs, steps_per_epoch)
    weights = {"intent_hard": hard_weight, "intent_soft": kd_weight,
               "slot_hard": slot_weight * hard_weight, "slot_soft": slot_weight * kd_weight}
    trainer.compile(
        optimizer=create_optimizer(learning_rate, total_steps, training.warmup_fraction,
                                   training.weight_decay),
        loss={term: WeightedHardLoss() if term.endswith("hard") else
              WeightedKLDivergence(temperature) for term in TERMS},
        loss_weights=weights)
    build_for_fit(trainer, x, y)  # one trace of the train step
    with unread_pooler_ignored():
        history = trainer.fit(_dataset(x, y, batch_size, seed, sequence_length),
                              epochs=fit_epochs, steps_per_epoch=fit_steps, verbose=verbose)
    student_cpu, student_wall = time.process_time() - cpu, time.time() - wall

    counts = {name: int(np.sum(origin == value)) for name, value in
              (("labelled", LABELLED), ("slot_swapped", SWAPPED), ("augmented", AUGMENTED),
               ("unlabelled", UNLABELLED))}
    record = {
        **base_task_config(task, lower_case, teacher.normalization, sequence_length),
        "outputs": [joint.INTENT_OUTPUT, joint.SLOT_OUTPUT],
        "slot_labels": tags,
        "tag_position": "first_subtoken",
        "pooling": heads.POOLING_MEAN,
        "oos_threshold": None,
        "encoder": {"path": str(student_path), "parameters": int(backbone.count_params())},
        "parameters": int(model.count_params()),
        "training": {
            "examples": len(train), "training_examples": len(transfer), "epochs": fit_epochs,
            "steps": int(total_steps), "batch_size": batch_size, "learning_rate": learning_rate,
            "max_train_examples": max_train_examples, "slot_weight": slot_weight,
            "dropout": dropout, "warmup_fraction": training.warmup_fraction,
            "weight_decay": training.weight_decay, "seed": seed,
            "final_loss": float(history.history["loss"][-1]),
            "seconds": round(student_wall, 1),
        },
        "distillation": distillation_record(
            teacher_dir, {
                "kd_weight": kd_weight, "hard_weight": hard_weight, "slot_weight": slot_weight,
                "temperature": temperature, "augment": augment, "replace_rate": replace_rate,
                "replacer": replacer if augment else None, "num_candidates": num_candidates,
                "slot_swap_augment": slot_swap_augment, "slot_swap_rate": slot_swap_rate,
                "hard_labels_on_augmented": hard_labels_on_augmented},
            files, counts, augment_cpu, teacher_info, student_cpu, student_wall),
        "run_config": dataclasses.asdict(config),
    }
    if evaluated is not None:
        examples = subsample(evaluated, data.max_eval_examples)
        scores = joint.evaluate_joint(TaskModel(model, vocabulary, intents, record), examples)
        record["eval"] = {"split": split, "source": examples.source, "metrics": scores,
                          "examples": len(examples)}
    save_task_model(output_dir, model, vocabulary, intents, record)
    return record
