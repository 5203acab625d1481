"""The pipeline's stages: what each runs, the settings it records, the stages it reads, and
the check of its output (`_stages(cfg)`, in order).

A stage is a `_Stage`: `run(directory)` makes its output, `check(directory)` validates it
(files present, configs parse, step counts reached) and returns a short summary, or raises
`PipelineError`. `runner.run_pipeline` decides which stages run.
"""

import dataclasses
import hashlib
import os

from mixvocab_tf import model_dirs
from mixvocab_tf.models import pretrained
from mixvocab_tf.corpora import resolve_text_files
from mixvocab_tf.corpora import sample_lines
from mixvocab_tf.stage2.sentence_embedding import distill_from_stage1_table
from mixvocab_tf.stage2.student_distillation import distill_student
from mixvocab_tf.assistant import bundle as assistant
from mixvocab_tf.export import export_tflite
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.stage1.config import Stage1Config
from mixvocab_tf.stage1.teacher_training import train_teacher
from mixvocab_tf.stage2.config import Stage2Config
from mixvocab_tf.pipeline.config import LABEL_CACHE
from mixvocab_tf.pipeline.config import MB
from mixvocab_tf.pipeline.config import PipelineError
from mixvocab_tf.pipeline.config import _is_joint
from mixvocab_tf.pipeline.config import _read_json
from mixvocab_tf.pipeline.config import _student_hidden
from mixvocab_tf.pipeline.config import _teacher_vocab_path
from mixvocab_tf.pipeline.config import distils
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks.configs import DistillTaskConfig
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.configs import flat_config
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.task_distillation import distill_task
from mixvocab_tf.tasks.transfer_text import TransferTextConfig
from mixvocab_tf.training.checkpointing import EXPORT_DIR
from mixvocab_tf.training.config import config_from_keywords
from mixvocab_tf.vocab import Vocabulary
from mixvocab_tf.vocab import learn_vocabulary
from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics

@dataclasses.dataclass
class _Stage:
    name: str
    directory: str
    settings: dict
    inputs: tuple  # names of the stages it reads
    run: callable  # run(directory) -> None
    check: callable  # check(directory) -> summary dict; raises PipelineError


def _need_files(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            raise PipelineError(f"{path} is missing or empty.")


def _file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


# ---- Stage 0 ---------------------------------------------------------------------------------

def _read_corpus_lines(patterns, max_lines, seed):
    return sample_lines(resolve_text_files(list(patterns)), max_lines, seed)


def _run_vocab(cfg, teacher_vocab_path, directory):
    teacher_tokens = Vocabulary.load(teacher_vocab_path).tokens
    # Uncased teacher (no upper-case token): learn an uncased, accent-stripped vocabulary.
    lower_case = not any(t.lower() != t for t in teacher_tokens if not t.startswith("["))
    lines = _read_corpus_lines(cfg.train_files, cfg.vocab_max_lines, cfg.seed)
    held = lines[: max(1, len(lines) // 20)]
    tokens = learn_vocabulary(lines[len(held):], vocab_size=cfg.vocab_size, lower_case=lower_case,
                              max_unique_chars=cfg.vocab_max_unique_chars)
    vocab = Vocabulary(tokens, lower_case=lower_case)
    os.makedirs(directory, exist_ok=True)
    vocab.save(os.path.join(directory, "vocab.txt"))
    stats = vocabulary_statistics(vocab, Vocabulary(teacher_tokens, lower_case), held,
                                  lower_case=lower_case)
    stats.update({"target_vocab_size": cfg.vocab_size, "lower_case": lower_case,
                  "train_lines": len(lines) - len(held), "teacher_vocab": teacher_vocab_path})
    write_json_atomic(os.path.join(directory, "vocab_stats.json"), stats)


def _check_vocab(cfg, directory):
    _need_files(directory, ["vocab.txt", "vocab_stats.json"])
    vocab = Vocabulary.load(os.path.join(directory, "vocab.txt"))
    # learn_vocabulary aims within 2% of the target; allow slack for tiny corpora.
    if not 0.5 * cfg.vocab_size <= vocab.size <= 1.1 * cfg.vocab_size:
        raise PipelineError(f"{directory}/vocab.txt has {vocab.size} tokens, "
                            f"far from the target {cfg.vocab_size}.")
    stats = _read_json(os.path.join(directory, "vocab_stats.json"))
    return {"vocab_size": vocab.size,
            "in_teacher": round(stats.get("student_tokens_in_teacher", 0.0), 3)}


def _ensure_teacher_vocab(cfg, stage):
    """A teacher without a vocab.txt (e.g. a Google checkpoint): write one via load_teacher."""
    if os.path.isfile(stage.settings["teacher_vocab"]):
        return
    loaded = load_teacher(cfg.teacher)
    path = os.path.join(cfg.output_dir, "teacher_vocab.txt")
    Vocabulary(loaded.vocabulary, loaded.lower_case).save(path)
    stage.settings["teacher_vocab"] = path


# ---- Stage I and II --------------------------------------------------------------------------

def _check_trained(directory, kind, extra_files, steps):
    """A finished Stage I or II run: its `kind` (a `model_dirs.ModelKind`) in `export/`, and
    the training steps its config records."""
    export = os.path.join(directory, EXPORT_DIR)
    model_file, config_file = kind.files
    _need_files(export, [model_file, *extra_files, config_file])
    config = _read_json(os.path.join(export, config_file))
    if int(config.get("train_steps", -1)) < steps:
        raise PipelineError(f"{export} stopped at step {config.get('train_steps')} of {steps}.")
    return {"export_dir": export, "train_steps": config["train_steps"],
            "final_metrics": config.get("final_metrics", {})}


def _stage2(cfg, d, train_files, training):
    """Stage II: the masked-LM distillation of the paper, or sentence-embedding distillation
    from the Stage I table (`PipelineConfig.stage2_objective`)."""
    if cfg.stage2_objective == "masked_lm":
        return _Stage(
            "stage2", d["stage2"],
            {"student_size": cfg.student_size, "train_files": train_files,
             "steps": cfg.stage2_steps, "learning_rate": cfg.stage2_learning_rate, **training},
            ("stage1",),
            lambda directory: distill_student(
                config_from_keywords(Stage2Config, student_size=cfg.student_size,
                                     train_steps=cfg.stage2_steps,
                                     learning_rate=cfg.stage2_learning_rate, **training),
                d["stage1"], train_files, directory, verbose=cfg.verbose),
            lambda directory: _check_trained(
                directory, model_dirs.STUDENT, ["vocab.txt"], cfg.stage2_steps))

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
    export = os.path.join(directory, EXPORT_DIR)
    model_file, config_file = model_dirs.STUDENT.files
    _need_files(export, [model_file, "vocab.txt", config_file])
    record = _read_json(os.path.join(export, config_file)).get("sentence_embedding_distillation")
    if not record or int(record.get("train_steps", 0)) < 1:
        raise PipelineError(f"{export} is not a finished sentence-embedding distillation.")
    return {"export_dir": export, "train_steps": record["train_steps"],
            "final_metrics": record.get("final_metrics", {})}


# ---- fine-tuning and export ------------------------------------------------------------------

def _student_head(cfg):
    """The student's sentence vector: `finetune_pooling` and `finetune_ngram_bag_buckets`;
    none for a joint task (it trains heads of its own)."""
    if _is_joint(cfg.task):
        return {}
    return {"pooling": cfg.finetune_pooling, "ngram_bag_buckets": cfg.finetune_ngram_bag_buckets}


def _finetune_stage(cfg, d, student_source, finetune_common):
    """The student's task model, from `student_source`: distilled from the fine-tuned teacher
    (`distils(cfg)`), or fine-tuned on the gold labels. Its settings and inputs here;
    `_run_finetune` trains it."""
    settings = {"task": cfg.task, "data_dir": cfg.data_dir, "epochs": cfg.finetune_epochs,
                "learning_rate": cfg.finetune_learning_rate, **finetune_common}
    # The student's sentence vector (joint tasks train heads of their own). Recorded for
    # every other task: runs made when the default was mean pooling fine-tune again.
    student_head = _student_head(cfg)
    if student_head:
        settings["head"] = student_head
    joint = _is_joint(cfg.task)
    if distils(cfg) and joint:
        settings.update(
            epochs=cfg.joint_distill_epochs, learning_rate=cfg.joint_learning_rate,
            batch_size=cfg.joint_batch_size, method="task_distillation",
            distillation={"augment": cfg.distill_augment,
                          "slot_swap_augment": cfg.joint_slot_swap_augment,
                          "kd_weight": cfg.distill_kd_weight, "hard_weight": 1.0,
                          "temperature": cfg.distill_temperature})
        inputs = ("stage2", "teacher_finetune")
    elif distils(cfg):
        # The plain settings keep their keys, so a --notask_distillation run keeps its record.
        settings.update(
            epochs=cfg.distill_epochs, method="task_distillation",
            distillation={"augment": cfg.distill_augment, "kd_weight": cfg.distill_kd_weight,
                          "hard_weight": 1.0, "temperature": cfg.distill_temperature})
        if cfg.distill_transfer_files:  # recorded only when set: older runs keep their record
            settings["distillation"].update(
                transfer_files=list(cfg.distill_transfer_files),
                transfer_max_lines=cfg.distill_transfer_max_lines)
        inputs = ("stage2", "teacher_finetune")
    else:
        inputs = ("stage2",)
        if joint:
            settings.update(epochs=cfg.joint_epochs, learning_rate=cfg.joint_learning_rate,
                            batch_size=cfg.joint_batch_size)
    return _Stage("finetune", d["finetune"], settings, inputs,
                  lambda directory: _run_finetune(cfg, student_source, d["teacher_finetune"],
                                                  directory),
                  _check_task_model)


def _run_finetune(cfg, student, teacher, directory):
    """Trains the student's task model from `student` into `directory`: `distill_task` from
    the fine-tuned `teacher` (`distils(cfg)`; a joint task with its own epochs, batch and
    rate), else plain `finetuning.finetune` on the gold labels."""
    cache_dir = os.path.join(cfg.output_dir, LABEL_CACHE)
    if distils(cfg) and _is_joint(cfg.task):
        distill_task(
            flat_config(
                DistillTaskConfig, task=cfg.task, augment=cfg.distill_augment,
                slot_swap_augment=cfg.joint_slot_swap_augment, kd_weight=cfg.distill_kd_weight,
                hard_weight=1.0, temperature=cfg.distill_temperature,
                epochs=cfg.joint_distill_epochs, batch_size=cfg.joint_batch_size,
                learning_rate=cfg.joint_learning_rate,
                sequence_length=cfg.finetune_sequence_length, seed=cfg.seed),
            student, teacher, cfg.data_dir, directory, cache_dir=cache_dir, verbose=cfg.verbose)
    elif distils(cfg):
        distill_task(
            flat_config(
                DistillTaskConfig, task=cfg.task, augment=cfg.distill_augment,
                kd_weight=cfg.distill_kd_weight, hard_weight=1.0,
                temperature=cfg.distill_temperature, epochs=cfg.distill_epochs,
                batch_size=cfg.finetune_batch_size, learning_rate=cfg.finetune_learning_rate,
                sequence_length=cfg.finetune_sequence_length,
                transfer_files=tuple(cfg.distill_transfer_files or ()),
                transfer_text=TransferTextConfig(max_lines=cfg.distill_transfer_max_lines or 0),
                seed=cfg.seed, **_student_head(cfg)),
            student, teacher, cfg.data_dir, directory, cache_dir=cache_dir, verbose=cfg.verbose)
    else:
        epochs, learning_rate, batch_size = (
            cfg.finetune_epochs, cfg.finetune_learning_rate, cfg.finetune_batch_size)
        if _is_joint(cfg.task):
            epochs, learning_rate, batch_size = (
                cfg.joint_epochs, cfg.joint_learning_rate, cfg.joint_batch_size)
        finetuning.finetune(
            flat_config(FinetuneConfig, task=cfg.task, epochs=epochs, learning_rate=learning_rate,
                        batch_size=batch_size, sequence_length=cfg.finetune_sequence_length,
                        seed=cfg.seed, normalization=cfg.normalization, **_student_head(cfg)),
            student, cfg.data_dir, directory, verbose=cfg.verbose)


def _check_task_model(directory):
    model_file, config_file = model_dirs.TASK.files
    _need_files(directory, [model_file, "vocab.txt", "labels.txt", config_file])
    config = _read_json(os.path.join(directory, config_file))
    summary = {"parameters": config.get("parameters"),
               "seconds": config.get("training", {}).get("seconds")}
    if "eval" in config:
        summary["eval"] = config["eval"]["metrics"]
    if "distillation" in config:
        summary["distillation"] = {k: config["distillation"].get(k) for k in (
            "augment", "transfer_examples", "teacher_cpu_seconds", "teacher_cache_hit",
            "student_cpu_seconds")}
    return summary


def _export(cfg, source, quantization, input_form, latency=True):
    """The `run` of an export stage: `source`'s task model as TFLite."""
    def run(directory):
        export_tflite(source, directory, quantization=quantization, input_form=input_form,
                      sequence_length=cfg.finetune_sequence_length, data_dir=cfg.data_dir,
                      measure_latency=latency)
    return run


def _check_export(directory):
    _need_files(directory, ["model.tflite", "export_report.json"])
    report = _read_json(os.path.join(directory, "export_report.json"))
    if report["file_size_bytes"] != os.path.getsize(os.path.join(directory, "model.tflite")):
        raise PipelineError(f"{directory}/model.tflite does not match its export report.")
    return {"file_size_mb": round(report["file_size_bytes"] / MB, 3),
            "accuracy": (report.get("accuracy") or {}).get("tflite")}


def _run_android_bundle(cfg, d, directory):
    """The Android bundle, its threshold (on the eval split) and the forms' agreement."""
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


# ---- the stage list --------------------------------------------------------------------------

def _stages(cfg):
    """The stage list for a resolved config."""
    out = cfg.output_dir
    d = {name: os.path.join(out, name) for name in (
        "vocab", "stage1", "stage2", "finetune", "teacher_finetune", "tflite_text", "tflite_ids",
        "tflite_float", "teacher_tflite", "android")}
    teacher_vocab = _teacher_vocab_path(cfg.teacher)
    student_source = os.path.join(d["stage2"], EXPORT_DIR)
    if cfg.pretrained_student:
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
                flat_config(FinetuneConfig, task=cfg.task, epochs=cfg.teacher_finetune_epochs,
                            learning_rate=teacher_rate,
                            max_train_examples=cfg.teacher_finetune_examples, **teacher_common),
                cfg.teacher, cfg.data_dir, directory, verbose=verbose),
            _check_task_model))

    stages = teacher_stages + [
        _Stage("vocab", d["vocab"],
               {"vocab_size": cfg.vocab_size, "max_lines": cfg.vocab_max_lines,
                "max_unique_chars": cfg.vocab_max_unique_chars,
                "train_files": train_files, "teacher_vocab": teacher_vocab, "seed": cfg.seed},
               (), lambda directory: _run_vocab(cfg, teacher_vocab, directory),
               lambda directory: _check_vocab(cfg, directory)),
        _Stage("stage1", d["stage1"],
               {"teacher": cfg.teacher, "train_files": train_files, "steps": cfg.stage1_steps,
                "new_parameter_steps": cfg.stage1_new_parameter_steps,
                "learning_rate": cfg.stage1_learning_rate, **training},
               ("vocab",),
               lambda directory: train_teacher(
                   config_from_keywords(
                       Stage1Config, student_embedding_dim=_student_hidden(cfg.student_size),
                       new_parameter_steps=cfg.stage1_new_parameter_steps,
                       train_steps=cfg.stage1_steps, learning_rate=cfg.stage1_learning_rate,
                       **training),
                   cfg.teacher, os.path.join(d["vocab"], "vocab.txt"), train_files, directory,
                   verbose=verbose),
               lambda directory: _check_trained(
                   directory, model_dirs.STAGE1, ["teacher_vocab.txt", "student_vocab.txt"],
                   cfg.stage1_steps)),
        _stage2(cfg, d, train_files, training),
        _finetune_stage(cfg, d, student_source, finetune_common),
        _Stage("tflite_text", d["tflite_text"],
               {"quantization": cfg.quantization, "input_form": "text"}, ("finetune",),
               _export(cfg, d["finetune"], cfg.quantization, "text"), _check_export),
        _Stage("tflite_ids", d["tflite_ids"],
               {"quantization": cfg.quantization, "input_form": "ids"}, ("finetune",),
               _export(cfg, d["finetune"], cfg.quantization, "ids"), _check_export),
        _Stage("tflite_float", d["tflite_float"],
               {"quantization": "float32", "input_form": "text"}, ("finetune",),
               _export(cfg, d["finetune"], "float32", "text"), _check_export),
        _Stage("android", d["android"],
               {"oos_keep": cfg.oos_keep, "mediapipe": bool(cfg.mediapipe_python),
                "replies": _file_digest(assistant.DEFAULT_REPLIES)},
               ("finetune", "tflite_text", "tflite_ids"),
               lambda directory: _run_android_bundle(cfg, d, directory), _check_android),
    ]
    if cfg.teacher_finetune_examples:
        stages.append(_Stage("teacher_tflite", d["teacher_tflite"],
                             {"quantization": "float32", "input_form": "text"},
                             ("teacher_finetune",),
                             _export(cfg, d["teacher_finetune"], "float32", "text"),
                             _check_export))
    if cfg.pretrained_student:
        stages = _from_pretrained(cfg, stages, student_source)
    return stages


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
