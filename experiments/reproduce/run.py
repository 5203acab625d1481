r"""The paper's claims at this budget: the method against its ablations and a random floor.

Every variant (`method`, `sentence_stage2`, `A_no_stage1`, `B_mlm_only`, `C_teacher_vocab`,
`psv_const0.1`, `psv_const0.5`, `random`) trains at one equal budget (the same Stage I and
Stage II steps, batch, sequence length, data and seed), is fine-tuned the same way on every
task of `--tasks`, exported as dynamic-int8 TFLite and scored again by the TFLite model.
Writes `report.md`, `report.json`, `tradeoff.png` and `mlm_curves.png` in `--output_dir`, a
folder a variant beside them; a finished variant is skipped on rerun, an unfinished one
resumes. `--quick` is a smoke budget; `--jobs=N` runs N variants at once, each in its own
process. What each variant is, the budget and the outputs: experiments/reproduce/README.md.

Example:
  python experiments/reproduce/run.py --output_dir=/tmp/reproduce --quick --jobs=2
  python experiments/reproduce/run.py --output_dir=runs/reproduce --variants=method,random \
    --tasks=sst2,snips
"""

import glob
import gzip
import json
import math
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mixvocab_tf import paths  # noqa: E402
from mixvocab_tf.corpora import iter_lines  # noqa: E402
from mixvocab_tf.corpora import resolve_text_files  # noqa: E402
from mixvocab_tf.corpora import sample_lines  # noqa: E402
from mixvocab_tf.stage2 import sentence_embedding  # noqa: E402
from mixvocab_tf.stage2.config import Stage2Config  # noqa: E402
from mixvocab_tf.stage2.student_distillation import build_student  # noqa: E402
from mixvocab_tf.stage2.student_distillation import distill_student  # noqa: E402
from mixvocab_tf.models.student_directory import save_student_directory  # noqa: E402
from mixvocab_tf.export import export_tflite  # noqa: E402
from mixvocab_tf.file_io import read_json  # noqa: E402
from mixvocab_tf.file_io import write_directory_atomic  # noqa: E402
from mixvocab_tf.file_io import write_json_atomic  # noqa: E402
from mixvocab_tf.file_io import write_text_atomic  # noqa: E402
from mixvocab_tf.models import student_encoder  # noqa: E402
from mixvocab_tf.models.teacher_loading import load_teacher  # noqa: E402
from mixvocab_tf.stage1.config import Stage1Config  # noqa: E402
from mixvocab_tf.stage1.teacher_training import NEW_PARAMETER_PHASE_DIR  # noqa: E402
from mixvocab_tf.stage1.teacher_training import train_teacher  # noqa: E402
from mixvocab_tf.tasks.configs import FinetuneConfig  # noqa: E402
from mixvocab_tf.tasks.configs import flat_config  # noqa: E402
from mixvocab_tf.training.config import config_from_keywords  # noqa: E402
from mixvocab_tf.pipeline.report import markdown_table  # noqa: E402
from mixvocab_tf.pipeline.report import percent  # noqa: E402
from mixvocab_tf.pipeline.report import pyplot  # noqa: E402
from mixvocab_tf.pipeline.report import save_figure  # noqa: E402
from mixvocab_tf.tasks import task_registry  # noqa: E402
from mixvocab_tf.tasks.finetuning import finetune  # noqa: E402
from mixvocab_tf.tasks.selection import select_examples  # noqa: E402
from mixvocab_tf.tasks.selection import select_per_class  # noqa: E402
from mixvocab_tf.vocab import Vocabulary  # noqa: E402
from mixvocab_tf.vocab import learn_vocabulary  # noqa: E402

VARIANTS = ("method", "sentence_stage2", "A_no_stage1", "B_mlm_only", "C_teacher_vocab",
            "psv_const0.1", "psv_const0.5", "random")
# The Stage I run a variant distils from, and how Stage I is set.
STAGE1_OF = {"method": "method", "sentence_stage2": "method", "A_no_stage1": "method", "B_mlm_only": "method",
             "C_teacher_vocab": "C_teacher_vocab", "psv_const0.1": "psv_const0.1",
             "psv_const0.5": "psv_const0.5"}
STAGE1 = {
    "method": {},
    "C_teacher_vocab": {},
    # A constant: start = end; the ramp fraction only shortens the new-parameter phase's ramp
    # from 0 (the library's) to one step.
    "psv_const0.1": dict(p_sv_start=0.1, p_sv_end=0.1, p_sv_ramp_fraction=1e-6),
    "psv_const0.5": dict(p_sv_start=0.5, p_sv_end=0.5, p_sv_ramp_fraction=1e-6),
}
STAGE2 = {
    "method": {},
    "A_no_stage1": dict(init_from_teacher=False),
    "B_mlm_only": dict(mlm_weight=1.0, kd_weight=0.0, hidden_weight=0.0, init_from_teacher=False),
    "C_teacher_vocab": {},
    "psv_const0.1": {},
    "psv_const0.5": {},
}
# Variants whose Stage II never runs the teacher: Stage I only supplies their vocabulary.
NO_TEACHER = ("B_mlm_only",)
# Variants whose Stage II is the pipeline's default: the Stage I table learns the original
# teacher's mean-pooled sentence vectors (`distill_sentence_embeddings`), at the same number of
# optimizer steps as the masked-LM Stage II, on batches of SENTENCE_BATCH sentences.
SENTENCE_VARIANTS = ("sentence_stage2",)
SENTENCE_BATCH = 64
DESCRIPTIONS = {
    "method": "Stage I + II, library defaults (p_sv ramp 0.1 -> 1.0)",
    "sentence_stage2": "method's Stage I, then Stage II by sentence-embedding distillation "
                       "(the pipeline's default): its table learns the teacher's mean-pooled "
                       f"vectors, Stage II steps x {SENTENCE_BATCH} sentences, one pass",
    "A_no_stage1": "Stage II with random student embeddings (method's Stage I teacher)",
    "B_mlm_only": "student by masked LM alone, no teacher",
    "C_teacher_vocab": "teacher's vocabulary for the student (Stage I + II)",
    "psv_const0.1": "Stage I at constant p_sv 0.1, then Stage II",
    "psv_const0.5": "Stage I at constant p_sv 0.5, then Stage II",
    "random": "floor: random weights, no pretraining",
}
# name -> (registry task, fine-tuning overrides). The eval split is the task's default
# (dev for SST-2 and MRPC, valid for BANKING77 and SNIPS).
TASKS = {
    "sst2": ("sst2", dict(sequence_length=64)),
    "banking77_10shot": ("banking77", dict(sequence_length=32, examples_per_class=10)),
    "snips": ("snips", dict(sequence_length=32)),
    "mrpc": ("mrpc", dict(sequence_length=128)),
}
QUICK = dict(stage1_new_parameter_steps=10, stage1_steps=20, stage2_steps=40,
             corpus_max_lines=20_000, vocab_max_lines=5_000, max_train_examples=2_000,
             max_eval_examples=500, finetune_epochs=1, fewshot_epochs=5, eval_steps=5,
             evals_per_stage=2, tasks=["sst2", "banking77_10shot"])
MB = 1e6
RESULT_FILE = "result.json"
TIMING_FILE = "reproduce_timing.json"

flags.DEFINE_string("output_dir", None, "Where every variant's folder and the reports go.")
flags.DEFINE_string("teacher", None, "The BERT teacher (default: the offline all-MiniLM-L6-v2).")
flags.DEFINE_list("train_files", None, "Training corpora (default: the shared Wikipedia and "
                  "ELTeC .txt.gz); the last --eval_lines lines of each are held out.")
flags.DEFINE_string("data_dir", None, "The task data folder (default: the shared data).")
flags.DEFINE_integer("corpus_max_lines", 100_000,
                     "Training lines taken from the start of each file (0: all).")
flags.DEFINE_integer("eval_lines", 500, "Held-out lines split off the end of each file.")
flags.DEFINE_integer("vocab_size", 5000, "Stage 0 target vocabulary size.")
flags.DEFINE_integer("vocab_max_lines", 60_000, "Lines Stage 0 learns from.")
flags.DEFINE_integer("stage1_new_parameter_steps", 100, "Stage I new-parameter phase steps.")
flags.DEFINE_integer("stage1_steps", 200, "Stage I joint-phase steps.")
flags.DEFINE_float("stage1_learning_rate", 5e-5, "Stage I joint-phase peak rate.")
flags.DEFINE_integer("stage2_steps", 600, "Stage II steps.")
flags.DEFINE_float("stage2_learning_rate", 5e-4, "Stage II peak rate.")
flags.DEFINE_integer("batch_size", 16, "Stage I and II batch size.")
flags.DEFINE_integer("sequence_length", 64, "Stage I and II tokens per sequence.")
flags.DEFINE_integer("eval_steps", 20, "Held-out batches per masked-LM score.")
flags.DEFINE_integer("evals_per_stage", 5, "Held-out scores per stage phase (the curves).")
flags.DEFINE_string("student_size", "6x128", "The student (a named size or LxH).")
flags.DEFINE_list("variants", list(VARIANTS), "Variants to run (comma list).")
flags.DEFINE_list("tasks", list(TASKS), "Tasks to fine-tune on (comma list).")
flags.DEFINE_integer("finetune_epochs", 2, "Fine-tuning epochs (full-data tasks).")
flags.DEFINE_integer("fewshot_epochs", 20, "Fine-tuning epochs of k-shot tasks (770 examples).")
flags.DEFINE_integer("finetune_batch_size", 32, "Fine-tuning batch size.")
flags.DEFINE_float("finetune_learning_rate", 3e-4, "Fine-tuning peak rate.")
flags.DEFINE_integer("max_train_examples", 20_000, "Training examples per task, at most (0: all).")
flags.DEFINE_integer("max_eval_examples", 0, "Eval examples per task, at most (0: all).")
flags.DEFINE_enum("finetune_pooling", "auto", ["auto", "mean", "cls", "ngram"],
                  "Fine-tuning's sentence vector (finetune's pooling; auto: ngram for a student).")
flags.DEFINE_integer("seed", 0, "Every stage's seed.")
flags.DEFINE_integer("jobs", 1, "Variants run at once, each in its own process (for "
                     "machines with more cores than one variant keeps busy). Variants that "
                     "read the method's Stage I wait for it.")
flags.DEFINE_boolean("quick", False, "A tiny budget (see experiments/reproduce/README.md); overrides the "
                     "flags it sets unless they are given explicitly.")
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


class ReproduceError(RuntimeError):
    """An input or an existing output folder does not fit the requested run."""


# ---- Small helpers --------------------------------------------------------------------------

def _cpu():
    return time.process_time()


def _timed(path, fn):
    """Runs `fn` unless `path` (its timing record) exists; returns the record.

    A run folder that already holds a checkpoint was killed before: the record is marked
    `resumed`, as its seconds are those of the last invocation only.
    """
    if os.path.isfile(path):
        return read_json(path)
    resumed = any("checkpoint" in files for _, _, files in os.walk(os.path.dirname(path)))
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    record = {"cpu_s": round(_cpu() - cpu, 1), "wall_s": round(time.perf_counter() - wall, 1),
              "resumed": resumed}
    write_json_atomic(path, record)
    return record


def _settings():
    """The settings every variant shares (a changed one makes old outputs unusable)."""
    names = ("teacher", "train_files", "corpus_max_lines", "eval_lines", "vocab_size",
             "vocab_max_lines", "stage1_new_parameter_steps", "stage1_steps",
             "stage1_learning_rate", "stage2_steps", "stage2_learning_rate", "batch_size",
             "sequence_length", "eval_steps", "evals_per_stage", "student_size",
             "finetune_epochs", "fewshot_epochs", "finetune_batch_size",
             "finetune_learning_rate", "max_train_examples", "max_eval_examples", "seed",
             "finetune_pooling")
    return {n: FLAGS[n].value for n in names}


def _apply_quick():
    if not FLAGS.quick:
        return
    for name, value in QUICK.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


# ---- Data and Stage 0 -----------------------------------------------------------------------

def prepare_corpus(output_dir, train_files):
    """Splits the last `--eval_lines` lines off every file: `data/train_<i>.txt.gz`, `data/eval.txt`.

    Returns:
      (train file list, [eval file]).
    """
    directory = os.path.join(output_dir, "data")
    manifest_path = os.path.join(directory, "manifest.json")
    files = resolve_text_files(list(train_files))
    wanted = {"files": [os.path.abspath(f) for f in files], "eval_lines": FLAGS.eval_lines,
              "corpus_max_lines": FLAGS.corpus_max_lines}
    if os.path.isfile(manifest_path):
        manifest = read_json(manifest_path)
        if manifest["settings"] != wanted:
            raise ReproduceError(f"{directory} was split from other corpora or sizes. Fix: use "
                                 "a new --output_dir, or the flags of that run.")
        return manifest["train_files"], [manifest["eval_file"]]
    os.makedirs(directory, exist_ok=True)
    train_paths, held_out, counts = [], [], []
    for i, path in enumerate(files):
        lines = []
        for line in iter_lines([path]):
            line = line.strip()
            if line:
                lines.append(line)
            if FLAGS.corpus_max_lines and len(lines) >= FLAGS.corpus_max_lines + FLAGS.eval_lines:
                break
        if len(lines) < 2 * FLAGS.eval_lines:
            raise ReproduceError(f"{path} has {len(lines)} non-empty lines, too few to hold "
                                 f"out {FLAGS.eval_lines}. Fix: lower --eval_lines.")
        train, held = lines[:len(lines) - FLAGS.eval_lines], lines[len(lines) - FLAGS.eval_lines:]
        out = os.path.join(directory, f"train_{i}.txt.gz")
        tmp = f"{out}.tmp-{os.getpid()}"
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as f:
            f.write("\n".join(train) + "\n")
        os.replace(tmp, out)
        train_paths.append(out)
        held_out.extend(held)
        counts.append({"file": path, "train_lines": len(train), "eval_lines": len(held)})
    eval_path = os.path.join(directory, "eval.txt")
    write_text_atomic(eval_path, "\n".join(held_out) + "\n")
    write_json_atomic(manifest_path, {"settings": wanted, "train_files": train_paths,
                                      "eval_file": eval_path, "counts": counts})
    return train_paths, [eval_path]


def learn_student_vocab(output_dir, teacher, train_files):
    """Stage 0 (`vocab/vocab.txt`) and the teacher's vocabulary (`teacher_vocab/vocab.txt`)."""
    student_path = os.path.join(output_dir, "vocab", "vocab.txt")
    teacher_path = os.path.join(output_dir, "teacher_vocab", "vocab.txt")
    if not os.path.isfile(teacher_path):
        loaded = load_teacher(teacher)
        os.makedirs(os.path.dirname(teacher_path), exist_ok=True)
        Vocabulary(loaded.vocabulary, loaded.lower_case).save(teacher_path)
    # An uncased teacher (no upper-case token): an uncased student vocabulary (as the pipeline).
    lower_case = not any(t.lower() != t for t in Vocabulary.load(teacher_path).tokens
                         if not t.startswith("["))

    def learn():
        lines = sample_lines(train_files, FLAGS.vocab_max_lines, FLAGS.seed)
        tokens = learn_vocabulary(lines, vocab_size=FLAGS.vocab_size, lower_case=lower_case)
        os.makedirs(os.path.dirname(student_path), exist_ok=True)
        Vocabulary(tokens, lower_case=lower_case).save(student_path)

    timing = _timed(os.path.join(output_dir, "vocab", TIMING_FILE), learn)
    return student_path, teacher_path, lower_case, timing


# ---- Stage I, Stage II, the floor -----------------------------------------------------------

def _hidden_dim():
    return student_encoder.student_size(FLAGS.student_size).hidden_dim


def _loop(steps):
    return max(int(math.ceil(steps / max(FLAGS.evals_per_stage, 1))), 1)


def run_stage1(output_dir, name, teacher, vocab, train_files, eval_files):
    """The Stage I run `name` in `<output_dir>/<name>/stage1`; returns its timing record."""
    model_dir = os.path.join(output_dir, name, "stage1")
    new_steps = FLAGS.stage1_new_parameter_steps
    config = config_from_keywords(
        Stage1Config, student_embedding_dim=_hidden_dim(), new_parameter_steps=new_steps,
        train_steps=FLAGS.stage1_steps, learning_rate=FLAGS.stage1_learning_rate,
        sequence_length=FLAGS.sequence_length, batch_size=FLAGS.batch_size,
        # One loop is one checkpoint and one held-out score; the new-parameter phase loops
        # at min(this, its steps), so give it the same number of points.
        steps_per_loop=_loop(FLAGS.stage1_steps) if not new_steps else min(
            _loop(FLAGS.stage1_steps), _loop(new_steps)),
        eval_steps=FLAGS.eval_steps, seed=FLAGS.seed, **STAGE1[name])
    return _timed(os.path.join(model_dir, TIMING_FILE), lambda: train_teacher(
        config, teacher, vocab, train_files, model_dir, eval_files=eval_files, verbose=2))


def run_stage2(output_dir, name, teacher, train_files, eval_files):
    """Stage II of variant `name` in `<output_dir>/<name>/stage2`; returns its timing record."""
    model_dir = os.path.join(output_dir, name, "stage2")
    stage1_dir = os.path.join(output_dir, STAGE1_OF[name], "stage1")
    if name in SENTENCE_VARIANTS:
        return _timed(os.path.join(model_dir, TIMING_FILE), lambda: run_sentence_stage2(
            stage1_dir, teacher, train_files, eval_files, model_dir))
    config = config_from_keywords(
        Stage2Config, student_size=FLAGS.student_size, train_steps=FLAGS.stage2_steps,
        learning_rate=FLAGS.stage2_learning_rate, sequence_length=FLAGS.sequence_length,
        batch_size=FLAGS.batch_size, steps_per_loop=_loop(FLAGS.stage2_steps),
        eval_steps=FLAGS.eval_steps, seed=FLAGS.seed, **STAGE2[name])
    return _timed(os.path.join(model_dir, TIMING_FILE), lambda: distill_student(
        config, stage1_dir, train_files, model_dir, eval_files=eval_files, verbose=2))


def run_sentence_stage2(stage1_dir, teacher, train_files, eval_files, model_dir):
    """The pipeline's Stage II (`distill_from_stage1_table`) at the masked-LM Stage II's
    optimizer steps."""
    sentences = FLAGS.stage2_steps * SENTENCE_BATCH
    sentence_embedding.distill_from_stage1_table(
        stage1_dir, teacher, train_files, model_dir, sentences=sentences,
        held_out_sentences=min(2048, max(SENTENCE_BATCH, sentences // 8)),
        student_size=FLAGS.student_size, batch_size=SENTENCE_BATCH,
        sequence_length=FLAGS.sequence_length, steps_per_loop=_loop(FLAGS.stage2_steps),
        seed=FLAGS.seed, verbose=2,
        table_settings=dict(eval_files=eval_files, sequence_length=FLAGS.sequence_length,
                            batch_size=FLAGS.batch_size, eval_steps=FLAGS.eval_steps,
                            seed=FLAGS.seed))


def write_random_student(directory, vocab_path, lower_case):
    """The floor: `build_student` of the method's shape and vocabulary, random weights."""
    if os.path.isfile(os.path.join(directory, "config.json")):
        return
    keras.utils.set_random_seed(FLAGS.seed)
    vocabulary = Vocabulary.load(vocab_path, lower_case)
    student = build_student(vocabulary.size, _hidden_dim(), FLAGS.student_size)
    config = {"lower_case": vocabulary.lower_case, "sequence_length": FLAGS.sequence_length,
              "student_size": FLAGS.student_size, "num_layers": student.num_layers,
              "hidden_dim": student.hidden_dim, "parameters": int(student.count_params()),
              "teacher_dir": None, "train_steps": 0, "init": "random"}
    write_directory_atomic(directory, lambda d: save_student_directory(
        d, student, vocabulary, config))


# ---- Fine-tuning and export -----------------------------------------------------------------

def _data_dir():
    return FLAGS.data_dir or os.path.join(paths.shared_data_dir(), "tasks")


def run_task(variant_dir, student_dir, task):
    """Fine-tunes, exports int8 (text in; sentence pairs ids in, the text form takes one
    string) and scores `task`; returns the task's row."""
    registry_name, overrides = TASKS[task]
    pairs = task_registry.get_task(registry_name).type == task_registry.PAIR_CLASSIFICATION
    overrides = dict(overrides)
    sequence_length = overrides.pop("sequence_length")
    fewshot = "examples_per_class" in overrides
    base = os.path.join(variant_dir, "tasks", task)
    finetune_dir, int8_dir = os.path.join(base, "finetune"), os.path.join(base, "int8")
    max_eval = FLAGS.max_eval_examples or None
    finetune_timing = _timed(os.path.join(base, "finetune_" + TIMING_FILE), lambda: finetune(
        flat_config(
            FinetuneConfig, task=registry_name,
            epochs=FLAGS.fewshot_epochs if fewshot else FLAGS.finetune_epochs,
            batch_size=FLAGS.finetune_batch_size, learning_rate=FLAGS.finetune_learning_rate,
            sequence_length=sequence_length,
            max_train_examples=FLAGS.max_train_examples or None, max_eval_examples=max_eval,
            seed=FLAGS.seed, pooling=FLAGS.finetune_pooling, **overrides),
        student_dir, _data_dir(), finetune_dir, verbose=2))
    export_timing = _timed(os.path.join(base, "int8_" + TIMING_FILE), lambda: export_tflite(
        finetune_dir, int8_dir, quantization="dynamic_int8",
        input_form="ids" if pairs else "text",
        sequence_length=sequence_length, data_dir=_data_dir(), max_eval_examples=max_eval,
        measure_latency=False))
    config = read_json(os.path.join(finetune_dir, "task_config.json"))
    export = read_json(os.path.join(int8_dir, "export_report.json"))
    accuracy = export.get("accuracy") or {}
    return {"task": registry_name, "split": accuracy.get("split"),
            "examples": accuracy.get("examples"), "metric": accuracy.get("metric"),
            "float": accuracy.get("keras"), "int8": accuracy.get("tflite"),
            "finetune_eval_metrics": config.get("eval", {}).get("metrics"),
            "train_examples": config["training"]["examples"],
            "int8_size_mb": round(export["file_size_bytes"] / MB, 3),
            "parameters": export["parameter_count"],
            "cpu_s": {"finetune": finetune_timing["cpu_s"], "export": export_timing["cpu_s"]}}


# ---- Masked-LM curves from the run logs -----------------------------------------------------

def read_scalars(log_dir):
    """{tag: [(loop, value), ...]} of the TensorBoard event files under `log_dir`."""
    scalars = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    continue
                scalars.setdefault(value.tag, {})[int(event.step)] = number
    return {tag: sorted(points.items()) for tag, points in scalars.items()}


def mlm_curve(run_dir, offset=0, suffix="mlm_accuracy"):
    """Held-out masked-LM accuracies (or another metric, by its name's `suffix`) over
    optimizer steps of one fit_resumable run folder."""
    flags_path = os.path.join(run_dir, "flags.json")
    loop = None
    if os.path.isfile(flags_path):
        loop = read_json(flags_path).get("steps_per_loop")
    scalars = read_scalars(os.path.join(run_dir, "logs", "validation"))
    return {tag[len("epoch_"):]: [[offset + (epoch + 1) * (loop or 1), round(v, 5)]
                                  for epoch, v in points]
            for tag, points in scalars.items()
            if tag.startswith("epoch_") and tag.endswith(suffix)}


def stage1_summary(stage1_dir):
    """End-point and curves of a Stage I run (both phases, steps counted from the first)."""
    config = read_json(os.path.join(stage1_dir, "export", "stage1_config.json"))
    run_flags = read_json(os.path.join(stage1_dir, "flags.json"))
    new_steps = int(config.get("new_parameter_steps") or 0)
    phase_dir = os.path.join(stage1_dir, NEW_PARAMETER_PHASE_DIR)
    curves = {}
    if new_steps and os.path.isdir(phase_dir):
        loop = min(run_flags["steps_per_loop"], new_steps)
        scalars = read_scalars(os.path.join(phase_dir, "logs", "validation"))
        for tag, points in scalars.items():
            if tag.startswith("epoch_") and tag.endswith("mlm_accuracy"):
                curves[tag[len("epoch_"):]] = [[(e + 1) * loop, round(v, 5)] for e, v in points]
    for name, points in mlm_curve(stage1_dir, offset=new_steps).items():
        curves.setdefault(name, []).extend(points)
    final = config.get("final_metrics") or {}
    return {"new_parameter_steps": new_steps, "joint_steps": FLAGS.stage1_steps,
            "p_sv": {k: run_flags.get(k) for k in ("p_sv_start", "p_sv_end",
                                                   "p_sv_ramp_fraction")},
            "student_vocabulary_size": config.get("student_vocabulary_size"),
            "end": {k: final.get(k) for k in ("val_teacher_mlm_accuracy",
                                              "val_student_mlm_accuracy",
                                              "val_full_sv_student_mlm_accuracy")},
            "curves": curves}


def stage2_summary(stage2_dir):
    config = read_json(os.path.join(stage2_dir, "export", "config.json"))
    record = config.get("sentence_embedding_distillation")
    if record:
        final = record.get("final_metrics") or {}
        return {"objective": "sentence_embedding", "steps": record.get("train_steps"),
                "sentences": record.get("sentences"), "parameters": config.get("parameters"),
                "start": {"val_cosine": record.get("held_out_cosine_start")},
                "end": {"val_cosine": final.get("val_cosine"), "val_mlm_accuracy": None},
                "curves": mlm_curve(stage2_dir, suffix="cosine")}
    final = config.get("final_metrics") or {}
    return {"steps": config.get("train_steps"), "parameters": config.get("parameters"),
            "start": config.get("start_metrics") or {},
            "end": {k: final.get(k) for k in ("val_mlm_accuracy", "val_teacher_mlm_accuracy")},
            "curves": mlm_curve(stage2_dir)}


# ---- A variant ------------------------------------------------------------------------------

def run_variant(output_dir, name, inputs, log=print):
    """Trains, fine-tunes and scores variant `name`; returns its (saved) result."""
    variant_dir = os.path.join(output_dir, name)
    result_path = os.path.join(variant_dir, RESULT_FILE)
    settings = _settings()
    if os.path.isfile(result_path):
        result = read_json(result_path)
        if result.get("settings") != settings:
            raise ReproduceError(f"{variant_dir} holds a run with other settings. Fix: use a "
                                 "new --output_dir, or the flags of that run.")
        if all(t in result["tasks"] for t in FLAGS.tasks):
            log(f"[{name}] finished earlier: skipped")
            return result
    os.makedirs(variant_dir, exist_ok=True)
    result = {"variant": name, "description": DESCRIPTIONS[name], "settings": settings,
              "cpu_s": {}, "stage1": None, "stage2": None, "tasks": {}}
    if name == "random":
        student_dir = os.path.join(variant_dir, "student")
        write_random_student(student_dir, inputs["vocab"], inputs["lower_case"])
    else:
        stage1_name = STAGE1_OF[name]
        vocab = inputs["teacher_vocab"] if stage1_name == "C_teacher_vocab" else inputs["vocab"]
        log(f"[{name}] Stage I ({stage1_name})")
        stage1_timing = run_stage1(output_dir, stage1_name, inputs["teacher"], vocab,
                                   inputs["train_files"], inputs["eval_files"])
        log(f"[{name}] Stage II")
        stage2_timing = run_stage2(output_dir, name, inputs["teacher"], inputs["train_files"],
                                   inputs["eval_files"])
        stage1_dir = os.path.join(output_dir, stage1_name, "stage1")
        result["stage2"] = stage2_summary(os.path.join(variant_dir, "stage2"))
        result["cpu_s"]["stage2"] = stage2_timing["cpu_s"]
        result["cpu_s"]["stage2_resumed"] = bool(stage2_timing.get("resumed"))
        if name not in NO_TEACHER:
            result["stage1"] = {"run": stage1_name, **stage1_summary(stage1_dir)}
            # A Stage I shared with `method` (A) is charged to it once, but listed here too.
            result["cpu_s"]["stage1"] = stage1_timing["cpu_s"]
            result["cpu_s"]["stage1_shared"] = stage1_name != name
            result["cpu_s"]["stage1_resumed"] = bool(stage1_timing.get("resumed"))
        student_dir = os.path.join(variant_dir, "stage2", "export")
    for task in FLAGS.tasks:
        log(f"[{name}] {task}: fine-tune, export int8, score")
        result["tasks"][task] = run_task(variant_dir, student_dir, task)
    rows = result["tasks"].values()
    result["cpu_s"]["finetune_and_export"] = round(sum(
        r["cpu_s"]["finetune"] + r["cpu_s"]["export"] for r in rows), 1)
    result["average"] = {k: _mean([r[k] for r in rows]) for k in ("float", "int8")}
    sizes = [r["int8_size_mb"] for r in rows]
    result["int8_size_mb"] = round(sum(sizes) / len(sizes), 3) if sizes else None
    write_json_atomic(result_path, result)
    return result


def variant_waves(variants):
    """`variants` in the order a parallel run (`--jobs`) may start them: two waves, each
    free of shared Stage I runs. A variant that reads another's Stage I (A, B and
    sentence_stage2 read the method's) waits for the second wave, unless no variant of the
    first makes that Stage I; then the first such variant makes it in the first wave.

    Example:
    >>> variant_waves(["A_no_stage1", "B_mlm_only", "random"])
    [['random', 'A_no_stage1'], ['B_mlm_only']]
    """
    first = [name for name in variants if STAGE1_OF.get(name, name) == name]
    made = {STAGE1_OF[name] for name in first if name in STAGE1_OF}
    second = []
    for name in variants:
        if STAGE1_OF.get(name, name) == name:
            continue
        if STAGE1_OF[name] in made:
            second.append(name)
        else:
            first.append(name)
            made.add(STAGE1_OF[name])
    return [wave for wave in (first, second) if wave]


def run_variants_in_processes(output_dir, variants, jobs, log=print):
    """Runs every variant of `variants` as `reproduce.py --variants=<it> --jobs=1` with this
    run's flags, `jobs` at a time, in `variant_waves` order; each child's output goes to
    `<output_dir>/logs/<variant>.log`. The caller then reads their `result.json` files.

    A variant of the second wave (one that reads another's Stage I) starts once that Stage I
    is finished (its timing record exists), not when the whole first wave is: the slots do
    not idle while the first wave's last variants fine-tune. Its Stage I's maker failing
    before that fails it too."""
    names = ("output_dir", "teacher", "train_files", "data_dir", "tasks") + tuple(_settings())
    args = [FLAGS[name].serialize() for name in dict.fromkeys(names)
            if FLAGS[name].value is not None]
    log_dir = os.path.join(output_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    waves = variant_waves(variants)
    readers = set(waves[1]) if len(waves) > 1 else set()
    makers = {STAGE1_OF[name]: name for name in waves[0] if name in STAGE1_OF}

    def stage1_done(name):
        return os.path.isfile(os.path.join(output_dir, STAGE1_OF[name], "stage1", TIMING_FILE))

    pending = [name for wave in waves for name in wave]
    running, exited, failed = {}, set(), []
    while pending or running:
        for name in list(pending):
            if len(running) >= jobs:
                break
            if name in readers and not stage1_done(name):
                if makers.get(STAGE1_OF[name]) in exited:
                    pending.remove(name)
                    failed.append(f"{name} (its Stage I, made by {makers[STAGE1_OF[name]]}, "
                                  "did not finish)")
                continue
            pending.remove(name)
            path = os.path.join(log_dir, f"{name}.log")
            with open(path, "w") as out:
                running[name] = (subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), *args, f"--variants={name}",
                     "--jobs=1"], stdout=out, stderr=subprocess.STDOUT), path)
            log(f"[{name}] started in its own process (log: {path})")
        time.sleep(1)
        for name, (process, path) in list(running.items()):
            if process.poll() is not None:
                del running[name]
                exited.add(name)
                log(f"[{name}] exited with {process.returncode}")
                if process.returncode:
                    failed.append(path)
    if failed:
        raise ReproduceError(f"variant runs failed; see {', '.join(failed)}. Fix what they "
                             "report and rerun: finished stages are kept.")


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


# ---- TF-IDF reference -----------------------------------------------------------------------

def tfidf_reference(output_dir, tasks):
    """TF-IDF + logistic regression per task, or a note when scikit-learn is missing."""
    try:  # late: scikit-learn is optional
        from mixvocab_tf.tasks import baselines
        import sklearn  # noqa: F401
    except ImportError:
        return {"skipped": "scikit-learn is not installed (pip install -r requirements.txt)"}
    path = os.path.join(output_dir, "tfidf.json")
    cached = read_json(path) if os.path.isfile(path) else {}
    key = json.dumps(["pairs-v2", FLAGS.max_train_examples, FLAGS.seed, FLAGS.max_eval_examples])
    cached = cached if cached.get("key") == key else {"key": key, "tasks": {}}
    for name in tasks:
        if name in cached["tasks"]:
            continue
        registry_name, overrides = TASKS[name]
        task = task_registry.get_task(registry_name)
        train = task.read(_data_dir(), "train")
        if "examples_per_class" in overrides:
            train = select_per_class(train, overrides["examples_per_class"], FLAGS.seed)
        train = select_examples(train, FLAGS.max_train_examples or None, "random", FLAGS.seed)
        split = task_registry.default_eval_split(task)
        dev = task.read(_data_dir(), split)

        cached["tasks"][name] = {"split": split, "examples": len(dev),
                                 **baselines.tfidf_logistic_regression(task, train, dev)}
        write_json_atomic(path, cached)
    return {name: cached["tasks"][name] for name in tasks}


# ---- Reports --------------------------------------------------------------------------------

def _pct(value):
    return percent(value, missing="-")


def _stage2_end(stage2):
    end = (stage2 or {}).get("end") or {}
    if end.get("val_cosine") is not None:
        return f"cos {end['val_cosine']:.3f}"
    return _pct(end.get("val_mlm_accuracy"))


def markdown(report):
    """The report as Markdown."""
    tasks = report["tasks"]
    lines = ["# The paper's claims at this budget", "",
             f"Teacher `{report['teacher']}`, student {report['settings']['student_size']}; "
             f"per variant Stage I = {report['settings']['stage1_new_parameter_steps']} "
             f"new-parameter + {report['settings']['stage1_steps']} joint steps, Stage II = "
             f"{report['settings']['stage2_steps']} steps (batch "
             f"{report['settings']['batch_size']}, L={report['settings']['sequence_length']}"
             f"){' (--quick: a smoke budget)' if report['quick'] else ''}. Scores: float = "
             "Keras, int8 = the dynamic-int8 TFLite model (text in; MRPC ids in), both on the "
             "same split. "
             "Held-out masked-LM accuracy on the split-off corpus lines; a sentence-embedding "
             "Stage II ends at a held-out cosine to the teacher (cos), not an accuracy.", ""]
    rows, resumed_any = [], False
    for name, row in report["variants"].items():
        cells = [f"{_pct(row['tasks'].get(t, {}).get('float'))} / "
                 f"{_pct(row['tasks'].get(t, {}).get('int8'))}" for t in tasks]
        s1 = row.get("stage1") or {}
        s2 = row.get("stage2") or {}
        cpu = row["cpu_s"]
        mark = {k: "*" if cpu.get(f"{k}_resumed") else "" for k in ("stage1", "stage2")}
        resumed_any = resumed_any or any(mark.values())
        stage1_cpu = "-" if "stage1" not in cpu else (
            f"({cpu['stage1']}{mark['stage1']}, {s1.get('run')})" if cpu.get("stage1_shared")
            else f"{cpu['stage1']}{mark['stage1']}")
        rows.append([
            name, row["int8_size_mb"], *cells,
            f"{_pct(row['average']['float'])} / {_pct(row['average']['int8'])}",
            _pct((s1.get("end") or {}).get("val_full_sv_student_mlm_accuracy")),
            _stage2_end(s2),
            f"{stage1_cpu} / {cpu.get('stage2', '-')}{mark['stage2']} / "
            f"{cpu['finetune_and_export']}"])
    lines += markdown_table(
        ["variant", "int8 MB", *(f"{t} float / int8" for t in tasks), "average float / int8",
         "Stage I end (p_sv 1.0)", "Stage II end", "CPU s: Stage I / II / tasks"], rows)
    if resumed_any:
        lines += ["", "\\* resumed after a kill: the CPU seconds of the last invocation only."]
    tfidf = report["tfidf"]
    if "skipped" in tfidf:
        lines += ["", f"TF-IDF + logistic regression: skipped ({tfidf['skipped']})."]
    else:
        lines += ["", *markdown_table(
            ["reference", *tasks],
            [["TF-IDF + logistic regression", *(_pct(tfidf[t]["accuracy"]) for t in tasks)]])]
    lines += ["", "Variants:", ""]
    lines += [f"- `{name}`: {row['description']}" for name, row in report["variants"].items()]
    sweep = [n for n in ("psv_const0.1", "psv_const0.5", "method") if n in report["variants"]]
    if any(n.startswith("psv_") for n in sweep):
        rows = []
        for name in sweep:
            row = report["variants"][name]
            end = row["stage1"]["end"]
            label = "ramp 0.1 -> 1.0 (method)" if name == "method" else (
                "constant " + name[len("psv_const"):])
            rows.append([label, _pct(end["val_teacher_mlm_accuracy"]),
                         _pct(end["val_student_mlm_accuracy"]),
                         _pct(end["val_full_sv_student_mlm_accuracy"]),
                         _pct(row["stage2"]["end"]["val_mlm_accuracy"]),
                         _pct(row["average"]["int8"])])
        lines += ["", "p_sv sweep of Stage I (each followed by the same Stage II):", "",
                  *markdown_table(["Stage I p_sv", "teacher ids (p_sv 0.5)",
                                   "student ids (p_sv 0.5)", "student ids (p_sv 1.0)",
                                   "Stage II student end", "average int8"], rows)]
    lines += ["", f"Total CPU s of this invocation: {report['cpu_s_this_run']}.", ""]
    return "\n".join(lines)


def plot_tradeoff(report, path):
    """int8 size (MB) against the average int8 score, one point a variant."""
    fig, ax = pyplot().subplots(figsize=(7, 4.5), dpi=120)
    for name, row in report["variants"].items():
        if row["average"]["int8"] is None:
            continue
        x, y = row["int8_size_mb"], 100 * row["average"]["int8"]
        ax.scatter(x, y, s=60, zorder=3, marker="*" if name == "method" else "o")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("dynamic-int8 TFLite size (MB, log scale)")
    ax.set_ylabel(f"average int8 score over {', '.join(report['tasks'])} (%)")
    ax.set_title("Size against accuracy at one equal budget", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_mlm_curves(report, path):
    """Held-out masked-LM accuracy over steps: Stage I (p_sv 1.0) and Stage II, per run."""
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(11, 4.2), dpi=120)
    seen = set()
    for name, row in report["variants"].items():
        s1 = row.get("stage1")
        if s1 and s1["run"] not in seen:
            seen.add(s1["run"])
            points = s1["curves"].get("full_sv_student_mlm_accuracy", [])
            if points:
                left.plot(*zip(*[(s, 100 * v) for s, v in points]), marker="o", label=s1["run"])
        s2 = row.get("stage2")
        points = (s2 or {}).get("curves", {}).get("mlm_accuracy", [])
        if points:
            right.plot(*zip(*[(s, 100 * v) for s, v in points]), marker="o", label=name)
    left.set_title("Stage I teacher, student ids at p_sv 1.0", fontsize=9)
    right.set_title("Stage II student", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.set_ylabel("held-out masked-LM accuracy (%)")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


# ---- Main -----------------------------------------------------------------------------------

def _check_flags():
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"unknown --variants {unknown}; choose from {', '.join(VARIANTS)}.")
    unknown = [t for t in FLAGS.tasks if t not in TASKS]
    if unknown:
        raise app.UsageError(f"unknown --tasks {unknown}; choose from {', '.join(TASKS)}.")
    if not FLAGS.tasks:
        raise app.UsageError("--tasks is empty: give at least one task.")
    if FLAGS.jobs < 1:
        raise app.UsageError(f"--jobs={FLAGS.jobs}: give 1 or more variants at once.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    _apply_quick()
    _check_flags()

    started = _cpu()
    output_dir = os.path.abspath(FLAGS.output_dir)
    os.makedirs(output_dir, exist_ok=True)
    teacher = FLAGS.teacher or paths.minilm_teacher_path()
    FLAGS.teacher = teacher  # recorded in every variant's settings
    train_files = FLAGS.train_files or sorted(
        glob.glob(os.path.join(paths.shared_data_dir(), "corpora", "*.txt.gz")))
    if not train_files:
        raise ReproduceError("no training corpora found. Fix: pass --train_files.")
    FLAGS.train_files = train_files
    train_split, eval_files = prepare_corpus(output_dir, train_files)
    vocab, teacher_vocab, lower_case, vocab_timing = learn_student_vocab(
        output_dir, teacher, train_split)
    inputs = {"teacher": teacher, "vocab": vocab, "teacher_vocab": teacher_vocab,
              "lower_case": lower_case,
              "train_files": train_split, "eval_files": eval_files}
    report_path = os.path.join(output_dir, "report.json")
    previous = read_json(report_path)["variants"] if os.path.isfile(report_path) else {}
    report = {"teacher": teacher, "quick": FLAGS.quick, "settings": _settings(),
              "tasks": list(FLAGS.tasks), "vocab_cpu_s": vocab_timing["cpu_s"],
              "variants": {}}
    if FLAGS.jobs > 1 and len(FLAGS.variants) > 1:
        run_variants_in_processes(output_dir, FLAGS.variants, FLAGS.jobs)
    for name in FLAGS.variants:  # with --jobs, each is read back from its result.json
        report["variants"][name] = run_variant(output_dir, name, inputs)
    # Keep variants of earlier invocations with the same settings (e.g. --variants in parts).
    for name, row in previous.items():
        if name not in report["variants"] and row.get("settings") == report["settings"]:
            report["variants"][name] = row
    report["variants"] = dict(sorted(report["variants"].items(),
                                     key=lambda item: VARIANTS.index(item[0])))
    report["tfidf"] = tfidf_reference(output_dir, FLAGS.tasks)
    report["cpu_s_this_run"] = round(_cpu() - started, 1)
    write_json_atomic(report_path, report)
    write_text_atomic(os.path.join(output_dir, "report.md"), markdown(report))
    plot_tradeoff(report, os.path.join(output_dir, "tradeoff.png"))
    plot_mlm_curves(report, os.path.join(output_dir, "mlm_curves.png"))
    print(markdown(report))
    print(f"wrote {report_path}")


if __name__ == "__main__":
    app.run(main)
