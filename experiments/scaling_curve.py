r"""Sentence-vector Stage II against its budget: the scaling curve, resumable.

For each student start (`--starts=LABEL=DIR,...`: the Stage I table with random layers, a
subclone, a published student) and each budget N (`--sizes`: training sentences, a prefix
of one seeded draw of `--train_files`), runs `tools/distill_embeddings.py` into
`run_dir/<label>/n<N>`, then fine-tunes the student plainly on each downstream evaluation
(`--evals`, a recipe each: `EVALS`) and collects the held-out cosine to the teacher, the
scores and the CPU seconds. N=0 scores the start itself. Every start and size shares one
teacher cache (`run_dir/teacher_embeddings`): the sentences of a smaller N are a prefix of a
larger N's, so the teacher computes each sentence's vector once. A finished step is skipped
on rerun and a killed one resumes (the teacher from its shards, the student from its
checkpoints), so the script runs across sessions in the background.

Writes `curve.json`, `curve.md` (means over seeds, the TF-IDF + logistic-regression floor
on the same training examples, and a fit of each score against log10 N with its
extrapolations marked) and `curve.png`.

Example:
  C=../shared/data/corpora
  python experiments/scaling_curve.py --run_dir=runs/scale --starts=6x128=runs/table_6x128 \
    --data_dir=../shared/data --train_files=$C/wikipedia_en.txt.gz,$C/eltec_novels_en.txt.gz \
    --sizes=0,16384,65536,262144 --evals=banking77_10shot:0/1/2,sst2:0
"""

import json
import math
import os
import re
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from experiments.tool_runs import run_tool  # noqa: E402
from mixvocab_tf.file_io import read_json  # noqa: E402
from mixvocab_tf.file_io import write_json_atomic  # noqa: E402
from mixvocab_tf.file_io import write_text_atomic  # noqa: E402

# Plain fine-tuning recipes of the downstream evaluations (those of the published students'
# cards): task, then tools/finetune.py flags. Every one adds --pooling=mean and the length.
EVALS = {
    "banking77_10shot": ("banking77", ["--examples_per_class=10", "--epochs=20",
                                       "--batch_size=16", "--learning_rate=3e-4"]),
    "sst2": ("sst2", ["--epochs=2", "--batch_size=32", "--learning_rate=3e-4"]),
    "snips": ("snips", ["--epochs=3", "--batch_size=32", "--learning_rate=3e-4"]),
}

FLAGS = flags.FLAGS
TEACHER_CACHE = "teacher_embeddings"  # run_dir's folder of the teacher's vectors


def define_flags():
    """The script's flags, defined when it runs (not when a test imports its functions)."""
    flags.DEFINE_string("run_dir", None, "Where every run, log and the curve go.")
    flags.DEFINE_list("starts", None, "LABEL=DIR of each student start (a Stage II student "
                      "directory: the Stage I table with random layers, a subclone).")
    flags.DEFINE_list("train_files", None, "The corpora of the sentence-vector distillation.")
    flags.DEFINE_list("sizes", ["0", "16384", "65536", "262144"],
                      "Training sentences N (0: the start itself, not distilled).")
    flags.DEFINE_list("evals", ["banking77_10shot:0/1/2", "sst2:0"],
                      "NAME:SEED/SEED/... of each downstream evaluation; names: "
                      f"{sorted(EVALS)}.")
    flags.DEFINE_integer("paragraphs_per_file", 250_000, "Paragraphs drawn from each corpus "
                         "file (fixed for every N, so that each N's sentences are a prefix of "
                         "the draw).")
    flags.DEFINE_integer("held_out_sentences", 2048,
                         "Sentences of each run kept out, for the cosine.")
    flags.DEFINE_float("epochs", 1.0, "Passes over each run's N sentences.")
    flags.DEFINE_integer("sequence_length", 64, "The student's L in distillation and fine-tuning.")
    flags.DEFINE_string("data_dir", None, "The data folder (tasks and corpora).")
    flags.DEFINE_list("distill_flags", [], "More tools/distill_embeddings.py flags for every "
                      "run this invocation makes (e.g. --word_weight=1): give such runs a start "
                      "label of their own.")
    flags.DEFINE_bool("collect", False, "Run nothing: summarise what --run_dir holds (the "
                      "summary of any invocation covers every finished run there).")
    flags.mark_flags_as_required(["run_dir", "data_dir"])


def parse_evals(specs):
    """`["banking77_10shot:0/1/2", "sst2"]` -> `{"banking77_10shot": [0, 1, 2], "sst2": [0]}`."""
    evals = {}
    for spec in specs:
        name, _, seeds = spec.partition(":")
        if name not in EVALS:
            raise app.UsageError(f"--evals names {name!r}; known: {sorted(EVALS)}.")
        evals[name] = [int(seed) for seed in seeds.split("/")] if seeds else [0]
    return evals


def distill(label, start, size):
    """Runs the sentence-vector distillation of (`label`, N) unless done; returns its student
    directory (N = 0: the start)."""
    folder = os.path.join(FLAGS.run_dir, label, f"n{size}")
    if size == 0:
        return start
    done = os.path.join(folder, "step.json")
    if not os.path.isfile(done):
        os.makedirs(folder, exist_ok=True)
        started = time.time()
        cpu = run_tool([sys.executable, "tools/distill_embeddings.py", f"--student={start}",
                        f"--model_dir={folder}", f"--train_files={','.join(FLAGS.train_files)}",
                        f"--teacher_cache_dir={os.path.join(FLAGS.run_dir, TEACHER_CACHE)}",
                        f"--paragraphs_per_file={FLAGS.paragraphs_per_file}",
                        f"--max_sentences={size + FLAGS.held_out_sentences}",
                        f"--held_out_sentences={FLAGS.held_out_sentences}",
                        f"--epochs={FLAGS.epochs}", f"--sequence_length={FLAGS.sequence_length}",
                        *FLAGS.distill_flags],
                       os.path.join(folder, "log.txt"))
        with open(os.path.join(folder, "log.txt"), encoding="utf-8") as f:
            printed = f.read()
        # The tool ends by printing its result as indented JSON.
        result = json.loads(printed[printed.rindex("\n{\n") + 1:])
        write_json_atomic(done, {"cpu_seconds": round(cpu, 1),
                                 "wall_seconds": round(time.time() - started, 1),
                                 "teacher_cpu_seconds": round(result["teacher_cpu_seconds"], 1),
                                 "metrics": result["metrics"]})
    return os.path.join(folder, "export")


def row_of(folder, size, evals):
    """The curve's row of the run folder `run_dir/<label>/n<N>`: what is finished of it, or
    None when nothing is."""
    row = {"size": size}
    if size:
        done = os.path.join(folder, "step.json")
        if not os.path.isfile(done):
            return None
        step = read_json(done)
        record = read_json(os.path.join(folder, "export", "config.json"))[
            "sentence_embedding_distillation"]
        row.update(epochs=record["epochs"], sentences_seen=round(size * record["epochs"]),
                   cosine_start=record["held_out_cosine_start"],
                   cosine=record["final_metrics"].get("val_cosine"),
                   train_steps=record["train_steps"], cpu_seconds=step["cpu_seconds"],
                   teacher_cpu_seconds=step["teacher_cpu_seconds"])
    for name, seeds in evals.items():
        scores, cpus = [], []
        for seed in seeds:
            path = os.path.join(folder, "eval", f"{name}_s{seed}", "task_config.json")
            if os.path.isfile(path):
                config = read_json(path)
                scores.append(config["eval"]["metrics"][config["metrics"][0]])
                cpu_path = os.path.join(folder, "eval", f"{name}_s{seed}.cpu.json")
                cpus.append(read_json(cpu_path)["cpu_seconds"]
                            if os.path.isfile(cpu_path) else None)
        row[f"{name}_seeds"] = scores
        row[name] = sum(scores) / len(scores) if scores else None
        row[f"{name}_cpu_seconds"] = cpus
    if size == 0 and not any(row[f"{name}_seeds"] for name in evals):
        return None  # a start nothing has scored yet
    return row


def collect_rows(evals):
    """A row for every finished run of every start under `run_dir`, whichever invocation
    made it, ordered by N."""
    rows = []
    for label in sorted(os.listdir(FLAGS.run_dir)):
        directory = os.path.join(FLAGS.run_dir, label)
        if label == TEACHER_CACHE or not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            match = re.fullmatch(r"n(\d+)", name)
            row = match and row_of(os.path.join(directory, name), int(match.group(1)), evals)
            if row:
                rows.append(dict(row, start=label))
    return sorted(rows, key=lambda row: row["size"])


def evaluate(label, size, student, name, seed):
    """Fine-tunes `student` on evaluation `name` with `seed`, unless done."""
    task, recipe = EVALS[name]
    folder = os.path.join(FLAGS.run_dir, label, f"n{size}", "eval", f"{name}_s{seed}")
    config_path = os.path.join(folder, "task_config.json")
    if not os.path.isfile(config_path):
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        cpu = run_tool([sys.executable, "tools/finetune.py", f"--model={student}",
                        f"--task={task}", f"--data_dir={FLAGS.data_dir}",
                        f"--output_dir={folder}", "--pooling=mean",
                        f"--sequence_length={FLAGS.sequence_length}", f"--seed={seed}", *recipe],
                       folder + ".log")
        write_json_atomic(os.path.join(os.path.dirname(folder), f"{name}_s{seed}.cpu.json"),
                          {"cpu_seconds": round(cpu, 1)})


def tfidf_floors(evals):
    """TF-IDF + logistic regression on each evaluation's training examples (the same few-shot
    subset a seed selects), mean over its seeds; None without scikit-learn."""
    try:
        from mixvocab_tf.tasks import baselines
    except ImportError:
        return {}
    floors = {}
    for name, seeds in evals.items():
        task_name, recipe = EVALS[name]
        shots = [int(flag.split("=")[1]) for flag in recipe if "examples_per_class" in flag]
        floors[name] = baselines.tfidf_floor(task_name, FLAGS.data_dir, seeds,
                                             shots[0] if shots else None)
    return floors


def log_linear_fit(points):
    """Least squares of score = a + b log10(N) over (N, score) with N > 0; None under 3."""
    points = [(math.log10(n), y) for n, y in points if n > 0 and y is not None]
    if len(points) < 3:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in points)
             / sum((x - mean_x) ** 2 for x, _ in points))
    return {"intercept": mean_y - slope * mean_x, "per_10x": slope,
            "largest": 10 ** max(x for x, _ in points)}


def complete_score(row, key, evals):
    """`row`'s `key` (the cosine or an evaluation's mean) when every seed of it is in, else
    None: a mean over fewer seeds would draw a point (or fit a line) the others do not match."""
    if key == "cosine" or len(row.get(f"{key}_seeds", ())) == len(evals[key]):
        return row.get(key)
    return None


def summarize(rows, evals, floors):
    """The curve as markdown: a row per start and N, then the fits."""
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}"
    header = ["start", "sentences", "held-out cosine"] + [
        f"{name} ({len(seeds)} seed{'s' * (len(seeds) > 1)})" for name, seeds in evals.items()
    ] + ["distillation CPU s (teacher part)"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in rows:
        cosine = row.get("cosine")
        cells = [row["start"], f"{row['size']:,}",
                 "-" if cosine is None else f"{row.get('cosine_start', 0):.3f} -> {cosine:.3f}"]
        cells += [pct(row.get(name)) + ("" if len(row[f"{name}_seeds"]) in (0, len(seeds)) else
                                        f" ({len(row[f'{name}_seeds'])} of {len(seeds)})")
                  for name, seeds in evals.items()]
        cells.append(f"{row['cpu_seconds']:,.0f} ({row['teacher_cpu_seconds']:,.0f})"
                     if "cpu_seconds" in row else "-")
        lines.append("| " + " | ".join(cells) + " |")
    if floors:
        lines.append("\nTF-IDF + logistic regression on the same training examples: " + ", ".join(
            f"{name} {pct(score)}" for name, score in floors.items()) + ".")
    fits = {}
    for start in dict.fromkeys(row["start"] for row in rows):
        for key in ["cosine", *evals]:
            fit = log_linear_fit([(r["size"], complete_score(r, key, evals)) for r in rows
                                  if r["start"] == start])
            if fit:
                fits[f"{start}/{key}"] = fit
                scale = 1 if key == "cosine" else 100
                at = lambda n: scale * (fit["intercept"] + fit["per_10x"] * math.log10(n))
                lines.append(
                    f"- {start} {key}: {scale * fit['per_10x']:+.3f} per 10x sentences; "
                    f"predicted {at(10 * fit['largest']):.3f} at 10x and "
                    f"{at(100 * fit['largest']):.3f} at 100x the largest N "
                    f"({fit['largest']:,.0f}) - extrapolations of a straight line in log N"
                    + (", which a cosine (at most 1) cannot follow for long: an upper bound."
                       if key == "cosine" else "."))
    return "\n".join(lines) + "\n", fits


def plot(rows, evals, floors, path):
    from mixvocab_tf.pipeline import report  # late: matplotlib loads slowly

    keys = ["cosine", *evals]
    colors = {start: f"C{i}" for i, start in enumerate(dict.fromkeys(r["start"] for r in rows))}
    figure, axes = report.pyplot().subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6),
                                            dpi=110)
    for axis, key in zip(axes, keys):
        for start, color in colors.items():
            points = [(r["size"], complete_score(r, key, evals)) for r in rows
                      if r["start"] == start and r["size"]]
            points = [(n, y) for n, y in points if y is not None]
            if points:
                scale = 1 if key == "cosine" else 100
                axis.plot([n for n, _ in points], [scale * y for _, y in points], marker="o",
                          color=color, label=start)
        if key in floors:
            axis.axhline(100 * floors[key], color="gray", linestyle="--", label="TF-IDF + LR")
        axis.set_xscale("log")
        axis.set_xlabel("sentences distilled")
        axis.set_title("held-out cosine to the teacher" if key == "cosine" else f"{key} (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    report.save_figure(figure, path)


def main(argv):
    del argv
    evals = parse_evals(FLAGS.evals)
    # The tools run in the repository: paths given relative to here must not move.
    starts = {label: os.path.abspath(path)
              for label, path in (spec.split("=", 1) for spec in FLAGS.starts or [])}
    FLAGS.run_dir, FLAGS.data_dir = os.path.abspath(FLAGS.run_dir), os.path.abspath(FLAGS.data_dir)
    os.makedirs(FLAGS.run_dir, exist_ok=True)
    if not FLAGS.collect:
        if not starts or not FLAGS.train_files:
            raise app.UsageError("--starts and --train_files are needed unless --collect.")
        FLAGS.train_files = [os.path.abspath(path) for path in FLAGS.train_files]
        for size in sorted(int(size) for size in FLAGS.sizes):
            for label, start in starts.items():
                started = time.time()
                student = distill(label, start, size)
                for name, seeds in evals.items():
                    for seed in seeds:
                        evaluate(label, size, student, name, seed)
                print(f"{label} n={size}: done ({time.time() - started:.0f} s)", flush=True)
    # The summary covers every finished run in run_dir, not only this invocation's.
    rows = collect_rows(evals)
    floors = tfidf_floors(evals)
    table, fits = summarize(rows, evals, floors)
    write_json_atomic(os.path.join(FLAGS.run_dir, "curve.json"), {
        "evals": evals, "rows": rows, "tfidf_floors": floors, "fits": fits})
    write_text_atomic(os.path.join(FLAGS.run_dir, "curve.md"), table)
    plot(rows, evals, floors, os.path.join(FLAGS.run_dir, "curve.png"))
    print(table)


if __name__ == "__main__":
    define_flags()
    app.run(main)
