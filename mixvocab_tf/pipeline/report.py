"""The run's report from the stage outputs: `report.json`, `report.md` (`format_table` and the
stage costs) and `tradeoff.png` (`plot_tradeoff`), and the Markdown and figure helpers that
`experiments/reproduce/run.py` shares (`markdown_table`, `percent`, `pyplot`, `save_figure`)."""

import dataclasses
import os

from mixvocab_tf.models import pretrained
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.file_io import write_text_atomic
from mixvocab_tf.pipeline.config import MB
from mixvocab_tf.pipeline.config import _read_json

# Published peers (../shared/docs/METHOD.md): parameters, and a score where one exists.
# None of them has a published SNIPS figure, so the plot shows them by size only.
PEERS = (
    {"name": "BERT-Tiny", "parameters": 4.4e6, "note": "SST-2 83.2"},
    {"name": "TinyBERT-4", "parameters": 14.5e6, "note": None},
    {"name": "MobileBERT", "parameters": 25.3e6, "note": "62 ms on a Pixel 4"},
    {"name": "DistilBERT", "parameters": 66e6, "note": None},
)


# ---- Markdown and figure helpers -------------------------------------------------------------

def percent(value, missing="n/a"):
    """A fraction as a percentage with two decimals, or `missing` for None."""
    return missing if value is None else f"{100 * value:.2f}"


def _ms(value):
    return "n/a" if value is None else f"{value:.2f}"


def _epochs(count):
    return f"{count} epoch" + ("" if count == 1 else "s")


def markdown_table(header, rows, left=1):
    """A Markdown table as a list of lines: `header` and each of `rows` are lists of cells
    (formatted by the caller); the first `left` columns align left, the others right."""
    def line(cells):
        return "|" + "|".join(f" {cell} " if cell != "" else " " for cell in cells) + "|"

    rule = "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"
    return [line(header), rule, *(line(row) for row in rows)]


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    # Late: matplotlib is needed by the figures only, and loads slowly.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def save_figure(fig, path):
    """Writes `fig` to `path` atomically (a temporary file, then a rename) and closes it."""
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp)
    pyplot().close(fig)
    os.replace(tmp, path)


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


def format_table(report):
    """The report's results as a Markdown table."""
    slots = any(row.get("slot_f1_tflite") is not None for row in report["rows"])
    header = ["model", "size (MB)", "parameters", f"{report['task']} accuracy (TFLite)",
              *(["slot F1 (TFLite)"] if slots else []),
              "latency 1 thread (ms)", "latency 2 threads (ms)"]
    rows = [[row["model"], f"{row['size_mb']:.2f}", f"{row['parameters']:,}",
             percent(row["accuracy_tflite"]),
             *([percent(row.get("slot_f1_tflite"))] if slots else []),
             _ms(row["latency_ms_1_thread"]), _ms(row["latency_ms_2_threads"])]
            for row in report["rows"]]
    return "\n".join(markdown_table(header, rows))


def _markdown(report):
    rows = report["rows"]
    first = rows[0]
    stage_rows, wall, cpu = [], 0.0, 0.0
    distilled = (report.get("student_task_model") or {}).get("method") == "task_distillation"
    for name, t in report["stages"].items():
        # A skipped stage shows the times of the run that made its output.
        ran = t["status"] == "ran"
        seconds = t["seconds"] if ran else (t.get("previous_seconds") or 0.0)
        cpu_seconds = t["cpu_seconds"] if ran else (t.get("previous_cpu_seconds") or 0.0)
        wall, cpu = wall + seconds, cpu + cpu_seconds
        label = f"{name} (task distillation)" if name == "finetune" and distilled else name
        stage_rows.append([label, t["status"], f"{seconds:.1f}", f"{cpu_seconds:.1f}"])
    stage_rows.append(["all stages", "", f"{wall:.1f}", f"{cpu:.1f}"])
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
        *markdown_table(["stage", "this time", "wall seconds", "CPU seconds"], stage_rows,
                        left=2),
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
    plt = pyplot()
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
    save_figure(fig, path)
