r"""Publishes a distilled task model as a ready on-device classifier users load by name.

Reads the runs `experiments/transfer_curve.py` wrote (each `<run>/task/` and
`<run>/tflite_text/`): the first run's int8 text-in TFLite is shipped; every run's scores
(its seeds) go into the card as a mean. Writes `--output` (default `pretrained/<name>`):
model.tflite, labels.txt, vocab.txt, export_report.json, config.json and MODEL_CARD.md
(`export/on_device.py`), each file under 10 MB. Every figure in the card is read from the
runs' records; nothing is typed in.

Example:

  python tools/publish_classifier.py --name=sst2_sentiment \
    --runs=/work/runs/sst2/curve/n200000_s0,/work/runs/sst2/curve/n200000_s1 \
    --teacher_dir=/work/runs/sst2/teacher_e1 --curve=/work/runs/sst2/curve/curve.md

Then `mixvocab_tf.load_on_device_classifier("sst2_sentiment").classify([...])`.
"""

import os
import statistics
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.cli import exit_on_bad_input  # noqa: E402
from mixvocab_tf.export import on_device  # noqa: E402
from mixvocab_tf.file_io import read_json  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("name", None, "The name users load it by, e.g. sst2_sentiment.")
flags.DEFINE_list("runs", None, "Run folders (task/, tflite_text/), one a seed; the first ships.")
flags.DEFINE_string("teacher_dir", None, "The fine-tuned teacher task model, for the card.")
flags.DEFINE_string("ids_export", None,
                    "Optional ids-form export with MediaPipe metadata, shipped beside it.")
flags.DEFINE_string("mediapipe_scores", None,
                    "Optional JSON of MediaPipe's TextClassifier scores of --ids_export on the "
                    "evaluated split's texts (tools/add_mediapipe_metadata.py --texts=... "
                    "--scores_output=...), scored into the card.")
flags.DEFINE_string("data_dir", None, "The task data (for --mediapipe_scores' gold labels).")
flags.DEFINE_string("curve", None, "Optional curve.md (experiments/transfer_curve.py) for the card.")
flags.DEFINE_string("output", None, "The folder to write (default: pretrained/<name>).")
flags.DEFINE_string("student_start_note", None,
                    "What the runs' student start was, for the card (a published student is "
                    "remade from time to time, e.g. 'the published 6x128 of 2026-12-06').")
flags.DEFINE_string("license", "Apache-2.0 (the teacher all-MiniLM-L6-v2 is Apache-2.0; the "
                    "transfer text is used for training only and not shipped)",
                    "The card's licence line.")
flags.mark_flags_as_required(["name", "runs"])


def _run_record(run):
    task = read_json(os.path.join(run, "task", "task_config.json"))
    export = read_json(os.path.join(run, "tflite_text", "export_report.json"))
    return task, export


def _mediapipe_accuracy(scores_path, task, data_dir):
    """The accuracy of MediaPipe's scores on the evaluated split, checked against its texts."""
    import numpy as np

    from mixvocab_tf.tasks import scoring
    from mixvocab_tf.tasks import task_registry

    if not data_dir:
        raise FileNotFoundError("--mediapipe_scores needs --data_dir (the gold labels). Fix: "
                                "pass the task data folder the run was scored on.")
    run = read_json(scores_path)
    task_spec = task_registry.get_task(task["task"])
    split = task_spec.read(data_dir, task["eval"]["split"])
    if [t.strip() for t in run["texts"]] != [t.strip() for t in split.texts]:
        raise on_device.OnDeviceModelError(
            f"{scores_path} scores {len(run['texts'])} texts that are not the "
            f"{task['eval']['split']} split's {len(split.texts)}. Fix: classify its texts, in "
            "order (tools/add_mediapipe_metadata.py --texts=...).")
    labels = task["labels"]
    predicted = np.argmax(np.asarray(run["scores"]), axis=-1)
    return scoring.classification_metrics(
        task_spec, labels, scoring.gold_label_ids(split.labels, labels), predicted)["accuracy"]


def _pct(value):
    return f"{100 * value:.2f}"


def main(argv):
    del argv
    with exit_on_bad_input(FileNotFoundError, on_device.OnDeviceModelError, KeyError):
        _main()


def _main():
    records = [_run_record(run) for run in FLAGS.runs]
    task, export = records[0]
    distillation = task["distillation"]
    metric = task["metrics"][0]
    keras_scores = [t["eval"]["metrics"][metric] for t, _ in records]
    int8_scores = [e["accuracy"]["tflite"] for _, e in records]
    seeds = [t["training"]["seed"] for t, _ in records]
    teacher = read_json(os.path.join(FLAGS.teacher_dir, "task_config.json")) if (
        FLAGS.teacher_dir) else None
    teacher_score = teacher["eval"]["metrics"][metric] if teacher else None
    spread = lambda values: (f" (seeds {', '.join(_pct(v) for v in values)})"
                             if len(values) > 1 else "")
    scores = {
        "split": task["eval"]["split"], "examples": export["accuracy"]["examples"],
        "metric": metric, "int8_tflite": export["accuracy"]["tflite"],
        "keras": task["eval"]["metrics"][metric],
        "int8_tflite_mean": statistics.mean(int8_scores), "keras_mean": statistics.mean(keras_scores),
        "seeds": seeds, "teacher": teacher_score,
        "kept_of_teacher": (statistics.mean(int8_scores) / teacher_score) if teacher_score else None}
    cached, shards = distillation.get("teacher_shards") or (0, 0)
    shards_note = (f" for the {shards - cached} of {shards} shards not labelled by earlier runs"
                   if cached else "")
    mediapipe_row = ""
    if FLAGS.mediapipe_scores:
        if not FLAGS.ids_export:
            raise FileNotFoundError("--mediapipe_scores scores the ids form, which ships only "
                                    "with --ids_export. Fix: pass --ids_export too.")
        scores["mediapipe_ids"] = _mediapipe_accuracy(FLAGS.mediapipe_scores, task,
                                                      FLAGS.data_dir)
        mediapipe_row = (f"| `model_ids_mediapipe.tflite` in MediaPipe's TextClassifier (seed "
                         f"{seeds[0]}) | {_pct(scores['mediapipe_ids'])} |\n")
    transfer = distillation.get("transfer_text") or {}
    config = {
        "name": FLAGS.name, "task": task["task"], "labels": task.get("labels"),
        "sequence_length": export["sequence_length"], "input": "text",
        "quantization": export["quantization"], "parameters": export["parameter_count"],
        "scores": scores,
        "provenance": {
            "student_start": task["encoder"]["path"], "teacher_dir": distillation["teacher_dir"],
            "transfer_files": [os.path.basename(p) for p in distillation["transfer_files"]],
            "transfer_text": transfer, "transfer_examples": distillation["transfer_examples"],
            "training": {k: task["training"].get(k) for k in (
                "epochs", "steps", "batch_size", "learning_rate", "seed")},
            "kd_weight": distillation["kd_weight"], "hard_weight": distillation["hard_weight"],
            "temperature": distillation["temperature"],
            "teacher_cpu_seconds": distillation["teacher_cpu_seconds"],
            "student_cpu_seconds": distillation["student_cpu_seconds"]}}
    counts = distillation["transfer_examples"]
    training = task["training"]
    size_mb = export["file_size_bytes"] / 1e6
    one_thread = (export.get("latency_ms") or {}).get("median_1_thread")
    teacher_training = (teacher or {}).get("training", {})
    transfer_files = ", ".join(config["provenance"]["transfer_files"])
    kept = (f"It keeps {100 * scores['kept_of_teacher']:.1f}% of its teacher's accuracy."
            if teacher_score else "")
    card = f"""# {FLAGS.name}: an on-device {task['task']} classifier (int8 TFLite, text in)

A small student encoder distilled into an English sentiment classifier: {size_mb:.2f} MB, {export['parameter_count']:,} parameters, text in (the tokenizer is in the graph), `probabilities` over the labels {task.get('labels') or '(labels.txt)'} out: GLUE SST-2's `0` negative and `1` positive.

## Scores ({scores['split']}, {scores['examples']} sentences, {metric})

| model | {metric} |
|---|---:|
| this model, int8 TFLite in LiteRT (seed {seeds[0]}) | {_pct(scores['int8_tflite'])} |
| int8 TFLite, mean of {len(seeds)} seed(s){spread(int8_scores)} | {_pct(scores['int8_tflite_mean'])} |
| Keras float, mean of {len(seeds)} seed(s){spread(keras_scores)} | {_pct(scores['keras_mean'])} |
{mediapipe_row}| its teacher, all-MiniLM-L6-v2 fine-tuned (float) | {_pct(teacher_score) if teacher_score else '-'} |

{kept} Median latency of one query at 1 thread (LiteRT, the build machine's CPU): {f'{one_thread:.2f} ms' if one_thread else 'not measured'}.

## How it was made

- Teacher: all-MiniLM-L6-v2 fine-tuned on the 67,349 SST-2 training phrases, {teacher_training.get('epochs', '?')} epoch(s) at {teacher_training.get('learning_rate', '?')}, batch {teacher_training.get('batch_size', '?')} ({teacher_training.get('seconds', '?')} s wall on 2 cores).
- Student start: `{task['encoder']['path']}`{', ' + FLAGS.student_start_note if FLAGS.student_start_note else ''}.
- Transfer set: the {counts['labelled']:,} labelled training phrases and {counts['unlabelled']:,} unlabelled sentences of {transfer_files} (IMDB reviews, Maas et al. 2011: development data, never shipped), cut into sentences of {transfer.get('min_words')}-{transfer.get('max_words')} words, duplicates and anything equal to an SST-2 dev sentence dropped, drawn with seed {transfer.get('seed')}.
- Loss: {distillation['kd_weight']} x T^2 KL to the teacher's probabilities at T={distillation['temperature']} on every example, plus {distillation['hard_weight']} x cross-entropy to the gold labels of the phrases; {training['epochs']} epochs, batch {training['batch_size']}, peak rate {training['learning_rate']}, L={task['sequence_length']}.
- Cost on 2 CPU cores: the teacher pass {distillation['teacher_cpu_seconds']:,.0f} CPU s{shards_note} (labels cached in resumable shards, shared by every seed), the student pass {distillation['student_cpu_seconds']:,.0f} CPU s.

The commands (`docs/RESULTS.md`, "SST-2: in-domain transfer text"):

    python tools/finetune.py --model=<all-MiniLM-L6-v2 dir> --task=sst2 \\
      --data_dir=../shared/data/tasks --output_dir=runs/sst2_teacher --epochs=1 \\
      --batch_size=32 --learning_rate=1e-4 --sequence_length=64
    python tools/distill_task.py --student=6x128 --teacher_dir=runs/sst2_teacher --task=sst2 \\
      --data_dir=../shared/data/tasks --output_dir=runs/sst2_student \\
      --transfer_files=../shared/data/corpora/imdb_reviews_en.txt.gz \\
      --transfer_max_lines={counts['unlabelled']} --epochs={training['epochs']} \\
      --learning_rate={training['learning_rate']} --sequence_length={task['sequence_length']} --seed={seeds[0]}
    python tools/export_tflite.py --model_dir=runs/sst2_student \\
      --output_dir=runs/sst2_student_tflite --sequence_length={export['sequence_length']} \\
      --data_dir=../shared/data/tasks

## Use

    import mixvocab_tf
    classifier = mixvocab_tf.load_on_device_classifier("{FLAGS.name}")
    classifier.classify(["a gorgeous, witty film", "a dull, lifeless mess"])

On Android, `model.tflite` runs in LiteRT with tensorflow-text's ops registered (docs/EXPORT.md, "On Android").{' `model_ids_mediapipe.tflite` is the ids form with the metadata MediaPipe' + "'s TextClassifier reads (it tokenises on the device)." if FLAGS.ids_export else ''}

## Limits

English movie-review sentiment of short texts: up to {export['sequence_length']} word pieces, longer text is cut. Trained on review language, so other domains will score lower. Scored on the GLUE SST-2 dev set only (the test labels are not public). Two classes, no neutral.

## Licence

{FLAGS.license}.
"""
    if FLAGS.curve:
        with open(FLAGS.curve, encoding="utf-8") as f:
            card += "\n## Transfer-set size against accuracy (the runs behind it)\n\n" + f.read()
    output = FLAGS.output or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", FLAGS.name)
    on_device.publish_classifier(os.path.join(FLAGS.runs[0], "tflite_text"), output, config,
                                 card, ids_export_dir=FLAGS.ids_export)
    print(f"wrote {output}: int8 {_pct(scores['int8_tflite'])} (mean of {len(seeds)}: "
          f"{_pct(scores['int8_tflite_mean'])}), {size_mb:.2f} MB")


if __name__ == "__main__":
    app.run(main)
