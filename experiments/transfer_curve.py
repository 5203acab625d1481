r"""Task distillation against the size of the in-domain transfer set: the curve, resumable.

For each transfer-set size N (a prefix of one seeded draw of `--transfer_files`, so the
teacher labels each sentence once for every N: `teacher_labels`) and each seed, runs
`tools/distill_task.py` into `run_dir/n<N>_s<seed>/task`, exports the student as the int8
text-in TFLite a phone runs (`tools/export_tflite.py`, `tflite_text/`), and collects dev
accuracy (Keras and int8), size and CPU seconds. A finished step is skipped on rerun, and
a killed teacher pass resumes from its shards, so the script can run across sessions in the
background. Writes `curve.json`, `curve.md` (with the TF-IDF + logistic-regression floor on
the same split) and `curve.png` (int8 accuracy against N, mean and spread over seeds).

Example:
  python experiments/transfer_curve.py --run_dir=/work/runs/sst2_curve \
    --teacher_dir=runs/sst2_teacher --task=sst2 --data_dir=../shared/data \
    --transfer_files=../shared/data/corpora/imdb_reviews_en.txt.gz \
    --sizes=0,50000,200000 --seeds=0,1,2 -- --epochs=2 --learning_rate=3e-4
"""

import json
import os
import re
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from experiments.tool_runs import run_tool  # noqa: E402
from mixvocab_tf.file_io import write_json_atomic  # noqa: E402
from mixvocab_tf.file_io import write_text_atomic  # noqa: E402

flags.DEFINE_string("run_dir", None, "Where every run, log and the curve go.")
flags.DEFINE_string("teacher_dir", None, "The fine-tuned teacher task model.")
flags.DEFINE_string("student", "6x128", "The student to start from (a name or a folder).")
flags.DEFINE_string("task", "sst2", "The task.")
flags.DEFINE_string("data_dir", None, "The data folder.")
flags.DEFINE_list("transfer_files", None, "Unlabelled in-domain text.")
flags.DEFINE_list("sizes", ["0", "50000", "200000"], "Transfer-set sizes N (sentences).")
flags.DEFINE_list("seeds", ["0"], "Training seeds (the transfer draw keeps --transfer_seed).")
flags.DEFINE_integer("sequence_length", 64, "The student's L and the export's.")
flags.DEFINE_bool("export", True, "Export and score the int8 text-in TFLite of each run.")
flags.DEFINE_bool("collect", False,
                  "Run nothing: summarise every finished run in --run_dir (any sizes and seeds).")
flags.mark_flags_as_required(["run_dir", "teacher_dir", "data_dir"])
FLAGS = flags.FLAGS


def run_one(size, seed, extra):
    """Distils and exports one (size, seed); returns its row of the curve."""
    folder = os.path.join(FLAGS.run_dir, f"n{size}_s{seed}")
    os.makedirs(folder, exist_ok=True)
    log = os.path.join(folder, "log.txt")
    task_dir, export_dir = os.path.join(folder, "task"), os.path.join(folder, "tflite_text")
    if not os.path.isfile(os.path.join(task_dir, "task_config.json")):
        command = [sys.executable, "tools/distill_task.py", f"--student={FLAGS.student}",
                   f"--teacher_dir={FLAGS.teacher_dir}", f"--task={FLAGS.task}",
                   f"--data_dir={FLAGS.data_dir}", f"--output_dir={task_dir}",
                   f"--sequence_length={FLAGS.sequence_length}", f"--seed={seed}",
                   f"--cache_dir={os.path.join(FLAGS.run_dir, 'teacher_cache')}", *extra]
        if size:
            command += [f"--transfer_files={','.join(FLAGS.transfer_files)}",
                        f"--transfer_max_lines={size}"]
        run_tool(command, log)
    with open(os.path.join(task_dir, "task_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    distillation = config["distillation"]
    row = {"size": size, "seed": seed, "examples": config["training"]["examples"],
           "epochs": config["training"]["epochs"],
           "keras": config["eval"]["metrics"][config["metrics"][0]],
           "teacher_cpu_seconds": distillation["teacher_cpu_seconds"],
           "teacher_shards": distillation.get("teacher_shards"),
           "student_cpu_seconds": distillation["student_cpu_seconds"]}
    if FLAGS.export:
        if not os.path.isfile(os.path.join(export_dir, "export_report.json")):
            run_tool([sys.executable, "tools/export_tflite.py", f"--model_dir={task_dir}",
                      f"--output_dir={export_dir}", f"--sequence_length={FLAGS.sequence_length}",
                      f"--data_dir={FLAGS.data_dir}"], log)
        with open(os.path.join(export_dir, "export_report.json"), encoding="utf-8") as f:
            report = json.load(f)
        row.update(int8=report["accuracy"]["tflite"], int8_keras=report["accuracy"]["keras"],
                   int8_megabytes=round(os.path.getsize(
                       os.path.join(export_dir, "model.tflite")) / 1e6, 3))
    return row


def tfidf_floor():
    """TF-IDF + logistic regression (`tasks/baselines.py`) on the task's training set: the
    evaluated split's accuracy."""
    try:
        from mixvocab_tf.tasks import baselines
        from mixvocab_tf.tasks import task_registry

        task = task_registry.get_task(FLAGS.task)
        train = task.read(FLAGS.data_dir, "train")
        dev = task.read(FLAGS.data_dir, task_registry.default_eval_split(task))
        return baselines.tfidf_logistic_regression(task, train, dev)["accuracy"]
    except ImportError:  # scikit-learn missing
        return None


def summarize(rows, floor):
    """Mean and spread over seeds of each size, as a markdown table."""
    sizes = sorted({row["size"] for row in rows})
    summary = []
    for size in sizes:
        group = [row for row in rows if row["size"] == size]
        mean = lambda key: (sum(r[key] for r in group) / len(group)
                            if all(key in r for r in group) else None)
        int8 = [r["int8"] for r in group if "int8" in r]
        summary.append({"size": size, "seeds": len(group), "keras": mean("keras"),
                        "int8": mean("int8"), "int8_min": min(int8) if int8 else None,
                        "int8_max": max(int8) if int8 else None,
                        "int8_megabytes": mean("int8_megabytes"),
                        "teacher_cpu_seconds": max(r["teacher_cpu_seconds"] for r in group),
                        "student_cpu_seconds": mean("student_cpu_seconds")})
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}"
    lines = ["| transfer sentences | seeds | Keras dev | int8 dev (min-max) | int8 MB | "
             "teacher pass CPU s | student CPU s (mean) |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        lines.append(f"| {s['size']:,} | {s['seeds']} | {pct(s['keras'])} | {pct(s['int8'])} "
                     f"({pct(s['int8_min'])}-{pct(s['int8_max'])}) | "
                     f"{s['int8_megabytes'] or '-'} | {s['teacher_cpu_seconds']:,.0f} | "
                     f"{s['student_cpu_seconds']:,.0f} |")
    lines.append(f"\nTF-IDF + logistic regression on the same training set: {pct(floor)}.")
    return summary, "\n".join(lines) + "\n"


def teacher_score():
    """The teacher's own dev score, from its task config."""
    with open(os.path.join(FLAGS.teacher_dir, "task_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return config["eval"]["metrics"][config["metrics"][0]]


def plot(summary, floor, teacher, path):
    from mixvocab_tf.pipeline import report  # late: matplotlib loads slowly

    points = [s for s in summary if s["int8"] is not None]
    if not points:
        return
    x = [max(s["size"], 1000) for s in points]  # N=0 drawn at 1K on the log axis
    figure, axis = report.pyplot().subplots(figsize=(6, 4), dpi=120)
    axis.errorbar(x, [100 * s["int8"] for s in points],
                  yerr=[[100 * (s["int8"] - s["int8_min"]) for s in points],
                        [100 * (s["int8_max"] - s["int8"]) for s in points]],
                  marker="o", capsize=3, label="student, int8 TFLite (mean, min-max of seeds)")
    if floor is not None:
        axis.axhline(100 * floor, color="gray", linestyle="--", label="TF-IDF + LR")
    axis.axhline(100 * teacher, color="black", linestyle=":", label="teacher (float)")
    axis.set_xscale("log")
    axis.set_xlabel("in-domain transfer sentences (0 drawn at 1K)")
    axis.set_ylabel(f"{FLAGS.task} dev accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    report.save_figure(figure, path)


def main(argv):
    extra = argv[1:]  # flags after `--` go to tools/distill_task.py
    os.makedirs(FLAGS.run_dir, exist_ok=True)
    rows = []
    if FLAGS.collect:
        runs = [name for name in os.listdir(FLAGS.run_dir) if re.fullmatch(r"n\d+_s\d+", name)
                and os.path.isfile(os.path.join(FLAGS.run_dir, name, "tflite_text",
                                                "export_report.json"))]
        pairs = sorted((int(n[1:n.index("_")]), int(n[n.index("_s") + 2:])) for n in runs)
    else:
        pairs = [(int(size), int(seed)) for size in FLAGS.sizes for seed in FLAGS.seeds]
    for size, seed in pairs:
        started = time.time()
        rows.append(run_one(size, seed, extra))
        print(f"n={size} seed={seed}: {json.dumps(rows[-1])} ({time.time() - started:.0f} s)",
              flush=True)
    floor = tfidf_floor()
    summary, table = summarize(rows, floor)
    write_json_atomic(os.path.join(FLAGS.run_dir, "curve.json"),
                      {"task": FLAGS.task, "teacher_dir": FLAGS.teacher_dir,
                       "student": FLAGS.student, "transfer_files": FLAGS.transfer_files,
                       "extra_flags": extra, "rows": rows, "summary": summary,
                       "tfidf_floor": floor})
    write_text_atomic(os.path.join(FLAGS.run_dir, "curve.md"), table)
    plot(summary, floor, teacher_score(), os.path.join(FLAGS.run_dir, "curve.png"))
    print(table)


if __name__ == "__main__":
    app.run(main)
