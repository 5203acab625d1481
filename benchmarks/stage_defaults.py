"""The measurements behind Stage I's and Stage II's defaults, at one equal budget.

Stage I variants (same total step count, same data, same seed), each scored on
held-out paragraphs at p_sv 0.5 and on fully student-segmented text (p_sv 1.0,
what Stage II feeds the teacher):

- `before`: the previous defaults: no new-parameter phase, p_sv ramped over
  all steps (`p_sv_ramp_fraction=1.0`).
- `ramp60`: p_sv reaches its end value at 60% of the steps and holds.
- `phase`: a new-parameter phase (a third of the budget: E_s, P and the MLM
  head only, encoder frozen, rate `--new_parameter_learning_rate`) then the
  joint phase with `ramp60`.
- `svd_random`: `phase` with E_s started at random instead of the SVD fit
  of the teacher's embeddings (`student_init`).

Stage II variants on the `phase` teacher (same steps): `up` (the default
projection, student H -> teacher D), `down` (D -> H), `no_kd` (`up` without
the logit term) and `mlm_only` (no teacher: the baseline). Each prints the teacher's and the student's held-out
masked-LM accuracy at the start and the student's at the end.

Prints one table and writes `report.json` into `--output_dir`; every run is a
resumable run folder there, so a killed benchmark continues where it stopped.

Example:
  python benchmarks/stage_defaults.py --teacher=$T --student_vocab=vocab.txt \
    --train_files=wiki_train.txt --eval_files=wiki_eval.txt --output_dir=/tmp/defaults \
    --stage1_steps=300 --stage2_steps=300
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_string("teacher", None, "The BERT teacher (default: the offline all-MiniLM-L6-v2).")
flags.DEFINE_string("student_vocab", None, "The Stage 0 vocab.txt.")
flags.DEFINE_list("train_files", None, "Training text.")
flags.DEFINE_list("eval_files", None, "Held-out text.")
flags.DEFINE_string("output_dir", None, "Where the runs and report.json go.")
flags.DEFINE_list("stage1_variants", ["before", "ramp60", "phase", "svd_random"], "Stage I runs.")
flags.DEFINE_list("stage2_variants", ["up", "down", "mlm_only"], "Stage II runs.")
flags.DEFINE_integer("stage1_steps", 300, "Stage I budget in steps (both phases together).")
flags.DEFINE_integer("stage2_steps", 300, "Stage II steps.")
flags.DEFINE_float("new_parameter_learning_rate", 1e-3, "The new-parameter phase's peak rate.")
flags.DEFINE_float("stage1_learning_rate", 5e-5, "Stage I joint-phase peak rate.")
flags.DEFINE_float("stage2_learning_rate", 5e-4, "Stage II peak rate.")
flags.DEFINE_string("student_size", "6x128", "Stage II student.")
flags.DEFINE_integer("sequence_length", 64, "Tokens per sequence.")
flags.DEFINE_integer("batch_size", 16, "Batch size.")
flags.DEFINE_integer("eval_steps", 20, "Held-out batches per score.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.mark_flags_as_required(["student_vocab", "train_files", "eval_files", "output_dir"])
FLAGS = flags.FLAGS

STAGE1 = {
    "before": dict(new_parameter_steps=0, p_sv_ramp_fraction=1.0),
    "ramp60": dict(new_parameter_steps=0, p_sv_ramp_fraction=0.6),
    "phase": dict(new_parameter_fraction=1 / 3, p_sv_ramp_fraction=0.6),
    "svd_random": dict(new_parameter_fraction=1 / 3, p_sv_ramp_fraction=0.6,
                       student_init="random"),
}
STAGE2 = {
    "up": dict(projection="up"),
    "down": dict(projection="down"),
    "no_kd": dict(kd_weight=0.0),
    "mlm_only": dict(kd_weight=0.0, hidden_weight=0.0),
}
SCORES = ("val_teacher_mlm_accuracy", "val_student_mlm_accuracy",
          "val_full_sv_student_mlm_accuracy")


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall_s": round(time.perf_counter() - start, 1),
                    "cpu_s": round(time.process_time() - cpu, 1)}


def run_stage1(name, teacher):
    from mixvocab_tf.stage1.config import Stage1Config
    from mixvocab_tf.stage1.teacher_training import train_teacher
    from mixvocab_tf.training.config import config_from_keywords

    settings = dict(STAGE1[name])
    steps = FLAGS.stage1_steps
    new_steps = int(round(steps * settings.pop("new_parameter_fraction", 0.0)))
    new_steps = settings.pop("new_parameter_steps", new_steps)
    config = config_from_keywords(
        Stage1Config, student_embedding_dim=int(FLAGS.student_size.split("x")[1]),
        new_parameter_steps=new_steps,
        new_parameter_learning_rate=FLAGS.new_parameter_learning_rate,
        train_steps=steps - new_steps, learning_rate=FLAGS.stage1_learning_rate,
        sequence_length=FLAGS.sequence_length, batch_size=FLAGS.batch_size,
        steps_per_loop=max(steps // 3, 1), eval_steps=FLAGS.eval_steps, seed=FLAGS.seed,
        **settings)
    result, cost = _timed(lambda: train_teacher(
        config, teacher, FLAGS.student_vocab, FLAGS.train_files,
        os.path.join(FLAGS.output_dir, "stage1_" + name), eval_files=FLAGS.eval_files,
        verbose=2))
    with open(os.path.join(result["export_dir"], "stage1_config.json")) as f:
        config = json.load(f)
    metrics = config["final_metrics"]
    return {"new_parameter_steps": new_steps, "joint_steps": steps - new_steps, **cost,
            **{k: metrics.get(k) for k in SCORES},
            "new_parameter_phase": {k: config["new_parameter_metrics"].get(k) for k in SCORES}}


def run_stage2(name, stage1_dir):
    from mixvocab_tf.stage2.config import Stage2Config
    from mixvocab_tf.stage2.student_distillation import distill_student
    from mixvocab_tf.training.config import config_from_keywords

    config = config_from_keywords(
        Stage2Config, student_size=FLAGS.student_size,
        train_steps=FLAGS.stage2_steps, learning_rate=FLAGS.stage2_learning_rate,
        sequence_length=FLAGS.sequence_length, batch_size=FLAGS.batch_size,
        steps_per_loop=max(FLAGS.stage2_steps // 3, 1), eval_steps=FLAGS.eval_steps,
        seed=FLAGS.seed, **STAGE2[name])
    result, cost = _timed(lambda: distill_student(
        config, stage1_dir, FLAGS.train_files, os.path.join(FLAGS.output_dir, "stage2_" + name),
        eval_files=FLAGS.eval_files, verbose=2))
    with open(os.path.join(result["export_dir"], "config.json")) as f:
        config = json.load(f)
    metrics = config["final_metrics"]
    return {**cost, "start": config.get("start_metrics", {}),
            "val_mlm_accuracy": metrics.get("val_mlm_accuracy"),
            "val_teacher_mlm_accuracy": metrics.get("val_teacher_mlm_accuracy")}


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.file_io import write_json_atomic

    teacher = FLAGS.teacher or paths.minilm_teacher_path()
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    report_path = os.path.join(FLAGS.output_dir, "report.json")
    report = {"flags": {k: FLAGS[k].value for k in (
        "stage1_steps", "stage2_steps", "new_parameter_learning_rate", "stage1_learning_rate",
        "stage2_learning_rate", "student_size", "sequence_length", "batch_size", "eval_steps",
        "seed")}, "stage1": {}, "stage2": {}}
    if os.path.isfile(report_path):
        with open(report_path) as f:
            report.update({k: v for k, v in json.load(f).items() if k != "flags"})
    for name in FLAGS.stage1_variants:
        report["stage1"][name] = run_stage1(name, teacher)
        write_json_atomic(report_path, report)
    stage1_dir = os.path.join(FLAGS.output_dir, "stage1_phase")
    for name in FLAGS.stage2_variants:
        report["stage2"][name] = run_stage2(name, stage1_dir)
        write_json_atomic(report_path, report)

    print("\nStage I (held-out masked-LM accuracy; full_sv = fully student-segmented text)")
    print("| variant | new-param + joint steps | teacher ids (p_sv 0.5) | student ids (p_sv 0.5) "
          "| full_sv | CPU s |")
    print("|---|---|---:|---:|---:|---:|")
    for name, row in report["stage1"].items():
        print(f"| {name} | {row['new_parameter_steps']} + {row['joint_steps']} | "
              + " | ".join(f"{100 * (row[k] or 0):.2f}" for k in SCORES)
              + f" | {row['cpu_s']} |")
    if report["stage2"]:
        print("\nStage II on the `phase` teacher (held-out masked-LM accuracy on student ids)")
        print("| variant | teacher at start | student at start | student at end | CPU s |")
        print("|---|---:|---:|---:|---:|")
        for name, row in report["stage2"].items():
            start = row["start"]
            print(f"| {name} | {100 * start.get('teacher_mlm_accuracy', 0):.2f} | "
                  f"{100 * start.get('student_mlm_accuracy', 0):.2f} | "
                  f"{100 * (row['val_mlm_accuracy'] or 0):.2f} | {row['cpu_s']} |")
    print(f"\nwrote {report_path}")


if __name__ == "__main__":
    app.run(main)
