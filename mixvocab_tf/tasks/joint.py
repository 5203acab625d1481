"""Joint intent + slot models: one encoder, an intent head and a slot-tagging head.

The dialogue assistant's model (`--task=snips_joint`): the intent from the masked mean of the
sequence output (as the classification head), and a BIO slot tag at every position, read at
the first sub-token of each whitespace-separated word (as the tagging head). Both losses are
summed (the slot loss averaged over the labelled tokens, weighted by `slot_weight`).

Outputs of the Keras model: {"intent_logits": [B, C], "slot_logits": [B, L, T]}. The task
model directory is the usual one (`task_model.py`): `labels.txt` holds the intents and
`task_config.json` the slot tags under "slot_labels".

Example:
>>> config = finetune_joint(
...     flat_config(FinetuneConfig, task="snips_joint", epochs=3, learning_rate=3e-4,
...                 sequence_length=32, normalization="mediapipe"),
...     "runs/demo/stage2/export", "../shared/data/tasks", "runs/snips_joint")
>>> config["eval"]["metrics"]["accuracy"], config["eval"]["metrics"]["slot_f1"]
"""

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import metrics as metrics_lib
from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import tagging
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.selection import select_examples
from mixvocab_tf.tasks.selection import subsample
from mixvocab_tf.tasks.task_model import TaskModel
from mixvocab_tf.tasks.task_model import base_task_config
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.training.optimization import build_for_fit
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.optimization import unread_pooler_ignored

INTENT_OUTPUT = "intent_logits"
SLOT_OUTPUT = "slot_logits"


def build_joint_model(encoder, num_intents, num_tags, dropout=0.1, name="joint_model"):
    """The inference model: {"token_ids", "segment_ids", "padding_mask"} -> both logits."""
    inputs = heads.encoder_inputs()
    outputs = encoder(inputs)
    pooled = heads.MaskedMeanPooling(name="mean_pooling")(
        outputs["sequence_output"], inputs["padding_mask"])
    intent = heads.ClassificationHead(num_intents, dropout=dropout, name="intent")(pooled)
    slots = heads.TaggingHead(num_tags, dropout=dropout, name="slots")(outputs["sequence_output"])
    # Identity layers name the outputs (Keras keys dict outputs by these names).
    return keras.Model(inputs, {
        INTENT_OUTPUT: keras.layers.Identity(name=INTENT_OUTPUT)(intent),
        SLOT_OUTPUT: keras.layers.Identity(name=SLOT_OUTPUT)(slots)}, name=name)


def named_outputs(model, outputs):
    """The model's outputs as a dict: a reloaded model returns a list in `output_names` order."""
    if isinstance(outputs, dict):
        return outputs
    return dict(zip(model.output_names, outputs))


def check_joint_task(task):
    if task.type != task_registry.INTENT_AND_SLOTS:
        raise ValueError(f"{task.name} is a {task.type} task, not intent + slots. Fix: pass "
                         "a *_joint task (snips_joint, atis_joint).")


def encode(encoder, examples):
    """Features (with "word_starts") of `examples`, their texts split on whitespace."""
    return encoder.encode_words([text.split() for text in examples.texts])


def _trimmed(dataset, sequence_length, multiple=8):
    """Cuts each batch to its longest example (rounded up to 8): far less padding work."""
    def trim(x, y, weights):
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), 1))
        width = tf.minimum((longest + multiple - 1) // multiple * multiple, sequence_length)
        x = {k: v[:, :width] for k, v in x.items()}
        y = dict(y, **{SLOT_OUTPUT: y[SLOT_OUTPUT][:, :width]})
        weights = dict(weights, **{SLOT_OUTPUT: weights[SLOT_OUTPUT][:, :width]})
        return x, y, weights
    return dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def predict(model, features, batch_size=64):
    """NumPy {"intent_logits", "slot_logits"} of the three encoder inputs in `features`."""
    x = {k: features[k] for k in heads.ENCODER_INPUTS}
    outputs = named_outputs(model, model.predict(x, batch_size=batch_size, verbose=0))
    return {k: np.asarray(v, np.float32) for k, v in outputs.items()}


def decode_predictions(intent_logits, slot_logits, word_starts, word_counts, intents, tags):
    """(intent names, per-sentence word tags) from the two outputs."""
    fill = tags.index("O") if "O" in tags else 0
    tag_ids = tagging.word_predictions(slot_logits, word_starts, word_counts, fill=fill,
                                       tags=tags)
    return ([intents[i] for i in np.asarray(intent_logits).argmax(-1)],
            [[tags[i] for i in row] for row in tag_ids])


def joint_scores(examples, intents, tags, intent_logits, slot_logits, word_starts):
    """Intent accuracy, slot span F1 and exact-frame accuracy (intent and every tag right)."""
    word_counts = [len(t.split()) for t in examples.texts]
    predicted_intents, predicted_tags = decode_predictions(
        intent_logits, slot_logits, word_starts, word_counts, intents, tags)
    intent_right = np.array([p == g for p, g in zip(predicted_intents, examples.labels)])
    tags_right = np.array([p == g for p, g in zip(predicted_tags, examples.tags)])
    return {"accuracy": float(intent_right.mean()),
            "slot_f1": metrics_lib.span_f1(examples.tags, predicted_tags)["f1"],
            "frame_accuracy": float((intent_right & tags_right).mean())}


def evaluate_joint(task_model, examples):
    """Scores of a loaded (or in-memory) joint `TaskModel` on `examples`."""
    encoder = InputEncoder.for_task_model(task_model)
    features = encode(encoder, examples)
    outputs = predict(task_model.model, features)
    return joint_scores(examples, task_model.labels, task_model.config["slot_labels"],
                        outputs[INTENT_OUTPUT], outputs[SLOT_OUTPUT], features["word_starts"])


@configs.accepts_legacy_call(FinetuneConfig)
def finetune_joint(config, model_path, data_dir, output_dir, verbose=1):
    """Fine-tunes `model_path` on a joint intent + slot task; writes a task model directory.

    `finetuning.finetune` calls it for a joint task.

    Args:
      config: a `FinetuneConfig` of a joint task ("snips_joint", "atis_joint"). Read: the
        training settings (`train_steps` overrides `epochs`; batches are always cut to their
        longest example), `max_train_examples` (a seeded random subset), `eval_split` and
        `max_eval_examples` ("none": nothing scored), `skip_empty`, `normalization`
        ("mediapipe": the tokenisation of MediaPipe and of the Android app, the same ids on
        every runtime; or "bert"), `slot_swap_augment` and `slot_swap_rate` (variants of
        every training utterance with slot values swapped for others of the same type,
        `augmentation.swap_slot_values`, gold tags and intents kept; epochs are over the
        enlarged set) and `slot_weight` (the slot loss's weight; the intent loss has weight
        1). The sentence head, `train_selection` and `examples_per_class` do not apply.
      model_path: a Stage II student or teacher directory (`load_encoder`).
      data_dir: the data folder (`../shared/data` or its `tasks/`).
      output_dir: the task model directory (replaced atomically).
      verbose: Keras fit verbosity.

    Returns:
      The task config written to `output_dir/task_config.json` (with "eval" scores and the
      config as "run_config").
    """
    training, data = config.training, config.data
    epochs, train_steps, batch_size = training.epochs, training.train_steps, training.batch_size
    learning_rate, sequence_length, dropout = (
        training.learning_rate, training.sequence_length, training.dropout)
    warmup_fraction, weight_decay, seed = (
        training.warmup_fraction, training.weight_decay, training.seed)
    max_train_examples, eval_split, max_eval_examples, skip_empty = (
        data.max_train_examples, data.eval_split, data.max_eval_examples, data.skip_empty)
    normalization, slot_weight = config.normalization, config.slot_weight
    slot_swap_augment, slot_swap_rate = config.slot_swap_augment, config.slot_swap_rate
    task = task_registry.get_task(configs.task_of(config))
    check_joint_task(task)
    check_normalization(normalization)
    keras.utils.set_random_seed(seed)
    started = time.time()
    train = task.read(data_dir, "train", skip_empty=skip_empty)
    if len(train) == 0:
        raise readers.TaskDataError(f"{train.source}: no training examples.")
    train = select_examples(train, max_train_examples, "random", seed)
    intents = sorted(set(train.labels))
    tags = ["O"] + sorted({t for row in train.tags for t in row} - {"O"})
    labelled = len(train)
    if slot_swap_augment:
        train = train.concatenate(augmentation.swap_slot_values(
            train, slot_swap_augment, slot_swap_rate, seed))

    backbone, vocabulary, lower_case = load_encoder(model_path)
    encoder = InputEncoder(vocabulary, lower_case, sequence_length, normalization)
    features = encode(encoder, train)
    tag_index = {t: i for i, t in enumerate(tags)}
    slot_y, slot_w = tagging.tag_targets(
        features["word_starts"], [[tag_index[t] for t in row] for row in train.tags],
        sequence_length)
    intent_index = {label: i for i, label in enumerate(intents)}
    intent_y = np.asarray([intent_index[label] for label in train.labels], np.int32)
    model = build_joint_model(backbone, len(intents), len(tags), dropout,
                              name=f"{task.name}_model")

    steps_per_epoch = math.ceil(len(train) / batch_size)
    total_steps = train_steps or epochs * steps_per_epoch
    fit_epochs, fit_steps = (1, train_steps) if train_steps else (epochs, steps_per_epoch)
    model.compile(
        optimizer=create_optimizer(learning_rate, total_steps, warmup_fraction, weight_decay),
        # The slot loss averages over the labelled tokens (each word's first sub-token),
        # whatever the padding.
        loss={INTENT_OUTPUT: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              SLOT_OUTPUT: keras.losses.SparseCategoricalCrossentropy(
                  from_logits=True, reduction="mean_with_sample_weight")},
        loss_weights={INTENT_OUTPUT: 1.0, SLOT_OUTPUT: slot_weight})
    x = {k: features[k] for k in heads.ENCODER_INPUTS}
    y = {INTENT_OUTPUT: intent_y, SLOT_OUTPUT: slot_y}
    weights = {INTENT_OUTPUT: np.ones(len(train), np.float32), SLOT_OUTPUT: slot_w}
    build_for_fit(model, x, y, weights)  # one trace of the train step
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights))
    dataset = dataset.shuffle(len(train), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = _trimmed(dataset.batch(batch_size), sequence_length).prefetch(tf.data.AUTOTUNE)
    with unread_pooler_ignored():
        history = model.fit(dataset, epochs=fit_epochs, steps_per_epoch=fit_steps,
                            verbose=verbose)

    config = {
        **base_task_config(task, lower_case, normalization, sequence_length),
        "outputs": [INTENT_OUTPUT, SLOT_OUTPUT],
        "slot_labels": tags,
        "tag_position": "first_subtoken",
        "pooling": heads.POOLING_MEAN,
        "oos_threshold": None,
        "encoder": {"path": str(model_path), "parameters": int(backbone.count_params())},
        "parameters": int(model.count_params()),
        "training": {
            "examples": labelled, "skipped_lines": train.skipped, "epochs": fit_epochs,
            "slot_swap_augment": slot_swap_augment, "slot_swap_rate": slot_swap_rate,
            "training_examples": len(train),
            "steps": int(total_steps), "batch_size": batch_size, "learning_rate": learning_rate,
            "max_train_examples": max_train_examples, "slot_weight": slot_weight,
            "dropout": dropout, "warmup_fraction": warmup_fraction,
            "weight_decay": weight_decay, "seed": seed,
            "final_loss": float(history.history["loss"][-1]),
            "seconds": round(time.time() - started, 1),
        },
        "run_config": dataclasses.asdict(config),
    }
    if eval_split != "none":
        split = eval_split or task_registry.default_eval_split(task)
        examples = subsample(task.read(data_dir, split, skip_empty=skip_empty),
                                        max_eval_examples)
        eval_started = time.time()
        scores = evaluate_joint(TaskModel(model, vocabulary, intents, config), examples)
        config["eval"] = {"split": split, "source": examples.source, "metrics": scores,
                          "examples": len(examples),
                          "seconds": round(time.time() - eval_started, 1)}
    save_task_model(output_dir, model, vocabulary, intents, config)
    return config
