"""The transfer set of task distillation, and the teacher's labels on it.

Shared by the one-head student pass (`task_distillation`) and the two-head joint pass
(`joint_distillation`): the examples (labelled, their word-replaced variants, unlabelled
text) with where each came from, the word replacer, the teacher's cached sharded logits, the
settings check and the run record's distillation part.
"""

import dataclasses
import os

import numpy as np

from mixvocab_tf.model_dirs import STAGE1
from mixvocab_tf.model_dirs import model_kind
from mixvocab_tf.models.stage1_directory import load_stage1
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import readers
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks import teacher_labels
from mixvocab_tf.tasks.configs import REPLACERS
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.inputs import model_inputs
from mixvocab_tf.tasks.task_model import LABELS_FILE
from mixvocab_tf.tasks.task_model import MODEL_FILE
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.training.checkpointing import EXPORT_DIR
from mixvocab_tf.training.length_buckets import predict_by_length

# Where each transfer example came from.
LABELLED, AUGMENTED, UNLABELLED = 0, 1, 2

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


def teacher_cache_key(teacher_dir, teacher, task_type, *outputs):
    """A hash of what the teacher's outputs depend on: its files and its encoding (and the
    names of any `outputs` beside its logits, so such shards never pass for logits-only ones)."""
    return teacher_labels.teacher_key(
        [os.path.join(teacher_dir, name) for name in (MODEL_FILE, LABELS_FILE)],
        [task_type, teacher.sequence_length, teacher.lower_case, teacher.normalization,
         *outputs])


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


def teacher_features(teacher_dir, task_type, examples, cache_dir=None, batch_size=256,
                     teacher=None, shard_size=teacher_labels.SHARD_SIZE):
    """The teacher's logits and sentence features (its classifier's input) on every transfer
    example, in one sharded, cached pass (`teacher_logits`'s shards hold logits only, so
    these have a key of their own).

    Args:
      as `teacher_logits`; `task_type` is sentence or pair classification.

    Returns:
      (logits [N, C], features [N, D], info).
    """
    if task_type not in (task_registry.CLASSIFICATION, task_registry.PAIR_CLASSIFICATION):
        raise ValueError(f"sentence features are distilled for sentence and pair classification; "
                         f"this task is {task_type}. Fix: leave --feature_weight=0.")
    teacher = teacher or load_task_model(teacher_dir)
    key = teacher_cache_key(teacher_dir, teacher, task_type, "sentence_features")
    encoder = InputEncoder.for_task_model(teacher)
    num_labels, built = len(teacher.labels), []

    def label_rows(chunk):
        if not built:  # built only when a shard is not cached
            built.append(heads.with_sentence_features(teacher.model, concatenated=True))
        outputs = predict_by_length(
            built[0], model_inputs(encoder.encode_examples(task_type, chunk)), batch_size)
        return {"logits": outputs[:, :num_labels].astype(np.float32),
                "features": outputs[:, num_labels:].astype(np.float16)}

    arrays, info = teacher_labels.sharded_teacher_pass(cache_dir, key, examples, label_rows,
                                                       shard_size)
    return arrays["logits"], arrays["features"].astype(np.float32), info


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


def check_settings(augment=0, epochs=1, kd_weight=1.0, hard_weight=1.0, temperature=2.0,
                   feature_weight=0.0):
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
    if feature_weight < 0:
        raise ValueError(f"feature_weight must be >= 0 (0: off), got {feature_weight}.")
