"""The main job: from a pretrained BERT to a quantized on-device task model, in one call.

Stages, in order, each writing one directory under `output_dir`:

  teacher_finetune/ the teacher fine-tuned on the task: the task teacher of `finetune/`, and
                    the report's teacher row
  vocab/            Stage 0: the student WordPiece vocabulary (`learn_vocabulary`)
  stage1/           Stage I: mixed-vocabulary training of the teacher (`train_teacher`)
  stage2/           Stage II: the general student. By default the Stage I table with random
                    layers (`stage2/stage1_table/`) learns the original teacher's sentence
                    vectors (`distill_sentence_embeddings`); `stage2_objective="masked_lm"`:
                    the paper's distillation from the Stage I teacher (`distill_student`)
  finetune/         the student's task model: by default distilled from `teacher_finetune/`
                    on the task's training text (`task_distillation.distill_task`: the teacher's
                    softened probabilities plus the gold labels); `task_distillation=False`:
                    plain fine-tuning on the gold labels (`finetuning.finetune`)
  tflite_text/      the student as dynamic-int8 TFLite, text in (`export_tflite`)
  tflite_ids/       the same, ids in (with vocabulary and labels beside it)
  tflite_float/     the student as float32 TFLite (the report's float row)
  android/          the Android bundle: the ids form with MediaPipe metadata, labels, vocabulary,
                    replies, the out-of-scope threshold and test vectors (`export/assistant.py`),
                    and the top-1 agreement of the runtime forms (`agreement.json`)
  teacher_tflite/   the fine-tuned teacher as float32 TFLite (the report's teacher row)
  .teacher_label_cache/  the teacher's logits on the transfer set (reused while the teacher
                    and the transfer set are unchanged)
  report.md, report.json, tradeoff.png

A stage is skipped when its recorded settings (chained with those of the stages
it reads, so a changed vocabulary reruns everything after it) equal the
requested ones *and* its output validates (files present, configs parse, step
counts reached). A stage whose settings changed, one whose input stage was
just redone, or every stage with `force=True`, is redone from scratch; one that was interrupted with the same
settings resumes (Stage I and II continue from their last checkpoint).

Example:

```python
from mixvocab_tf import pipeline

report = pipeline.run_pipeline(pipeline.PipelineConfig(output_dir="runs/demo"))
print(report["rows"][-1])  # the int8 student: size, parameters, accuracy, latency
```
"""

import dataclasses
import glob
import hashlib
import json
import os
import resource
import shutil
import time

from mixvocab_tf import paths
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.file_io import write_text_atomic

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The embedded default data, shipped with the repository (see data/README.md).
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "data")
STATE_FILE = "pipeline_state.json"
LABEL_CACHE = ".teacher_label_cache"  # hidden: not a stage directory
MB = 1e6  # sizes are reported in MB = 10^6 bytes
STAGE2_OBJECTIVES = ("sentence_embedding", "masked_lm")

# Published peers (../shared/docs/METHOD.md): parameters, and a score where one exists.
# None of them has a published SNIPS figure, so the plot shows them by size only.
PEERS = (
    {"name": "BERT-Tiny", "parameters": 4.4e6, "note": "SST-2 83.2"},
    {"name": "TinyBERT-4", "parameters": 14.5e6, "note": None},
    {"name": "MobileBERT", "parameters": 25.3e6, "note": "62 ms on a Pixel 4"},
    {"name": "DistilBERT", "parameters": 66e6, "note": None},
)


class PipelineError(RuntimeError):
    """A stage finished but its output does not validate."""


@dataclasses.dataclass
class PipelineConfig:
    """Every setting of a pipeline run; the defaults are the embedded demo.

    Attributes:
      output_dir: the run directory (one subdirectory a stage).
      teacher: any path `load_teacher` reads; `None`: the offline all-MiniLM-L6-v2.
      train_files: corpus globs (Stage 0, I and II); `None`: the shipped corpus and
        the task's training utterances (unlabelled text).
      task: a task name of `tasks.task_registry`.
      data_dir: the task data folder; `None`: the shipped `data/tasks`.
      vocab_size, vocab_max_lines: Stage 0 target size and the lines it learns from.
      student_size: a named `StudentEncoder` size.
      sequence_length, batch_size: Stage I and II shapes.
      pack_lines: Stage I and II pack consecutive corpus lines into sequences of
        about `sequence_length` tokens (`False`: one line a sequence).
      pretrained_student: a published student (a name under `pretrained/` or a
        folder, see `mixvocab_tf.pretrained`) to start from: the vocabulary, Stage I
        and Stage II are skipped and fine-tuning starts from it.
      stage1_new_parameter_steps: Stage I's first phase (E_s, P and the MLM head
        only; `train_teacher`'s `new_parameter_steps`), before its `stage1_steps`.
      stage1_steps, stage1_learning_rate, stage2_steps, stage2_learning_rate: training.
      stage2_objective: what Stage II trains the student on. "sentence_embedding" (default):
        the student starts from the Stage I table (its embeddings, random layers) and learns
        the original teacher's mean-pooled sentence vectors on `sentence_count` corpus
        sentences (`distill_sentence_embeddings`; `stage2_steps` and `stage2_learning_rate`
        are not used). "masked_lm": the paper's Stage II (`distill_student`) for
        `stage2_steps`. Measured on BANKING77 10-shot, plain fine-tuning of a 6x128: 73.44
        after sentence-embedding distillation (227K Wikipedia and novel sentences) against
        60.32 after 2,400 masked-LM steps and 63.12 for random weights (README, "What lifts
        it"): at CPU budgets the Stage I teacher is too weak a masked-LM target.
      sentence_count, sentence_epochs, sentence_learning_rate: the sentence-embedding
        objective's sample (sentences from an equal paragraph sample of each corpus file;
        an eighth, at most 2,048, held out for `val_cosine`), passes and peak rate.
      steps_per_loop: checkpoint interval of Stage I and II.
      finetune_epochs, finetune_batch_size, finetune_learning_rate,
      finetune_sequence_length: the student's task training (`finetune_epochs`: plain
        fine-tuning only; the batch, rate and length serve distillation too; the length is
        also the export's).
      finetune_pooling, finetune_ngram_bag_buckets: the student's classification sentence
        vector (`heads.build_task_model`'s `pooling` and `ngram_bag_buckets`; plain and
        distilled, not joint tasks, which keep "auto"). Defaults "auto" (`heads.resolve_pooling`:
        "ngram" for the student) and 0; measured with "mean", "ngram" and 65521 on SST-2 and
        BANKING77 10-shot (README, "A hashed n-gram bag").
      joint_epochs, joint_learning_rate: the student's plain training on a joint intent + slot
        task (`--task=snips_joint --notask_distillation`; the rate serves distillation too).
        Measured on SNIPS valid with the demo's student (argmax slot decoding): 4 epochs at
        3e-4 give slot F1 66.0, 4 at 1e-3 73.7, 12 at 1e-3 86.65 (int8 86.75, intent 98.71).
      joint_batch_size: the student's batch on a joint task, plain or distilled (16; joint
        distillation, 6 epochs: slot F1 91.23 at 16 against 90.11 at 32, one seed each).
      joint_task_distillation, joint_slot_swap_augment, joint_distill_epochs: joint task
        distillation (`distill_joint`, off by default): slot-swapped variants of every training
        utterance (gold labels kept) and passes over the transfer set. Measured on SNIPS valid
        (demo student, batch 16, BIO decoding, int8): plain 12 epochs slot F1 90.68; distilled
        from a MiniLM joint teacher on all 13,084 utterances (95.44; pass
        --teacher_finetune_examples=13084), 1 variant, 6 epochs: 91.17, intent 98.43 against
        98.86. A teacher on the default 4,000 utterances is a weaker one.
      teacher_finetune_examples: training utterances of the fine-tuned teacher (the report's
        teacher row and the task teacher of distillation; 0: neither, which needs
        `task_distillation=False`).
      teacher_finetune_epochs: its epochs.
      task_distillation: the student's task model learns the fine-tuned teacher
        (`distill_task`: KL to its softened probabilities on the transfer set plus
        cross-entropy to the gold labels) instead of the gold labels alone; a joint intent +
        slots task distils both heads (`distill_joint`) with `joint_task_distillation` too.
      distill_augment: word-replaced variants of every training utterance in the transfer set
        (each costs a teacher labelling pass and student steps).
      distill_epochs: passes over the transfer set.
      distill_transfer_files: unlabelled in-domain text (globs) the teacher labels into the
        transfer set, cut into sentences and drawn as `transfer_text.TransferTextConfig`
        says (classification tasks; e.g. IMDB reviews for SST-2). None: the task's own text.
      distill_transfer_max_lines: transfer sentences drawn from them (0: all).
      distill_kd_weight, distill_temperature: the KL term's weight and temperature (the gold
        labels' cross-entropy has weight 1).
      quantization: the student export's quantization.
      normalization: the task models' tokenisation: "mediapipe" (default: what MediaPipe's
        TextClassifier and the app's tokenizer do, so every runtime form gives the same ids
        and the same answer) or "bert".
      oos_keep: the out-of-scope threshold answers this fraction of the eval split (the
        rest, the least confident, get the out-of-scope reply).
      mediapipe_python: the MediaPipe environment's Python (default: `.venv-mediapipe` if
        it exists): adds the MediaPipe metadata to the bundle's model and scores it there.
      strategy: `default|mirrored|multi_worker|tpu` for Stage I and Stage II (the
        sentence-embedding objective's teacher pass runs on one device).
      seed: every stage's seed.
      force: redo every stage.
      verbose: Keras progress bars (1) or one line per epoch (2).
    """

    output_dir: str = "runs/demo"
    teacher: str = None
    train_files: tuple = None
    task: str = "snips"
    data_dir: str = None
    vocab_size: int = 5000
    vocab_max_lines: int = 60_000
    student_size: str = "6x128"
    sequence_length: int = 64
    batch_size: int = 16
    pack_lines: bool = True
    pretrained_student: str = None
    stage1_new_parameter_steps: int = 100
    stage1_steps: int = 200
    stage1_learning_rate: float = 5e-5
    stage2_steps: int = 600
    stage2_learning_rate: float = 5e-4
    stage2_objective: str = "sentence_embedding"
    sentence_count: int = 16_384
    sentence_epochs: float = 1.0
    sentence_learning_rate: float = 1e-3
    steps_per_loop: int = 100
    finetune_epochs: int = 2
    finetune_batch_size: int = 32
    finetune_learning_rate: float = 3e-4
    finetune_sequence_length: int = 32
    finetune_pooling: str = "auto"
    finetune_ngram_bag_buckets: int = 0
    joint_epochs: int = 12
    joint_learning_rate: float = 1e-3
    joint_batch_size: int = 16
    joint_slot_swap_augment: int = 1
    joint_distill_epochs: int = 6
    joint_task_distillation: bool = False
    teacher_finetune_examples: int = 4000
    teacher_finetune_epochs: int = 2
    task_distillation: bool = True
    distill_augment: int = 1
    distill_epochs: int = 3
    distill_kd_weight: float = 1.0
    distill_temperature: float = 2.0
    distill_transfer_files: tuple = None
    distill_transfer_max_lines: int = 0
    quantization: str = "dynamic_int8"
    normalization: str = "mediapipe"
    oos_keep: float = 0.98
    mediapipe_python: str = None
    strategy: str = "default"
    seed: int = 0
    force: bool = False
    verbose: int = 1

    def resolved(self):
        """A copy with the defaults that depend on the machine filled in."""
        teacher = self.teacher or paths.minilm_teacher_path()
        data_dir = self.data_dir or os.path.join(DEFAULT_DATA_DIR, "tasks")
        train_files = self.train_files
        transfer_files = self.distill_transfer_files
        if isinstance(transfer_files, str):
            transfer_files = [p for p in transfer_files.split(",") if p]
        if not train_files:
            train_files = [os.path.join(DEFAULT_DATA_DIR, "corpus", "*.txt")]
            from mixvocab_tf.tasks import task_registry

            # The task's folder: snips, snips_slots and snips_joint share data/tasks/snips,
            # so switching between them keeps stages 0-II.
            folder = getattr(task_registry.get_task(self.task), "subdir", None) or self.task
            utterances = os.path.join(data_dir, folder, "train", "seq.in")
            if os.path.isfile(utterances):
                train_files.append(utterances)
        if isinstance(train_files, str):
            train_files = [p for p in train_files.split(",") if p]
        mediapipe_python = self.mediapipe_python
        if mediapipe_python is None:
            default = os.path.join(REPO_ROOT, ".venv-mediapipe", "bin", "python")
            mediapipe_python = default if os.access(default, os.X_OK) else ""
        return dataclasses.replace(self, teacher=str(teacher), data_dir=str(data_dir),
                                   train_files=tuple(train_files),
                                   distill_transfer_files=tuple(transfer_files or ()) or None,
                                   mediapipe_python=mediapipe_python)


@dataclasses.dataclass
class _Stage:
    name: str
    directory: str
    settings: dict
    inputs: tuple  # names of the stages it reads
    run: callable  # run(directory) -> None
    check: callable  # check(directory) -> summary dict; raises PipelineError


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise PipelineError(f"{path} is missing or unreadable ({error}).") from error


def _need_files(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            raise PipelineError(f"{path} is missing or empty.")


def _fingerprint(settings, upstream):
    text = json.dumps({"settings": settings, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- Stage 0 ---------------------------------------------------------------------------------

def _read_corpus_lines(patterns, max_lines, seed):
    from mixvocab_tf.corpora import resolve_text_files
    from mixvocab_tf.corpora import sample_lines

    return sample_lines(resolve_text_files(list(patterns)), max_lines, seed)


def _run_vocab(cfg, teacher_vocab_path, directory):
    from mixvocab_tf.vocab import Vocabulary
    from mixvocab_tf.vocab import learn_vocabulary
    from mixvocab_tf.vocab import vocabulary_statistics

    teacher_tokens = Vocabulary.load(teacher_vocab_path).tokens
    # Uncased teacher (no upper-case token): learn an uncased, accent-stripped vocabulary.
    lower_case = not any(t.lower() != t for t in teacher_tokens if not t.startswith("["))
    lines = _read_corpus_lines(cfg.train_files, cfg.vocab_max_lines, cfg.seed)
    held = lines[: max(1, len(lines) // 20)]
    tokens = learn_vocabulary(lines[len(held):], vocab_size=cfg.vocab_size, lower_case=lower_case)
    vocab = Vocabulary(tokens, lower_case=lower_case)
    os.makedirs(directory, exist_ok=True)
    vocab.save(os.path.join(directory, "vocab.txt"))
    stats = vocabulary_statistics(vocab, Vocabulary(teacher_tokens, lower_case), held,
                                  lower_case=lower_case)
    stats.update({"target_vocab_size": cfg.vocab_size, "lower_case": lower_case,
                  "train_lines": len(lines) - len(held), "teacher_vocab": teacher_vocab_path})
    write_json_atomic(os.path.join(directory, "vocab_stats.json"), stats)


def _check_vocab(cfg, directory):
    from mixvocab_tf.vocab import Vocabulary

    _need_files(directory, ["vocab.txt", "vocab_stats.json"])
    vocab = Vocabulary.load(os.path.join(directory, "vocab.txt"))
    # learn_vocabulary aims within 2% of the target; allow slack for tiny corpora.
    if not 0.5 * cfg.vocab_size <= vocab.size <= 1.1 * cfg.vocab_size:
        raise PipelineError(f"{directory}/vocab.txt has {vocab.size} tokens, "
                            f"far from the target {cfg.vocab_size}.")
    stats = _read_json(os.path.join(directory, "vocab_stats.json"))
    return {"vocab_size": vocab.size,
            "in_teacher": round(stats.get("student_tokens_in_teacher", 0.0), 3)}


# ---- Stage I and II --------------------------------------------------------------------------

def _check_trained(directory, files, config_name, steps):
    export = os.path.join(directory, "export")
    _need_files(export, files)
    config = _read_json(os.path.join(export, config_name))
    if int(config.get("train_steps", -1)) < steps:
        raise PipelineError(f"{export} stopped at step {config.get('train_steps')} of {steps}.")
    return {"export_dir": export, "train_steps": config["train_steps"],
            "final_metrics": config.get("final_metrics", {})}


# ---- fine-tuning and export ------------------------------------------------------------------

def _check_task_model(directory):
    _need_files(directory, ["model.keras", "vocab.txt", "labels.txt", "task_config.json"])
    config = _read_json(os.path.join(directory, "task_config.json"))
    summary = {"parameters": config.get("parameters"),
               "seconds": config.get("training", {}).get("seconds")}
    if "eval" in config:
        summary["eval"] = config["eval"]["metrics"]
    if "distillation" in config:
        summary["distillation"] = {k: config["distillation"].get(k) for k in (
            "augment", "transfer_examples", "teacher_cpu_seconds", "teacher_cache_hit",
            "student_cpu_seconds")}
    return summary


def _check_export(directory):
    _need_files(directory, ["model.tflite", "export_report.json"])
    report = _read_json(os.path.join(directory, "export_report.json"))
    if report["file_size_bytes"] != os.path.getsize(os.path.join(directory, "model.tflite")):
        raise PipelineError(f"{directory}/model.tflite does not match its export report.")
    return {"file_size_mb": round(report["file_size_bytes"] / MB, 3),
            "accuracy": (report.get("accuracy") or {}).get("tflite")}


def _run_android_bundle(cfg, d, directory):
    """The Android bundle, its threshold (on the eval split) and the forms' agreement."""
    from mixvocab_tf.export import assistant
    from mixvocab_tf.tasks import task_registry

    task = task_registry.get_task(cfg.task)
    examples = task.read(cfg.data_dir, task_registry.default_eval_split(task))
    texts = list(examples.texts)
    # The threshold: confidences of the ids form on the eval split, read as the app reads them.
    bundle = assistant.AssistantBundle.from_export(d["finetune"], d["tflite_ids"])
    logits, _ = bundle.run(bundle.encode(texts))
    confidences = [float(assistant.softmax64(row).max()) for row in logits]
    correct = [bundle.assistant.intents[int(row.argmax())] == gold
               for row, gold in zip(logits, examples.labels)]
    threshold = assistant.choose_threshold(confidences, cfg.oos_keep)
    calibration = {
        "method": f"the {1 - cfg.oos_keep:.2f} quantile of the top softmax probability of the "
                  f"ids form on {task.name} {task_registry.default_eval_split(task)}: "
                  f"{100 * cfg.oos_keep:g}% of in-scope utterances keep their answer",
        **assistant.threshold_report(threshold, confidences, correct, []),
    }
    del calibration["out_of_scope_refused"]
    mediapipe = cfg.mediapipe_python if task.type == "classification" else ""
    summary = assistant.write_android_bundle(
        d["finetune"], d["tflite_ids"], directory, threshold, texts,
        mediapipe_python=mediapipe or None, calibration=calibration)
    one_line = [t for t in texts if "\n" not in t and "\r" not in t]
    predictions = assistant.form_predictions(
        one_line, text_model=os.path.join(d["tflite_text"], "model.tflite"),
        ids_bundle=directory, mediapipe_python=mediapipe if summary["mediapipe_metadata"] else None)
    write_json_atomic(os.path.join(directory, "agreement.json"), {
        "texts": len(one_line), "source": examples.source,
        "forms": sorted(predictions), "top1_agreement": assistant.agreement(predictions),
        "vectors": summary["vectors"], "answers": summary["answers"], "threshold": threshold,
        "calibration": calibration})


def _check_android(directory):
    _need_files(directory, ["model.tflite", "labels.txt", "vocab.txt", "replies.tsv",
                            "assistant.json", "assistant.properties", "test_vectors.tsv",
                            "assistant_vectors.tsv", "agreement.json"])
    agreement = _read_json(os.path.join(directory, "agreement.json"))
    return {"threshold": round(agreement["threshold"], 4),
            "agreement_min": round(min(agreement["top1_agreement"].values() or [1.0]), 4)}


def _stages(cfg):
    """The stage list for a resolved config."""
    from mixvocab_tf.export import export_tflite
    from mixvocab_tf.models.teacher_training import train_teacher
    from mixvocab_tf.tasks import finetuning

    out = cfg.output_dir
    d = {name: os.path.join(out, name) for name in (
        "vocab", "stage1", "stage2", "finetune", "teacher_finetune", "tflite_text", "tflite_ids",
        "tflite_float", "teacher_tflite", "android")}
    teacher_vocab = _teacher_vocab_path(cfg.teacher)
    student_source = os.path.join(d["stage2"], "export")
    if cfg.pretrained_student:
        from mixvocab_tf import pretrained

        student_source = pretrained.student_directory(cfg.pretrained_student)
    verbose = cfg.verbose
    train_files = list(cfg.train_files)
    training = dict(sequence_length=cfg.sequence_length, batch_size=cfg.batch_size,
                    pack_lines=cfg.pack_lines, steps_per_loop=cfg.steps_per_loop,
                    strategy=cfg.strategy, seed=cfg.seed)
    finetune_common = dict(batch_size=cfg.finetune_batch_size,
                           sequence_length=cfg.finetune_sequence_length, seed=cfg.seed,
                           normalization=cfg.normalization)

    teacher_stages = []
    if cfg.teacher_finetune_examples:
        teacher_common, teacher_rate, rate_setting = finetune_common, 1e-4, {}
        if _is_joint(cfg.task):
            # The slot head needs a higher rate and more steps than an intent head: 4,000
            # SNIPS utterances, 2 epochs at 1e-4, batch 32 give slot F1 62.8 (intent 98.7).
            # (The rate enters the settings only here: intent teachers keep their records.)
            teacher_common = dict(finetune_common, batch_size=cfg.joint_batch_size)
            teacher_rate = 2e-4
            rate_setting = {"learning_rate": teacher_rate}
        # First: the student's task model distils from it (and a broken teacher shows early).
        teacher_stages.append(_Stage(
            "teacher_finetune", d["teacher_finetune"],
            {"teacher": cfg.teacher, "task": cfg.task, "data_dir": cfg.data_dir,
             "examples": cfg.teacher_finetune_examples,
             "epochs": cfg.teacher_finetune_epochs, **teacher_common, **rate_setting}, (),
            lambda directory: finetuning.finetune(
                cfg.task, cfg.teacher, cfg.data_dir, directory,
                epochs=cfg.teacher_finetune_epochs, learning_rate=teacher_rate,
                max_train_examples=cfg.teacher_finetune_examples, verbose=verbose,
                **teacher_common),
            _check_task_model))
    finetune_settings = {"task": cfg.task, "data_dir": cfg.data_dir,
                         "epochs": cfg.finetune_epochs,
                         "learning_rate": cfg.finetune_learning_rate, **finetune_common}
    # The student's sentence vector (joint tasks train heads of their own). Recorded for
    # every other task: runs made when the default was mean pooling fine-tune again.
    student_head = {}
    if not _is_joint(cfg.task):
        student_head = {"pooling": cfg.finetune_pooling,
                        "ngram_bag_buckets": cfg.finetune_ngram_bag_buckets}
        finetune_settings["head"] = student_head
    if distils(cfg) and _is_joint(cfg.task):
        from mixvocab_tf.tasks.joint_distillation import distill_joint

        finetune_settings.update(
            epochs=cfg.joint_distill_epochs, learning_rate=cfg.joint_learning_rate,
            batch_size=cfg.joint_batch_size, method="task_distillation",
            distillation={"augment": cfg.distill_augment,
                          "slot_swap_augment": cfg.joint_slot_swap_augment,
                          "kd_weight": cfg.distill_kd_weight, "hard_weight": 1.0,
                          "temperature": cfg.distill_temperature})
        finetune_inputs = ("stage2", "teacher_finetune")

        def run_finetune(directory):
            distill_joint(
                cfg.task, student_source, d["teacher_finetune"], cfg.data_dir, directory,
                augment=cfg.distill_augment, slot_swap_augment=cfg.joint_slot_swap_augment,
                kd_weight=cfg.distill_kd_weight, hard_weight=1.0,
                temperature=cfg.distill_temperature, epochs=cfg.joint_distill_epochs,
                batch_size=cfg.joint_batch_size, learning_rate=cfg.joint_learning_rate,
                sequence_length=cfg.finetune_sequence_length,
                cache_dir=os.path.join(out, LABEL_CACHE), seed=cfg.seed, verbose=verbose)
    elif distils(cfg):
        from mixvocab_tf.tasks.task_distillation import distill_task

        # The plain settings keep their keys, so a --notask_distillation run keeps its record.
        finetune_settings.update(
            epochs=cfg.distill_epochs, method="task_distillation",
            distillation={"augment": cfg.distill_augment, "kd_weight": cfg.distill_kd_weight,
                          "hard_weight": 1.0, "temperature": cfg.distill_temperature})
        if cfg.distill_transfer_files:  # recorded only when set: older runs keep their record
            finetune_settings["distillation"].update(
                transfer_files=list(cfg.distill_transfer_files),
                transfer_max_lines=cfg.distill_transfer_max_lines)
        finetune_inputs = ("stage2", "teacher_finetune")

        def run_finetune(directory):
            distill_task(
                cfg.task, student_source, d["teacher_finetune"], cfg.data_dir, directory,
                augment=cfg.distill_augment, kd_weight=cfg.distill_kd_weight, hard_weight=1.0,
                temperature=cfg.distill_temperature, epochs=cfg.distill_epochs,
                batch_size=cfg.finetune_batch_size, learning_rate=cfg.finetune_learning_rate,
                sequence_length=cfg.finetune_sequence_length,
                transfer_files=(list(cfg.distill_transfer_files)
                                if cfg.distill_transfer_files else None),
                max_transfer_lines=cfg.distill_transfer_max_lines or None,
                cache_dir=os.path.join(out, LABEL_CACHE), seed=cfg.seed, verbose=verbose,
                **student_head)
    else:
        finetune_inputs = ("stage2",)
        epochs, learning_rate = cfg.finetune_epochs, cfg.finetune_learning_rate
        plain_common = finetune_common
        if _is_joint(cfg.task):
            epochs, learning_rate = cfg.joint_epochs, cfg.joint_learning_rate
            plain_common = dict(finetune_common, batch_size=cfg.joint_batch_size)
            finetune_settings.update(epochs=epochs, learning_rate=learning_rate,
                                     batch_size=cfg.joint_batch_size)

        def run_finetune(directory):
            finetuning.finetune(cfg.task, student_source, cfg.data_dir, directory,
                                epochs=epochs, learning_rate=learning_rate, verbose=verbose,
                                **plain_common, **student_head)

    def export(source, quantization, input_form, latency=True):
        def run(directory):
            export_tflite(source, directory, quantization=quantization, input_form=input_form,
                          sequence_length=cfg.finetune_sequence_length, data_dir=cfg.data_dir,
                          measure_latency=latency)
        return run

    stages = teacher_stages + [
        _Stage("vocab", d["vocab"],
               {"vocab_size": cfg.vocab_size, "max_lines": cfg.vocab_max_lines,
                "train_files": train_files, "teacher_vocab": teacher_vocab, "seed": cfg.seed},
               (), lambda directory: _run_vocab(cfg, teacher_vocab, directory),
               lambda directory: _check_vocab(cfg, directory)),
        _Stage("stage1", d["stage1"],
               {"teacher": cfg.teacher, "train_files": train_files, "steps": cfg.stage1_steps,
                "new_parameter_steps": cfg.stage1_new_parameter_steps,
                "learning_rate": cfg.stage1_learning_rate, **training},
               ("vocab",),
               lambda directory: train_teacher(
                   cfg.teacher, os.path.join(d["vocab"], "vocab.txt"), train_files, directory,
                   student_embedding_dim=_student_hidden(cfg.student_size),
                   new_parameter_steps=cfg.stage1_new_parameter_steps,
                   train_steps=cfg.stage1_steps, learning_rate=cfg.stage1_learning_rate,
                   verbose=verbose, **training),
               lambda directory: _check_trained(
                   directory, ["teacher.keras", "teacher_vocab.txt", "student_vocab.txt",
                               "stage1_config.json"], "stage1_config.json", cfg.stage1_steps)),
        _stage2(cfg, d, train_files, training),
        _Stage("finetune", d["finetune"], finetune_settings, finetune_inputs, run_finetune,
               _check_task_model),
        _Stage("tflite_text", d["tflite_text"],
               {"quantization": cfg.quantization, "input_form": "text"}, ("finetune",),
               export(d["finetune"], cfg.quantization, "text"), _check_export),
        _Stage("tflite_ids", d["tflite_ids"],
               {"quantization": cfg.quantization, "input_form": "ids"}, ("finetune",),
               export(d["finetune"], cfg.quantization, "ids"), _check_export),
        _Stage("tflite_float", d["tflite_float"],
               {"quantization": "float32", "input_form": "text"}, ("finetune",),
               export(d["finetune"], "float32", "text"), _check_export),
        _Stage("android", d["android"],
               {"oos_keep": cfg.oos_keep, "mediapipe": bool(cfg.mediapipe_python),
                "replies": _file_digest(_replies_path())},
               ("finetune", "tflite_text", "tflite_ids"),
               lambda directory: _run_android_bundle(cfg, d, directory), _check_android),
    ]
    if cfg.teacher_finetune_examples:
        stages.append(_Stage("teacher_tflite", d["teacher_tflite"],
                             {"quantization": "float32", "input_form": "text"},
                             ("teacher_finetune",),
                             export(d["teacher_finetune"], "float32", "text"), _check_export))
    if cfg.pretrained_student:
        stages = _from_pretrained(cfg, stages, student_source)
    return stages


def _stage2(cfg, d, train_files, training):
    """Stage II: the masked-LM distillation of the paper, or sentence-embedding distillation
    from the Stage I table (`PipelineConfig.stage2_objective`)."""
    from mixvocab_tf.distillation.student_distillation import distill_student

    if cfg.stage2_objective == "masked_lm":
        return _Stage(
            "stage2", d["stage2"],
            {"student_size": cfg.student_size, "train_files": train_files,
             "steps": cfg.stage2_steps, "learning_rate": cfg.stage2_learning_rate, **training},
            ("stage1",),
            lambda directory: distill_student(
                d["stage1"], train_files, directory, student_size=cfg.student_size,
                train_steps=cfg.stage2_steps, learning_rate=cfg.stage2_learning_rate,
                verbose=cfg.verbose, **training),
            lambda directory: _check_trained(
                directory, ["student.keras", "vocab.txt", "config.json"], "config.json",
                cfg.stage2_steps))
    from mixvocab_tf.distillation.sentence_embedding import distill_from_stage1_table

    def run(directory):
        distill_from_stage1_table(
            d["stage1"], cfg.teacher, train_files, directory, sentences=cfg.sentence_count,
            held_out_sentences=min(2048, max(1, cfg.sentence_count // 8)),
            student_size=cfg.student_size, epochs=cfg.sentence_epochs,
            learning_rate=cfg.sentence_learning_rate, sequence_length=cfg.sequence_length,
            steps_per_loop=cfg.steps_per_loop, strategy=cfg.strategy, seed=cfg.seed,
            verbose=cfg.verbose, table_settings=training)

    return _Stage(
        "stage2", d["stage2"],
        {"objective": "sentence_embedding", "student_size": cfg.student_size,
         "teacher": cfg.teacher, "train_files": train_files, "sentences": cfg.sentence_count,
         "epochs": cfg.sentence_epochs, "learning_rate": cfg.sentence_learning_rate,
         "sequence_length": cfg.sequence_length, "seed": cfg.seed},
        ("stage1",), run, _check_sentence_student)


def _check_sentence_student(directory):
    export = os.path.join(directory, "export")
    _need_files(export, ["student.keras", "vocab.txt", "config.json"])
    record = _read_json(os.path.join(export, "config.json")).get("sentence_embedding_distillation")
    if not record or int(record.get("train_steps", 0)) < 1:
        raise PipelineError(f"{export} is not a finished sentence-embedding distillation.")
    return {"export_dir": export, "train_steps": record["train_steps"],
            "final_metrics": record.get("final_metrics", {})}


def _from_pretrained(cfg, stages, source):
    """The stage list without stages 0-II: fine-tuning reads the published student."""
    kept, dropped = [], ("vocab", "stage1", "stage2")
    for stage in stages:
        if stage.name in dropped:
            continue
        if stage.name == "finetune":
            # The cached directory's name holds a digest of the published weights.
            stage = dataclasses.replace(
                stage, inputs=tuple(n for n in stage.inputs if n not in dropped),
                settings=dict(stage.settings, student=source))
        kept.append(stage)
    return kept


def distils(cfg):
    """Whether the student's task model is distilled from the fine-tuned teacher.

    `task_distillation` on a classification task (`distill_task`); on a joint intent + slots
    task (`distill_joint`) only with `joint_task_distillation` as well: there it gained 0.36
    slot F1 (two seeds) for a full-data teacher's cost, so plain training is the default.
    """
    from mixvocab_tf.tasks import task_registry

    task_type = task_registry.get_task(cfg.task).type
    return bool(cfg.task_distillation) and (
        task_type == task_registry.CLASSIFICATION
        or (task_type == task_registry.INTENT_AND_SLOTS and bool(cfg.joint_task_distillation)))


def _is_joint(task_name):
    from mixvocab_tf.tasks import task_registry

    return task_registry.get_task(task_name).type == task_registry.INTENT_AND_SLOTS


def _replies_path():
    from mixvocab_tf.export.assistant import DEFAULT_REPLIES

    return DEFAULT_REPLIES


def _file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _student_hidden(student_size):
    from mixvocab_tf.models.student_encoder import STUDENT_SIZES

    if student_size not in STUDENT_SIZES:
        raise ValueError(f"Unknown student size {student_size!r}. Fix: choose one of "
                         f"{', '.join(STUDENT_SIZES)}.")
    return STUDENT_SIZES[student_size].hidden_dim


def _teacher_vocab_path(teacher):
    """The teacher's vocab.txt (a Hugging Face or keras-hub directory), else via `load_teacher`."""
    for candidate in (os.path.join(teacher, "vocab.txt"),
                      os.path.join(teacher, "assets", "tokenizer", "vocabulary.txt")):
        if os.path.isfile(candidate):
            return candidate
    return teacher  # resolved by the vocab stage through load_teacher


def _validate_inputs(cfg):
    """Fails fast, before any training, on inputs that would fail a later stage."""
    from mixvocab_tf.tasks import task_registry
    from mixvocab_tf.training.strategy import STRATEGIES
    from mixvocab_tf.training.text_data import resolve_text_files

    resolve_text_files(list(cfg.train_files))
    task = task_registry.get_task(cfg.task)
    if task.type not in (task_registry.CLASSIFICATION, task_registry.INTENT_AND_SLOTS):
        raise ValueError(f"--task={cfg.task} is a {task.type} task; the pipeline's report "
                         "scores classification and joint intent + slot tasks. Fix: pick an "
                         "intent or GLUE task, or snips_joint.")
    from mixvocab_tf.preprocessing.normalization import check_normalization

    check_normalization(cfg.normalization)
    from mixvocab_tf.tasks import heads

    poolings = (heads.POOLING_AUTO,) + heads.POOLINGS
    if cfg.finetune_pooling not in poolings:
        raise ValueError(f"Unknown finetune_pooling {cfg.finetune_pooling!r}. Fix: choose one "
                         f"of {poolings}.")
    if ((cfg.finetune_pooling != heads.POOLING_AUTO or cfg.finetune_ngram_bag_buckets)
            and _is_joint(cfg.task)):
        raise ValueError(f"finetune_pooling and finetune_ngram_bag_buckets set a sentence "
                         f"classifier's head; {cfg.task} trains intent and slot heads of their "
                         "own. Fix: change them back to auto and 0 for a joint task.")
    if cfg.finetune_ngram_bag_buckets < 0:
        raise ValueError(f"finetune_ngram_bag_buckets={cfg.finetune_ngram_bag_buckets} must "
                         "be >= 0 (e.g. 65521; 0 for no bag). Fix: change the flag.")
    if distils(cfg):
        if not cfg.teacher_finetune_examples:
            raise ValueError(
                "task_distillation distils the student's task model from the fine-tuned "
                "teacher, but teacher_finetune_examples=0 turns the teacher's fine-tuning off. "
                "Fix: pass --teacher_finetune_examples=N with N > 0 (the demo: 4000), or "
                "--notask_distillation for plain fine-tuning on the gold labels.")
        from mixvocab_tf.tasks import task_distillation

        try:
            task_distillation.check_settings(
                augment=cfg.distill_augment, epochs=cfg.distill_epochs,
                kd_weight=cfg.distill_kd_weight, temperature=cfg.distill_temperature)
        except ValueError as error:
            raise ValueError(f"distill_{error} Fix: change the --distill_* flag.") from None
        if _is_joint(cfg.task) and (cfg.joint_distill_epochs < 1
                                    or cfg.joint_slot_swap_augment < 0):
            raise ValueError(
                f"joint_distill_epochs ({cfg.joint_distill_epochs}) must be >= 1 and "
                f"joint_slot_swap_augment ({cfg.joint_slot_swap_augment}) >= 0. Fix: change "
                "the --joint_* flag.")
    if cfg.stage2_objective not in STAGE2_OBJECTIVES:
        raise ValueError(f"Unknown stage2_objective {cfg.stage2_objective!r}. Fix: choose one "
                         f"of {', '.join(STAGE2_OBJECTIVES)}.")
    if cfg.stage2_objective == "sentence_embedding" and (
            cfg.sentence_count < 1 or cfg.sentence_epochs <= 0):
        raise ValueError(
            f"sentence_count ({cfg.sentence_count}) and sentence_epochs "
            f"({cfg.sentence_epochs}) must be positive. Fix: change the --sentence_* flag.")
    if not 0.0 < cfg.oos_keep <= 1.0:
        raise ValueError(f"oos_keep must be in (0, 1], got {cfg.oos_keep}.")
    if not task.tfds_name and not os.path.isdir(task.split_path(cfg.data_dir, "train")):
        raise FileNotFoundError(f"{task.split_path(cfg.data_dir, 'train')} does not exist. "
                                "Fix: pass --data_dir holding the task's folder.")
    _student_hidden(cfg.student_size)
    if cfg.strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {cfg.strategy!r}; choose one of {STRATEGIES}.")
    if not os.path.isfile(_teacher_vocab_path(cfg.teacher)) and not os.path.exists(cfg.teacher):
        raise FileNotFoundError(f"The teacher {cfg.teacher} does not exist. Fix: pass a "
                                "Hugging Face, keras-hub or Google BERT checkpoint directory.")


def _ensure_teacher_vocab(cfg, stage):
    """A teacher without a vocab.txt (e.g. a Google checkpoint): write one via load_teacher."""
    if os.path.isfile(stage.settings["teacher_vocab"]):
        return
    from mixvocab_tf.models.teacher import load_teacher
    from mixvocab_tf.vocab import Vocabulary

    loaded = load_teacher(cfg.teacher)
    path = os.path.join(cfg.output_dir, "teacher_vocab.txt")
    Vocabulary(loaded.vocabulary, loaded.lower_case).save(path)
    stage.settings["teacher_vocab"] = path


def run_pipeline(config=None, log=print):
    """Runs every stage that is not done, then writes the report.

    Args:
      config: a `PipelineConfig` (default: the embedded demo).
      log: where the per-stage lines go.

    Returns:
      The report dict also written to `output_dir/report.json`.
    """
    cfg = (config or PipelineConfig()).resolved()
    _validate_inputs(cfg)
    if cfg.strategy == "multi_worker":
        # Collectives must be configured before any TensorFlow op (Stage 0 runs some).
        from mixvocab_tf.training.strategy import get_strategy

        get_strategy(cfg.strategy)
    os.makedirs(cfg.output_dir, exist_ok=True)
    state_path = os.path.join(cfg.output_dir, STATE_FILE)
    state = _read_json(state_path) if os.path.isfile(state_path) else {}
    stages = _stages(cfg)
    fingerprints, timings = {}, {}
    started, cpu_started, load_start = time.time(), _cpu_seconds(), os.getloadavg()
    for number, stage in enumerate(stages, 1):
        if stage.name == "vocab":
            _ensure_teacher_vocab(cfg, stage)
        fingerprint = _fingerprint(stage.settings, [fingerprints[n] for n in stage.inputs])
        fingerprints[stage.name] = fingerprint
        record = state.get(stage.name, {})
        label = f"[{number}/{len(stages)}] {stage.name:<16}"
        summary = None
        upstream_ran = [n for n in stage.inputs if timings[n]["status"] == "ran"]
        if upstream_ran:
            pass  # its input was just rebuilt: redo it whatever its record says
        elif not cfg.force and record.get("fingerprint") == fingerprint and record.get("done"):
            try:
                summary = stage.check(stage.directory)
            except PipelineError as error:
                log(f"{label} output invalid ({error}); redoing it")
        if summary is not None:
            timings[stage.name] = {"status": "skipped", "seconds": 0.0, "cpu_seconds": 0.0,
                                   "previous_seconds": record.get("seconds"),
                                   "previous_cpu_seconds": record.get("cpu_seconds")}
            log(f"{label} skipped: done before ({_short(summary)})")
            continue
        # Changed settings (or --force) start over; an interrupted run with the same
        # settings keeps its directory so that Stage I/II resume from their checkpoints.
        if os.path.exists(stage.directory) and (
                cfg.force or upstream_ran or record.get("fingerprint") != fingerprint):
            shutil.rmtree(stage.directory)
        state[stage.name] = {"fingerprint": fingerprint, "done": False,
                             "settings": stage.settings}
        write_json_atomic(state_path, state)
        log(f"{label} running ...")
        stage_started, stage_cpu = time.time(), _cpu_seconds()
        stage.run(stage.directory)
        seconds = round(time.time() - stage_started, 1)
        # CPU seconds as well: on a shared machine wall time says little about the stage.
        cpu = round(_cpu_seconds() - stage_cpu, 1)
        try:
            summary = stage.check(stage.directory)
        except PipelineError as error:
            raise PipelineError(f"stage {stage.name} finished but its output is invalid: "
                                f"{error}") from error
        state[stage.name].update(done=True, seconds=seconds, cpu_seconds=cpu, summary=summary)
        write_json_atomic(state_path, state)
        timings[stage.name] = {"status": "ran", "seconds": seconds, "cpu_seconds": cpu}
        log(f"{label} done in {seconds:.1f} s, {cpu:.1f} CPU s ({_short(summary)})")
    machine = {"cpu_count": os.cpu_count(), "load_average_start": list(load_start),
               "load_average_end": list(os.getloadavg()),
               "cpu_seconds": round(_cpu_seconds() - cpu_started, 1)}
    report = write_report(cfg, timings, time.time() - started, machine)
    log(f"report: {os.path.join(cfg.output_dir, 'report.md')} "
        f"(total {time.time() - started:.1f} s)")
    return report


def _cpu_seconds():
    """User + system CPU seconds of this process and its finished children."""
    return sum(u.ru_utime + u.ru_stime for u in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def _short(summary):
    return ", ".join(f"{k}={v}" for k, v in summary.items()
                     if not isinstance(v, (dict, list)) and k != "export_dir")


# ---- the report ------------------------------------------------------------------------------

def _row(name, export_dir, task_dir):
    report = _read_json(os.path.join(export_dir, "export_report.json"))
    task_config = _read_json(os.path.join(task_dir, "task_config.json"))
    accuracy = report.get("accuracy") or {}
    latency = report.get("latency_ms") or {}
    return {
        "model": name,
        "quantization": report["quantization"],
        "input_form": report["input_form"],
        "size_mb": round(report["file_size_bytes"] / MB, 3),
        "parameters": report["parameter_count"],
        "accuracy_tflite": accuracy.get("tflite"),
        "accuracy_keras": accuracy.get("keras"),
        "slot_f1_tflite": (accuracy.get("slot_f1") or {}).get("tflite"),
        "eval_split": accuracy.get("split"),
        "eval_examples": accuracy.get("examples"),
        "latency_ms_1_thread": latency.get("median_1_thread"),
        "latency_ms_2_threads": latency.get("median_2_threads"),
        "sequence_length": report["sequence_length"],
        "vocabulary_size": report["vocabulary_size"],
        "finetune_examples": task_config["training"]["examples"],
        "tflite": os.path.join(export_dir, "model.tflite"),
    }


def write_report(cfg, timings=None, total_seconds=None, machine=None):
    """Writes `report.json`, `report.md` and `tradeoff.png` from the stage outputs."""
    out = cfg.output_dir
    rows = []
    teacher_name = os.path.basename(os.path.normpath(cfg.teacher))
    if teacher_name == "model" and "minilm" in cfg.teacher.lower():
        teacher_name = "all-MiniLM-L6-v2"  # the offline default's directory is just "model"
    if cfg.teacher_finetune_examples:
        rows.append(_row(f"teacher ({teacher_name})", os.path.join(out, "teacher_tflite"),
                         os.path.join(out, "teacher_finetune")))
    # A published student is named by its folder (its size is in its config).
    student = (os.path.basename(os.path.normpath(cfg.pretrained_student))
               if cfg.pretrained_student else cfg.student_size)
    rows.append(_row(f"student {student} float32", os.path.join(out, "tflite_float"),
                     os.path.join(out, "finetune")))
    rows.append(_row(f"student {student} {cfg.quantization}",
                     os.path.join(out, "tflite_text"), os.path.join(out, "finetune")))
    ids = _read_json(os.path.join(out, "tflite_ids", "export_report.json"))
    if cfg.pretrained_student and not os.path.isfile(os.path.join(out, "vocab", "vocab_stats.json")):
        vocab_stats = _pretrained_vocab_stats(cfg)
    else:
        vocab_stats = _read_json(os.path.join(out, "vocab", "vocab_stats.json"))
    report = {
        "task": cfg.task,
        "rows": rows,
        "ids_form": {"size_mb": round(ids["file_size_bytes"] / MB, 3),
                     "latency_ms_1_thread": (ids.get("latency_ms") or {}).get("median_1_thread"),
                     "tflite": os.path.join(out, "tflite_ids", "model.tflite")},
        "vocabulary": {k: vocab_stats.get(k) for k in (
            "student_vocab_size", "target_vocab_size", "student_tokens_in_teacher",
            "unknown_token_rate", "student_pieces_per_word", "teacher_pieces_per_word")},
        "student_task_model": _student_task_model(out),
        "android": _android_summary(out),
        "peers": list(PEERS),
        "stages": timings or {},
        "total_seconds": round(total_seconds, 1) if total_seconds is not None else None,
        "machine": machine or {},
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "verbose"},
    }
    write_json_atomic(os.path.join(out, "report.json"), report)
    write_text_atomic(os.path.join(out, "report.md"), _markdown(report))
    plot_tradeoff(report, os.path.join(out, "tradeoff.png"))
    return report


def _pretrained_vocab_stats(cfg):
    """What the report says of a published student's vocabulary (no Stage 0 ran)."""
    from mixvocab_tf import pretrained

    directory = pretrained.resolve_student(cfg.pretrained_student)
    with open(os.path.join(directory, pretrained.VOCAB_FILE), encoding="utf-8") as f:
        size = sum(1 for line in f if line.rstrip("\n"))
    return {"student_vocab_size": size, "target_vocab_size": size}


def _student_task_model(out):
    """How the student's task model was trained: distilled (with the teacher labelling and the
    student training costs apart) or fine-tuned, from its own task_config.json."""
    config = _read_json(os.path.join(out, "finetune", "task_config.json"))
    training = config.get("training", {})
    distillation = config.get("distillation")
    if not distillation:
        return {"method": "fine-tuning", "examples": training.get("examples"),
                "epochs": training.get("epochs")}
    teacher = _read_json(os.path.join(distillation["teacher_dir"], "task_config.json"))
    return {
        "method": "task_distillation",
        "teacher_dir": distillation["teacher_dir"],
        "teacher_examples": teacher.get("training", {}).get("examples"),
        "transfer_examples": distillation["transfer_examples"],
        "augment": distillation["augment"],
        "kd_weight": distillation["kd_weight"], "hard_weight": distillation["hard_weight"],
        "temperature": distillation["temperature"], "epochs": training.get("epochs"),
        "learning_rate": training.get("learning_rate"),
        "augment_cpu_seconds": distillation.get("augment_cpu_seconds"),
        "teacher_labelling_cpu_seconds": distillation["teacher_cpu_seconds"],
        "teacher_labelling_wall_seconds": distillation.get("teacher_wall_seconds"),
        "teacher_cache_hit": distillation.get("teacher_cache_hit"),
        "student_cpu_seconds": distillation["student_cpu_seconds"],
        "student_wall_seconds": distillation.get("student_wall_seconds"),
    }


def _epochs(count):
    return f"{count} epoch" + ("" if count == 1 else "s")


def _student_lines(student):
    if not student:
        return []
    if student["method"] != "task_distillation":
        return [f"Student task model: fine-tuned on the gold labels of its {student['examples']:,} "
                f"training examples, {_epochs(student['epochs'])} (no task distillation).", ""]
    counts = student["transfer_examples"]
    cache = (" (cached logits: labelled in an earlier run)" if student["teacher_cache_hit"]
             else "")
    augment = (f", {student['augment_cpu_seconds']:.1f} CPU s making the variants"
               if student["augment"] else "")
    swapped = (f"{counts['slot_swapped']:,} slot-swapped variants, "
               if "slot_swapped" in counts else "")
    return [f"Student task model: distilled from the fine-tuned teacher "
            f"({student['teacher_examples']:,} training examples) by task distillation: transfer "
            f"set {sum(counts.values()):,} examples ({counts['labelled']:,} labelled, "
            f"{swapped}{counts['augmented']:,} augmented variants, augment {student['augment']}, "
            f"{counts['unlabelled']:,} unlabelled); loss {student['kd_weight']:g} x KL to the "
            f"teacher at T={student['temperature']:g} + {student['hard_weight']:g} x "
            f"cross-entropy to the gold labels, {_epochs(student['epochs'])}. Teacher labelling "
            f"{student['teacher_labelling_cpu_seconds']:.1f} CPU s{cache}{augment}; student "
            f"training {student['student_cpu_seconds']:.1f} CPU s "
            f"({student['student_wall_seconds']:.1f} s wall).", ""]


def _android_summary(out):
    path = os.path.join(out, "android", "agreement.json")
    if not os.path.isfile(path):
        return None
    agreement = _read_json(path)
    return {"bundle": os.path.join(out, "android"), "threshold": agreement["threshold"],
            "calibration": agreement["calibration"]["method"],
            "top1_agreement": agreement["top1_agreement"], "texts": agreement["texts"]}


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.2f}"


def _ms(value):
    return "n/a" if value is None else f"{value:.2f}"


def format_table(report):
    """The report's results as a Markdown table."""
    slots = any(row.get("slot_f1_tflite") is not None for row in report["rows"])
    lines = [f"| model | size (MB) | parameters | {report['task']} accuracy (TFLite) | "
             + ("slot F1 (TFLite) | " if slots else "")
             + "latency 1 thread (ms) | latency 2 threads (ms) |",
             "|---|---:|---:|---:|" + ("---:|" if slots else "") + "---:|---:|"]
    for row in report["rows"]:
        lines.append(f"| {row['model']} | {row['size_mb']:.2f} | {row['parameters']:,} | "
                     f"{_pct(row['accuracy_tflite'])} | "
                     + (f"{_pct(row.get('slot_f1_tflite'))} | " if slots else "")
                     + f"{_ms(row['latency_ms_1_thread'])} | "
                     f"{_ms(row['latency_ms_2_threads'])} |")
    return "\n".join(lines)


def _markdown(report):
    rows = report["rows"]
    first = rows[0]
    stage_lines, wall, cpu = [], 0.0, 0.0
    distilled = (report.get("student_task_model") or {}).get("method") == "task_distillation"
    for name, t in report["stages"].items():
        # A skipped stage shows the times of the run that made its output.
        ran = t["status"] == "ran"
        seconds = t["seconds"] if ran else (t.get("previous_seconds") or 0.0)
        cpu_seconds = t["cpu_seconds"] if ran else (t.get("previous_cpu_seconds") or 0.0)
        wall, cpu = wall + seconds, cpu + cpu_seconds
        label = f"{name} (task distillation)" if name == "finetune" and distilled else name
        stage_lines.append(f"| {label} | {t['status']} | {seconds:.1f} | {cpu_seconds:.1f} |")
    stage_lines.append(f"| all stages | | {wall:.1f} | {cpu:.1f} |")
    total = report["total_seconds"]
    return "\n".join([
        f"# Pipeline report: {report['task']}",
        "",
        f"Scores on the `{first['eval_split']}` split ({first['eval_examples']} examples), "
        f"computed by the TFLite models (text in: the tokenizer runs inside the graph); sequence "
        f"length {first['sequence_length']}; latency is the median of single-query calls on "
        "this machine's CPU. Sizes are TFLite files in MB (10^6 bytes), tokenizer and "
        "vocabulary included.",
        "",
        format_table(report),
        "",
        "Task training examples (a distilled student's: its transfer set): " + ", ".join(
            f"{row['model']} {row['finetune_examples']:,}" for row in rows) + ".",
        f"The ids-in form of the quantized student is {report['ids_form']['size_mb']:.2f} MB "
        f"(`{report['ids_form']['tflite']}`).",
        f"Student vocabulary: {report['vocabulary']['student_vocab_size']} tokens "
        f"(target {report['vocabulary']['target_vocab_size']}), "
        f"{100 * (report['vocabulary']['student_tokens_in_teacher'] or 0):.1f}% of them in the "
        "teacher's vocabulary.",
        "",
        *_student_lines(report.get("student_task_model")),
        *_android_lines(report.get("android")),
        "![size against accuracy](tradeoff.png)",
        "",
        "*tradeoff.png*: TFLite file size against task accuracy. The published peers "
        "(BERT-Tiny 4.4M parameters, SST-2 83.2; TinyBERT-4 14.5M; MobileBERT 25.3M; "
        "DistilBERT 66M; from METHOD.md) have no published SNIPS score: they are drawn as "
        "size-only reference lines at their float32 weight size (4 bytes a parameter).",
        "",
        "## Stages",
        "",
        "Wall and CPU seconds of the run that made each stage's output (a skipped stage "
        "keeps its earlier times); the last row is what a run from scratch costs.",
        "",
        "| stage | this time | wall seconds | CPU seconds |",
        "|---|---|---:|---:|",
        *stage_lines,
        "",
        _total_line(total, report["machine"]),
        "",
    ])


def _android_lines(android):
    if not android:
        return []
    pairs = ", ".join(f"{k} {100 * v:.2f}%" for k, v in android["top1_agreement"].items())
    return [f"Android bundle: `{android['bundle']}` (copy it into "
            "`android_demo/app/src/main/assets/`). Out-of-scope threshold "
            f"{android['threshold']:.4f} ({android['calibration']}). Top-1 agreement of the "
            f"runtime forms on {android['texts']} eval texts: {pairs or 'n/a'}.", ""]


def _total_line(total, machine):
    if total is None:
        return ""
    line = f"This invocation: {total:.1f} s wall"
    if machine:
        line += (f", {machine['cpu_seconds']:.1f} CPU s, on {machine['cpu_count']} cores with "
                 f"load average {machine['load_average_start'][0]:.1f} at the start and "
                 f"{machine['load_average_end'][0]:.1f} at the end (other processes included)")
    return line + "."


def plot_tradeoff(report, path):
    """Size (log) against accuracy: this run's models and the peers' sizes, like the paper's figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    rows = [r for r in report["rows"] if r["accuracy_tflite"] is not None]
    low = min([100 * r["accuracy_tflite"] for r in rows] + [90.0]) - 3
    styles = {"teacher": ("s", "tab:gray", 70), "float32": ("o", "tab:blue", 70),
              "int8": ("*", "tab:red", 180)}
    for row in rows:
        kind = "teacher" if row["model"].startswith("teacher") else (
            "float32" if row["quantization"] == "float32" else "int8")
        marker, color, size = styles[kind]
        x, y = row["size_mb"], 100 * row["accuracy_tflite"]
        ax.scatter(x, y, marker=marker, color=color, s=size, zorder=3,
                   label=f"{row['model']} (this run)")
        ax.annotate(f"{x:.1f} MB\n{y:.1f}%", (x, y), textcoords="offset points",
                    xytext=(0, -24), ha="center", fontsize=7)
    sizes = [r["size_mb"] for r in report["rows"]]
    for peer in report["peers"]:
        x = 4 * peer["parameters"] / MB
        sizes.append(x)
        ax.axvline(x, color="tab:green", linestyle=":", linewidth=1)
        text = f"{peer['name']} {peer['parameters'] / 1e6:g}M params"
        if peer.get("note"):
            text += f" ({peer['note']})"
        ax.text(x * 1.03, low + 0.3, text, rotation=90, fontsize=6.5, color="tab:green",
                va="bottom", ha="left")
    ax.plot([], [], color="tab:green", linestyle=":", label="published peers: float32 size only")
    ax.set_xscale("log")
    ax.set_xlim(min(sizes) / 1.6, max(sizes) * 1.6)
    ax.set_ylim(low, 101)
    ax.set_xlabel("model size (MB, log scale)")
    ax.set_ylabel(f"{report['task']} accuracy, TFLite (%)")
    ax.set_title(f"Size against {report['task']} accuracy (the peers have no published "
                 f"{report['task']} score)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def stage_directories(output_dir):
    """The stage directories present under `output_dir` (for tools and tests)."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(output_dir, "*"))
                  if os.path.isdir(p))
