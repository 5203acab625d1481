"""Task-specific distillation: a student task model learns a fine-tuned teacher task model.

The student (a Stage II student, or any encoder `load_encoder` reads) gets a fresh task head
and trains on a transfer set larger than the labelled data:

  * the task's training examples (after any k-shot / subset selection),
  * `augment` word-replaced variants of each of them (`augmentation.py`: teacher embedding
    neighbours or masked-LM guesses; tags stay aligned),
  * unlabelled text (`transfer_files`), labelled by the teacher only.

Loss: `kd_weight` x T^2 KL(teacher_T || student_T) on every transfer example plus
`hard_weight` x cross-entropy to the gold labels of the labelled examples (and of their
variants with `hard_labels_on_augmented`). Slot tagging is distilled per word: teacher and
student tokenise with different vocabularies (30K vs 5K pieces), so the teacher's logits are
read at the first piece of each word in its own tokenisation and the student's at the first
piece of the same word in its tokenisation (`tagging.WordAligner`), and the KL is over words.
Each term is averaged over the examples (or words) that carry it, not over the batch.

The teacher labels each transfer example once, in shards (`teacher_labels.py`): its logits
are written to `cache_dir/teacher_<teacher key>/<shard key>.npz` and reused by every epoch,
every rerun and every larger transfer set that starts with the same examples; a killed pass
resumes from its shards. Unlabelled documents become transfer sentences in
`transfer_text.py` (sentence cutting, filters, the evaluated split refused, a seeded draw).
The result reports the teacher pass and the student pass in CPU seconds separately.

Measured (SNIPS intents, valid 700; a randomly initialised 2x128 student with a 2K vocabulary
learned on SNIPS text, NOT a Stage II student; 200 labelled utterances; 300 steps of batch 32
for every row; teacher: MiniLM fine-tuned on 1,000 utterances, 98.43%):
hard labels only 89.14 / 92.29 (seeds 0 / 1); finetune's soft labels on the 200 alone 92.14;
+ --augment=8 94.57 / 94.86; + 3,000 Wikipedia lines 95.00; + 3,000 unlabelled SNIPS train
utterances 97.29. Teacher pass on 1,800 / 4,800 examples at L=32: 22 / 54 CPU s (0 on a
cached rerun); student pass 24-33 CPU s. SNIPS slots, same student and budget, teacher
MiniLM on 2,000 examples (slot F1 85.41): hard labels only 31.83; --augment=8 32.55; with
--hard_labels_on_augmented 35.30 (a random student learns little tagging in 300 steps).

Why here (in `tasks/`, after `finetuning.py`): it needs task models, readers, heads and the
fine-tuning data path; `export/` comes after `tasks/`, and nothing in `tasks/` imports this
module, so imports still flow one way.

Example:
>>> config = DistillTaskConfig(task="snips", augment=4, replace_rate=0.3)
>>> result = distill_task(config, "runs/stage2", "runs/snips_minilm", "../shared/data",
...                       "runs/snips_kd")
>>> result["distillation"]["teacher_cpu_seconds"], result["eval"]["metrics"]["accuracy"]
"""

import dataclasses
import math
import os
import shutil
import time

import keras
import numpy as np

from mixvocab_tf.layers.word_gather import WordGather
from mixvocab_tf.losses.task import WeightedHardLoss
from mixvocab_tf.losses.task import WeightedKLDivergence
from mixvocab_tf.model_dirs import STAGE1
from mixvocab_tf.model_dirs import model_kind
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.models.stage1_directory import load_stage1
from mixvocab_tf.training.checkpointing import EXPORT_DIR
from mixvocab_tf.training.checkpointing import fit_epochs_resumable
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks import teacher_labels
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.configs import REPLACERS
from mixvocab_tf.tasks.transfer_text import read_transfer_texts
from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.inputs import model_inputs
from mixvocab_tf.tasks.task_model import LABELS_FILE
from mixvocab_tf.tasks.task_model import MODEL_FILE
from mixvocab_tf.tasks.task_model import TaskModel
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.training.length_buckets import predict_by_length
from mixvocab_tf.training.optimization import build_for_fit
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.optimization import unread_pooler_ignored

# Where each transfer example came from.
LABELLED, AUGMENTED, UNLABELLED = 0, 1, 2
DISTILLABLE = (task_registry.CLASSIFICATION, task_registry.PAIR_CLASSIFICATION,
               task_registry.TAGGING)


def build_transfer_set(train, augment=0, replace_rate=0.3, replacer=None, texts=(), pairs=None,
                       seed=0):
    """The transfer set: labelled examples, their variants, then unlabelled text.

    Returns:
      (`readers.Examples`, origin [N] int array of LABELLED / AUGMENTED / UNLABELLED).
      Unlabelled examples carry placeholder labels (the first labelled one's; weight 0).
    """
    parts, origin = [train], [np.full(len(train), LABELLED)]
    if augment:
        if replacer is None:
            raise ValueError("augment > 0 needs a replacer (see augmentation.py).")
        variants = augmentation.augment_examples(train, augment, replace_rate, replacer, seed)
        parts.append(variants)
        origin.append(np.full(len(variants), AUGMENTED))
    if texts:
        texts = list(texts)
        fill = lambda column, value: None if column is None else [value] * len(texts)
        tags = None if train.tags is None else [["O"] * len(t.split()) for t in texts]
        parts.append(readers.Examples(
            texts=texts, text_pairs=pairs, tags=tags, source="transfer files",
            labels=fill(train.labels, train.labels[0] if train.labels else None)))
        origin.append(np.full(len(texts), UNLABELLED))
    examples = dataclasses.replace(
        train.concatenate(*parts[1:], source=f"transfer set from {train.source}"), skipped=0)
    return examples, np.concatenate(origin)


def teacher_cache_key(teacher_dir, teacher, task_type):
    """A hash of what the teacher's outputs depend on: its files and its encoding."""
    return teacher_labels.teacher_key(
        [os.path.join(teacher_dir, name) for name in (MODEL_FILE, LABELS_FILE)],
        [task_type, teacher.sequence_length, teacher.lower_case, teacher.normalization])


def teacher_logits(teacher_dir, task_type, examples, cache_dir=None, batch_size=256,
                   teacher=None, shard_size=teacher_labels.SHARD_SIZE):
    """The teacher's logits on every transfer example, from the cache when it has them.

    Classification: [N, C]. Tagging: per word [N, W, T] (read at each word's first piece in
    the teacher's tokenisation), with a mask [N, W] of the words it saw. Labelled in shards
    (`teacher_labels.sharded_teacher_pass`): a killed pass resumes from the shards written.

    Args:
      teacher_dir: a fine-tuned teacher task model directory.
      task_type: the task's type (must equal the teacher's).
      examples: the transfer set.
      cache_dir: the shard cache root (None: no cache).
      batch_size: teacher inference batch size.
      teacher: the loaded `TaskModel` (loaded from `teacher_dir` when None).
      shard_size: examples a shard.

    Returns:
      (logits, mask, info): info as `sharded_teacher_pass` returns it ("cache_file" is the
      shard folder; "cpu_seconds" and "wall_seconds" cover the shards labelled in this call).
    """
    teacher = teacher or load_task_model(teacher_dir)
    key = teacher_cache_key(teacher_dir, teacher, task_type)
    encoder = InputEncoder.for_task_model(teacher)

    def label_rows(chunk):
        features = encoder.encode_examples(task_type, chunk)
        if task_type == task_registry.TAGGING:
            # Per-token logits keep the full length (word starts index into it).
            logits = teacher.model.predict(model_inputs(features), batch_size=batch_size,
                                           verbose=0)
            starts = features["word_starts"]
            logits = np.take_along_axis(logits, np.maximum(starts, 0)[..., None], axis=1)
            return {"logits": logits.astype(np.float32), "mask": starts >= 0}
        logits = predict_by_length(teacher.model, model_inputs(features), batch_size)
        return {"logits": logits.astype(np.float32), "mask": np.ones(len(chunk), bool)}

    arrays, info = teacher_labels.sharded_teacher_pass(cache_dir, key, examples, label_rows,
                                                       shard_size)
    return arrays["logits"], arrays["mask"], info


def _student_arrays(task_type, examples, origin, labels, teacher_logits_, teacher_mask, encoder,
                    hard_labels_on_augmented):
    """x, and y = {"hard": [.., 2] (label, weight), "soft": [.., C + 1] (logits, weight)}."""
    hard_weight = (origin == LABELLED) | ((origin == AUGMENTED) & hard_labels_on_augmented)
    features = encoder.encode_examples(task_type, examples)
    x = {k: features[k] for k in heads.ENCODER_INPUTS}
    index = {label: i for i, label in enumerate(labels)}
    if task_type == task_registry.TAGGING:
        starts = features["word_starts"]
        width = starts.shape[1]
        word_ids = np.zeros(starts.shape, np.float32)
        for row, tags in enumerate(examples.tags):
            if hard_weight[row]:
                word_ids[row, :len(tags)] = [index.get(t, 0) for t in tags]
        seen = (starts >= 0) & teacher_mask[:, :width]
        x["word_starts"] = starts
        hard = np.stack([word_ids, (seen & hard_weight[:, None]).astype(np.float32)], -1)
        soft = np.concatenate([teacher_logits_[:, :width], seen[..., None].astype(np.float32)], -1)
        return x, {"hard": hard, "soft": soft}
    ids = np.asarray([index.get(l, 0) if h else 0 for l, h in zip(examples.labels, hard_weight)],
                     np.float32)
    hard = np.stack([ids, hard_weight.astype(np.float32)], -1)
    soft = np.concatenate([teacher_logits_, np.ones((len(ids), 1), np.float32)], -1)
    return x, {"hard": hard, "soft": soft}


def _check_gold_labels(task_type, train, labels, teacher_dir):
    gold = ({t for tags in train.tags for t in tags} if task_type == task_registry.TAGGING
            else set(train.labels))
    unknown = sorted(gold - set(labels))
    if unknown:
        raise ValueError(
            f"the training data has labels {unknown[:5]} that the teacher {teacher_dir} does "
            "not predict. Fix: distil from a teacher fine-tuned on the same task and data.")


def make_replacer(kind, teacher, num_candidates, mlm_teacher, sequence_length):
    if kind == "embedding":
        return augmentation.EmbeddingNeighbours.from_task_model(teacher, num_candidates)
    if kind != "mlm":
        raise ValueError(f"replacer must be one of {REPLACERS}, got {kind!r}")
    if not mlm_teacher:
        raise ValueError("replacer='mlm' needs mlm_teacher: a Stage I directory or a teacher "
                         "checkpoint with a masked-LM head.")
    # A Stage I model folder or run folder, else a BERT checkpoint (load_teacher's formats).
    kind = model_kind(mlm_teacher) or model_kind(os.path.join(mlm_teacher, EXPORT_DIR))
    source = load_stage1(mlm_teacher) if kind == STAGE1 else load_teacher(mlm_teacher)
    return augmentation.MaskedLMReplacer.from_teacher(
        source, num_candidates=num_candidates, sequence_length=sequence_length)


def distillation_record(teacher_dir, settings, files, counts, augment_cpu, teacher_info,
                        student_cpu, student_wall):
    """The "distillation" entry of a distilled task model's config: the teacher, the
    settings, the transfer set and the costs of each pass (the pipeline's report reads it)."""
    return {
        "teacher_dir": str(teacher_dir), **settings,
        "transfer_files": files, "transfer_examples": counts,
        "augment_cpu_seconds": round(augment_cpu, 2),
        "teacher_cpu_seconds": teacher_info["cpu_seconds"],
        "teacher_wall_seconds": teacher_info["wall_seconds"],
        "student_cpu_seconds": round(student_cpu, 2),
        "student_wall_seconds": round(student_wall, 2),
        "teacher_cache_file": teacher_info["cache_file"],
        "teacher_cache_hit": teacher_info["cache_hit"],
        "teacher_shards": [teacher_info["shards_cached"], teacher_info["shards"]],
        "teacher_examples_per_second": teacher_info["examples_per_second"],
    }


def check_settings(augment=0, epochs=1, kd_weight=1.0, hard_weight=1.0, temperature=2.0):
    """Raises a ValueError naming the setting when a distillation setting is out of range.

    `distill_task` calls it, and so does the pipeline before its hours of earlier stages.
    """
    if augment < 0:
        raise ValueError(f"augment must be >= 0, got {augment}.")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    if kd_weight < 0 or hard_weight < 0 or kd_weight + hard_weight <= 0:
        raise ValueError(f"kd_weight ({kd_weight}) and hard_weight ({hard_weight}) must be >= 0 "
                         "and not both 0.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")


@configs.accepts_legacy_call(DistillTaskConfig)
def distill_task(config, student_path, teacher_dir, data_dir, output_dir, cache_dir=None,
                 verbose=1):
    """Distils a fine-tuned teacher task model into a student task model.

    Args:
      config: a `DistillTaskConfig` (each setting's meaning: `configs.py`): the task
        (classification, sentence pairs or slot tagging; a joint intent + slot task is
        `joint_distillation.distill_joint`'s), the student's training (epochs are over the
        whole transfer set; None epochs, rate and L: 2, 1e-4 and the teacher's L), its
        sentence head (as in `finetuning.finetune`), the labelled subset (`max_train_examples`,
        `train_selection`, `examples_per_class`: `select_examples` / `select_per_class`;
        augmentation uses only it), the word-replaced variants (`augment`, `replace_rate`,
        `replacer`: "embedding", nearest whole words in the teacher's input embeddings, or
        "mlm", masked-LM guesses of `mlm_teacher`; `num_candidates` K per word), the
        unlabelled `transfer_files` and how they are read (`transfer_text`), and the loss:
        `kd_weight` x KL + `hard_weight` x gold-label cross-entropy at temperature T,
        `hard_labels_on_augmented` (off by default: a replaced word can flip a sentiment;
        the teacher's soft label cannot lie).
      student_path: a Stage II student directory (or any encoder `load_encoder` reads).
      teacher_dir: a teacher task model directory written by `tools/finetune.py` for the
        same task; its labels become the student's.
      data_dir: the data folder (`../shared/data` or its `tasks/`).
      output_dir: the student task model directory to write (atomically).
      cache_dir: where the teacher's logits are cached (default: `teacher_label_cache`
        beside `output_dir`).
      verbose: Keras fit verbosity.

    The old call, `distill_task(task_name, student_path, teacher_dir, data_dir, output_dir,
    augment=..., ...)` with the config's field names (and `max_transfer_lines`) as keywords,
    still works (a DeprecationWarning).

    Returns:
      The task config written to `output_dir/task_config.json`, with "distillation"
      (transfer set sizes, teacher and student CPU seconds, cache file and hit), "eval" and
      the config (epochs, rate and L resolved) as "run_config".
    """
    task = task_registry.get_task(configs.task_of(config))
    if task.type not in DISTILLABLE:
        fix = (" Fix: joint_distillation.distill_joint (tools/distill_task.py picks it)."
               if task.type == task_registry.INTENT_AND_SLOTS else "")
        raise ValueError(f"task distillation supports {DISTILLABLE}; {task.name} is "
                         f"{task.type}.{fix}")
    training = config.training.resolved(joint=False)
    head, data = config.head, config.data
    augment, kd_weight, hard_weight, temperature = (
        config.augment, config.kd_weight, config.hard_weight, config.temperature)
    pooling, ngram_bag_buckets, ngram_bag_dim = (
        head.pooling, head.ngram_bag_buckets, head.ngram_bag_dim)
    max_train_examples, train_selection, examples_per_class = (
        data.max_train_examples, data.train_selection, data.examples_per_class)
    eval_split, skip_empty, seed = data.eval_split, data.skip_empty, training.seed
    replace_rate, replacer, num_candidates = (
        config.replace_rate, config.replacer, config.num_candidates)
    transfer_files, transfer_text = config.transfer_files, config.transfer_text
    check_settings(augment=augment, epochs=training.epochs, kd_weight=kd_weight,
                   hard_weight=hard_weight, temperature=temperature)
    finetuning.check_ngram_bag(task, ngram_bag_buckets, ngram_bag_dim)
    heads.resolve_pooling(pooling, None)  # a bad name fails before the teacher's pass
    keras.utils.set_random_seed(seed)
    teacher = load_task_model(teacher_dir)
    if teacher.task_type != task.type:
        raise ValueError(f"--teacher_dir {teacher_dir} is a {teacher.task_type} model; task "
                         f"{task.name} is {task.type}. Fix: fine-tune the teacher on {task.name}.")
    labels = teacher.labels
    training = training.resolved(joint=False, teacher_sequence_length=teacher.sequence_length)
    config = dataclasses.replace(config, training=training)  # the run, as recorded
    epochs, train_steps, batch_size, learning_rate = (
        training.epochs, training.train_steps, training.batch_size, training.learning_rate)
    sequence_length, dropout = training.sequence_length, training.dropout

    train = task.read(data_dir, "train", skip_empty=skip_empty)
    if examples_per_class is not None:
        train = finetuning.select_per_class(train, examples_per_class, seed)
    train = finetuning.select_examples(train, max_train_examples, train_selection, seed)
    _check_gold_labels(task.type, train, labels, teacher_dir)

    cpu = time.process_time()
    swapper = (make_replacer(replacer, teacher, num_candidates, config.mlm_teacher,
                             teacher.sequence_length) if augment else None)
    texts, pairs, files, transfer_stats = [], None, [], None
    eval_split = None if eval_split == "none" else (
        eval_split or task_registry.default_eval_split(task))
    # Read once: the transfer text may not contain it, and it is scored after training.
    evaluated = task.read(data_dir, eval_split, skip_empty=skip_empty) if eval_split else None
    if transfer_files:
        # The evaluated split is never transfer text. The few-shot rule: a k-shot run never
        # sees the other training utterances, not even unlabelled. (A plain
        # --max_train_examples subset may use them as unlabelled text.)
        protected = [task.split_path(data_dir, eval_split)] if eval_split else []
        if examples_per_class is not None:
            protected.append(task.split_path(data_dir, "train"))
        texts, pairs, transfer_stats = read_transfer_texts(
            transfer_files, task.type, transfer_text, protected,
            evaluation_texts=evaluated.texts if evaluated else (),
            evaluation_name=f"{task.name} {eval_split}")
        files = transfer_stats.pop("files")
    transfer, origin = build_transfer_set(train, augment, replace_rate, swapper, texts, pairs,
                                          seed)
    augment_cpu = time.process_time() - cpu

    cache_dir = cache_dir or os.path.join(os.path.dirname(os.path.abspath(output_dir)),
                                          "teacher_label_cache")
    t_logits, t_mask, teacher_info = teacher_logits(teacher_dir, task.type, transfer, cache_dir,
                                                    teacher=teacher)

    cpu, wall = time.process_time(), time.time()
    backbone, vocabulary, lower_case = load_encoder(student_path)
    pooling = heads.resolve_pooling(pooling, backbone)
    encoder = InputEncoder(vocabulary, lower_case, sequence_length, teacher.normalization)
    x, y = _student_arrays(task.type, transfer, origin, labels, t_logits, t_mask, encoder,
                           config.hard_labels_on_augmented)
    model = heads.build_task_model(backbone, task.type, num_labels=len(labels), dropout=dropout,
                                   pooling=pooling, ngram_bag_buckets=ngram_bag_buckets,
                                   ngram_bag_dim=ngram_bag_dim,
                                   name=f"{task.name.replace(':', '_').replace('/', '_')}_student")
    inputs = dict(model.input)
    logits = model(inputs)
    if task.type == task_registry.TAGGING:
        inputs["word_starts"] = keras.Input(shape=(None,), dtype="int32", name="word_starts")
        logits = WordGather(name="word_logits")(logits, inputs["word_starts"])
    trainer = keras.Model(inputs, {"hard": keras.layers.Identity(name="hard")(logits),
                                   "soft": keras.layers.Identity(name="soft")(logits)})
    steps_per_epoch = math.ceil(len(transfer) / batch_size)
    total_steps = train_steps or epochs * steps_per_epoch
    fit_epochs, fit_steps = (1, train_steps) if train_steps else (epochs, steps_per_epoch)
    trainer.compile(
        optimizer=create_optimizer(learning_rate, total_steps, training.warmup_fraction,
                                   training.weight_decay),
        loss={"hard": WeightedHardLoss(), "soft": WeightedKLDivergence(temperature)},
        loss_weights={"hard": hard_weight, "soft": kd_weight})
    build_for_fit(trainer, x, y)  # one trace of the train step
    dataset = finetuning._dataset(  # noqa: SLF001 (the fine-tuning input pipeline, shared)
        x, y, None, batch_size, seed,
        bucket_length=sequence_length if training.bucket_by_length else None,
        sequence_targets=task.type == task_registry.TAGGING)
    # A killed student pass resumes from its last checkpoint (beside the output, hidden).
    output_path = os.path.abspath(output_dir)
    resume_dir = os.path.join(os.path.dirname(output_path),
                              f".{os.path.basename(output_path)}.resume")
    resume_record = {"run_config": dataclasses.asdict(config), "student": str(student_path),
                     "teacher": teacher_info.get("cache_file"), "examples": len(transfer)}
    with unread_pooler_ignored():
        history, resumed_step = fit_epochs_resumable(trainer, dataset, fit_epochs, fit_steps,
                                                     resume_dir, resume_record, verbose=verbose)
    student_cpu, student_wall = time.process_time() - cpu, time.time() - wall

    counts = {name: int(np.sum(origin == value)) for name, value in
              (("labelled", LABELLED), ("augmented", AUGMENTED), ("unlabelled", UNLABELLED))}
    record = {
        "task": task.name, "type": task.type, "lower_case": lower_case,
        "normalization": teacher.normalization, "sequence_length": sequence_length,
        "metrics": list(task.metrics), "inputs": list(heads.ENCODER_INPUTS),
        "outputs": ["logits"],
        "tag_position": "first_subtoken" if task.type == task_registry.TAGGING else None,
        "pooling": None if task.type == task_registry.TAGGING else pooling,
        "ngram_bag": finetuning.ngram_bag_config(ngram_bag_buckets, ngram_bag_dim),
        "oos_threshold": teacher.config.get("oos_threshold") if task.oos_split else None,
        "oos_label": task_registry.OOS_LABEL if task.oos_split else None,
        "encoder": {"path": str(student_path), "parameters": int(backbone.count_params())},
        "parameters": int(model.count_params()),
        "training": {
            "examples": len(transfer), "epochs": fit_epochs, "steps": int(total_steps),
            "batch_size": batch_size, "learning_rate": learning_rate, "dropout": dropout,
            "max_train_examples": max_train_examples, "train_selection": train_selection,
            "examples_per_class": examples_per_class, "seed": seed,
            "final_loss": float(history.history["loss"][-1]) if history else None,
            "resumed_from_step": resumed_step,
            "seconds": round(student_wall, 1),
        },
        "distillation": distillation_record(
            teacher_dir, {
                "kd_weight": kd_weight, "hard_weight": hard_weight, "temperature": temperature,
                "augment": augment, "replace_rate": replace_rate,
                "replacer": replacer if augment else None, "num_candidates": num_candidates,
                "hard_labels_on_augmented": config.hard_labels_on_augmented,
                "transfer_text": dataclasses.asdict(transfer_text) if transfer_files else None,
                "transfer_text_stats": transfer_stats},
            files, counts, augment_cpu, teacher_info, student_cpu, student_wall),
        "run_config": dataclasses.asdict(config),
    }
    if evaluated is not None:
        oos = task.read(data_dir, task.oos_split, skip_empty=skip_empty) if task.oos_split else None
        scores, details = evaluation.evaluate_examples(
            TaskModel(model, vocabulary, labels, dict(record, labels=labels)), task, evaluated,
            oos, max_examples=data.max_eval_examples)
        record["eval"] = {"split": eval_split, "source": evaluated.source, "metrics": scores,
                          **details}
    save_task_model(output_dir, model, vocabulary, labels, record)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return record

