"""Task-specific distillation: a student task model learns a fine-tuned teacher task model.

The student (a Stage II student, or any encoder `load_encoder` reads) gets a fresh task head
and trains on a transfer set larger than the labelled data:

  * the task's training examples (after any k-shot / subset selection),
  * `augment` word-replaced variants of each of them (`augmentation.py`: teacher embedding
    neighbours or masked-LM guesses; tags stay aligned),
  * unlabelled text (`transfer_files`), labelled by the teacher only.

Loss: `kd_weight` x T^2 KL(teacher_T || student_T) on every transfer example plus
`hard_weight` x cross-entropy to the gold labels of the labelled examples (and of their
variants with `hard_labels_on_augmented`), and with `feature_weight` an intermediate term
(TinyBERT's, at the sentence level): the student's sentence features (its classifier's input)
through a learned projection, by cosine distance to the fine-tuned teacher's. Slot tagging is
distilled per word: teacher and student tokenise with different vocabularies (30K vs 5K
pieces), so the teacher's logits are read at the first piece of each word in its own
tokenisation and the student's at the first piece of the same word in its tokenisation
(`tagging.WordAligner`), and the KL is over words.
Each term is averaged over the examples (or words) that carry it, not over the batch.

The teacher labels each transfer example once, in shards (`teacher_labels.py`): its logits
are written to `cache_dir/teacher_<teacher key>/<shard key>.npz` and reused by every epoch,
every rerun and every larger transfer set that starts with the same examples; a killed pass
resumes from its shards. Unlabelled documents become transfer sentences in
`transfer_text.py` (sentence cutting, filters, the evaluated split refused, a seeded draw).
The result reports the teacher pass and the student pass in CPU seconds separately.

What each part of the transfer set is worth: docs/RESULTS.md.

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
from mixvocab_tf.losses.task import WeightedCosineDistance
from mixvocab_tf.losses.task import WeightedHardLoss
from mixvocab_tf.losses.task import WeightedKLDivergence
from mixvocab_tf.losses.task import WeightedLogitMSE
from mixvocab_tf.training.checkpointing import fit_epochs_resumable
from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import joint_distillation
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.transfer_set import AUGMENTED  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.transfer_set import LABELLED  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.transfer_set import UNLABELLED  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.transfer_set import build_transfer_set
from mixvocab_tf.tasks.transfer_set import check_settings
from mixvocab_tf.tasks.transfer_set import distillation_record
from mixvocab_tf.tasks.transfer_set import make_replacer
from mixvocab_tf.tasks.transfer_set import teacher_cache_key  # noqa: F401 (re-exported)
from mixvocab_tf.tasks.transfer_set import teacher_features
from mixvocab_tf.tasks.transfer_set import teacher_logits
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.transfer_text import read_transfer_texts
from mixvocab_tf.models.encoders import load_encoder
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.task_model import TaskModel
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.training.optimization import build_for_fit
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.optimization import unread_pooler_ignored

DISTILLABLE = (task_registry.CLASSIFICATION, task_registry.PAIR_CLASSIFICATION,
               task_registry.TAGGING)


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


def _check_few_shot_subset(teacher_config, examples_per_class, seed, teacher_dir):
    """A k-shot student and its teacher must share one k-shot subset: the seed picks it, and
    a teacher of another seed has seen other training utterances (the few-shot rule)."""
    if examples_per_class is None:
        return
    training = teacher_config.get("training") or {}
    teacher_k, teacher_seed = training.get("examples_per_class"), training.get("seed")
    if teacher_k is None:
        raise ValueError(
            f"--examples_per_class={examples_per_class}, but the teacher {teacher_dir} was "
            "fine-tuned on the whole training split, so a few-shot student would learn from every "
            "training example through it. Fix: fine-tune the teacher with the same "
            "--examples_per_class and --seed.")
    if (teacher_k, teacher_seed) != (examples_per_class, seed):
        raise ValueError(
            f"the teacher {teacher_dir} was fine-tuned on the {teacher_k}-shot subset of seed "
            f"{teacher_seed}; this student's {examples_per_class}-shot subset is seed {seed}'s, "
            "so the two would see two subsets. Fix: pass the teacher's --seed, or fine-tune a "
            "teacher with this --seed.")


@configs.accepts_legacy_call(DistillTaskConfig)
def distill_task(config, student_path, teacher_dir, data_dir, output_dir, cache_dir=None,
                 verbose=1):
    """Distils a fine-tuned teacher task model into a student task model.

    Args:
      config: a `DistillTaskConfig` (each setting's meaning: `configs.py`): the task
        (classification, sentence pairs or slot tagging here; a joint intent + slot task goes
        to `joint_distillation.distill_joint`, which trains both heads), the student's training (epochs are over the
        whole transfer set; None epochs, rate and L: 2, 1e-4 and the teacher's L), its
        sentence head (as in `finetuning.finetune`), the labelled subset (`max_train_examples`,
        `train_selection`, `examples_per_class`: `select_examples` / `select_per_class`;
        augmentation uses only it), the word-replaced variants (`augment`, `replace_rate`,
        `replacer`: "embedding", nearest whole words in the teacher's input embeddings, or
        "mlm", masked-LM guesses of `mlm_teacher`; `num_candidates` K per word), the
        unlabelled `transfer_files` and how they are read (`transfer_text`), and the loss:
        `kd_weight` x KL at temperature T (or x the logits' squared error, `soft_loss="mse"`)
        + `hard_weight` x gold-label cross-entropy (+ `feature_weight` x the cosine distance
        of the student's projected sentence features to the teacher's, `teacher_features`),
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
    if config.soft_loss not in configs.SOFT_LOSSES:
        raise ValueError(f"Unknown soft_loss {config.soft_loss!r}. Fix: pass one of "
                         f"{configs.SOFT_LOSSES}.")
    if task.type == task_registry.INTENT_AND_SLOTS:  # two heads: the joint student pass
        if config.soft_loss != "kl":
            raise ValueError(f"soft_loss={config.soft_loss!r} is for one-head tasks; the joint "
                             f"{task.name} student matches both heads by KL. Fix: leave "
                             "--soft_loss=kl.")
        if config.feature_weight:
            raise ValueError(f"--feature_weight is for one-head tasks; the joint {task.name} "
                             "student matches both heads' logits. Fix: leave --feature_weight=0.")
        if config.data.examples_per_class is not None:
            raise ValueError("--examples_per_class picks k examples a label of a classification "
                             f"task; {task.name} has slots too. Fix: use --max_train_examples.")
        finetuning.check_ngram_bag(task, config.head.ngram_bag_buckets, config.head.ngram_bag_dim)
        return joint_distillation.distill_joint(config, student_path, teacher_dir, data_dir,
                                                output_dir, cache_dir=cache_dir, verbose=verbose)
    if task.type not in DISTILLABLE:
        raise ValueError(f"task distillation supports {DISTILLABLE} and intent + slot tasks; "
                         f"{task.name} is {task.type}.")
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
    feature_weight = config.feature_weight
    check_settings(augment=augment, epochs=training.epochs, kd_weight=kd_weight,
                   hard_weight=hard_weight, temperature=temperature,
                   feature_weight=feature_weight)
    if feature_weight and task.type == task_registry.TAGGING:
        raise ValueError(f"--feature_weight distils sentence features; {task.name} tags words. "
                         "Fix: leave --feature_weight=0.")
    finetuning.check_ngram_bag(task, ngram_bag_buckets, ngram_bag_dim)
    heads.resolve_pooling(pooling, None)  # a bad name fails before the teacher's pass
    keras.utils.set_random_seed(seed)
    teacher = load_task_model(teacher_dir)
    if teacher.task_type != task.type:
        raise ValueError(f"--teacher_dir {teacher_dir} is a {teacher.task_type} model; task "
                         f"{task.name} is {task.type}. Fix: fine-tune the teacher on {task.name}.")
    _check_few_shot_subset(teacher.config, examples_per_class, seed, teacher_dir)
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
    t_features = None
    if feature_weight:
        t_logits, t_features, teacher_info = teacher_features(teacher_dir, task.type, transfer,
                                                              cache_dir, teacher=teacher)
        t_mask = np.ones(len(transfer), bool)
    else:
        t_logits, t_mask, teacher_info = teacher_logits(teacher_dir, task.type, transfer,
                                                        cache_dir, teacher=teacher)

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
    outputs, losses, loss_weights = {}, {}, {}
    if t_features is not None:
        # The student's sentence features through a projection to the teacher's width
        # (TinyBERT's W_h); the projection trains with the student and is not saved.
        logits, features = heads.with_sentence_features(model)(inputs)
        outputs["features"] = keras.layers.Dense(
            t_features.shape[1], name="feature_projection")(features)
        losses["features"], loss_weights["features"] = WeightedCosineDistance(), feature_weight
        y["features"] = np.concatenate(
            [t_features, np.ones((len(t_features), 1), np.float32)], -1)
    else:
        logits = model(inputs)
    if task.type == task_registry.TAGGING:
        inputs["word_starts"] = keras.Input(shape=(None,), dtype="int32", name="word_starts")
        logits = WordGather(name="word_logits")(logits, inputs["word_starts"])
    outputs.update(hard=keras.layers.Identity(name="hard")(logits),
                   soft=keras.layers.Identity(name="soft")(logits))
    trainer = keras.Model(inputs, outputs)
    steps_per_epoch = math.ceil(len(transfer) / batch_size)
    total_steps = train_steps or epochs * steps_per_epoch
    fit_epochs, fit_steps = (1, train_steps) if train_steps else (epochs, steps_per_epoch)
    trainer.compile(
        optimizer=create_optimizer(learning_rate, total_steps, training.warmup_fraction,
                                   training.weight_decay),
        loss={"hard": WeightedHardLoss(),
              "soft": (WeightedLogitMSE() if config.soft_loss == "mse"
                       else WeightedKLDivergence(temperature)), **losses},
        loss_weights={"hard": hard_weight, "soft": kd_weight, **loss_weights})
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
            # The feature term's cosine distance after each epoch (this call's epochs).
            "feature_distance": ([round(float(v), 4) for v in history.history["features_loss"]]
                                 if history and feature_weight else None),
            "resumed_from_step": resumed_step,
            "seconds": round(student_wall, 1),
        },
        "distillation": distillation_record(
            teacher_dir, {
                "kd_weight": kd_weight, "hard_weight": hard_weight, "temperature": temperature,
                "soft_loss": config.soft_loss, "augment": augment, "replace_rate": replace_rate,
                "replacer": replacer if augment else None, "num_candidates": num_candidates,
                "hard_labels_on_augmented": config.hard_labels_on_augmented,
                "feature_weight": feature_weight,
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

