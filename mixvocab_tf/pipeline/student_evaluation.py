"""The evaluation a general student's model card reports, run in one call and resumable.

Each evaluation fine-tunes the student plainly (no teacher) with the task's default head on
one downstream task, a run for each seed; the first seed's task model is also exported as
the dynamic-int8 text-in TFLite a phone runs and scored in LiteRT. Beside the scores sits the
TF-IDF + logistic-regression floor on the same training examples (the same few-shot draw a
seed makes). The result is the `{task: {metric: value}}` mapping that
`tools/publish_student.py --evaluation` writes into the card, so a remade student's card is
made by the same recipe as the shipped ones.

Example:
>>> config = StudentEvaluationConfig(evaluations=("banking77_10shot:0/1/2", "snips:0"))
>>> evaluation = evaluate_student("6x128", "../shared/data", "runs/eval_6x128", config)
>>> evaluation["banking77_10shot (valid 1540)"]["accuracy float, mean"]
77.53
"""

import dataclasses
import os
import resource
from typing import Optional

from mixvocab_tf.export import exporter
from mixvocab_tf.file_io import read_json
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.tasks import baselines
from mixvocab_tf.tasks import configs
from mixvocab_tf.tasks import finetuning
from mixvocab_tf.training.flag_defs import config_field


@dataclasses.dataclass(frozen=True)
class CardEvaluation:
    """One downstream evaluation of a card: the task and its plain fine-tuning recipe."""

    task: str
    epochs: int
    batch_size: int
    learning_rate: float
    examples_per_class: Optional[int] = None


# The recipes the shipped students' cards were scored with (docs/RESULTS.md, "The remade
# students"): BANKING77 with 10 utterances an intent, 20 epochs; SST-2 and SNIPS 2 epochs.
CARD_EVALUATIONS = {
    "banking77_10shot": CardEvaluation("banking77", epochs=20, batch_size=16,
                                       learning_rate=3e-4, examples_per_class=10),
    "sst2": CardEvaluation("sst2", epochs=2, batch_size=32, learning_rate=3e-4),
    "snips": CardEvaluation("snips", epochs=2, batch_size=32, learning_rate=3e-4),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudentEvaluationConfig:
    """What `evaluate_student` runs."""

    evaluations: tuple = config_field(
        ("banking77_10shot:0/1/2", "sst2:0/1/2", "snips:0"),
        f"NAME:SEED/SEED/... of each evaluation; names: {', '.join(CARD_EVALUATIONS)}. The "
        "first seed's task model is also scored as int8 TFLite.")
    sequence_length: int = config_field(64, "Sequence length of fine-tuning and export.")
    int8: bool = config_field(True, "Export and score the first seed's int8 text-in TFLite.")
    max_train_examples: Optional[int] = config_field(
        None, "Train on at most this many examples (a quick look, not a card's figure).")
    max_eval_examples: Optional[int] = config_field(
        None, "Score at most this many examples (a quick look, not a card's figure).")

    def seeds(self):
        """`{"banking77_10shot": [0, 1, 2], ...}` from `evaluations`.

        Raises:
          ValueError: an unknown name or a seed that is not a number.
        """
        parsed = {}
        for spec in self.evaluations:
            name, _, seeds = spec.partition(":")
            if name not in CARD_EVALUATIONS:
                raise ValueError(f"unknown evaluation {name!r} in {spec!r}. Fix: one of "
                                 f"{', '.join(CARD_EVALUATIONS)}, e.g. sst2:0/1/2.")
            try:
                parsed[name] = [int(seed) for seed in seeds.split("/")] if seeds else [0]
            except ValueError:
                raise ValueError(f"the seeds of {spec!r} are not numbers. Fix: NAME:0/1/2."
                                 ) from None
        return parsed


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _finetune_config(evaluation, config, seed):
    return configs.FinetuneConfig(
        task=evaluation.task,
        training=configs.TaskTrainingConfig(
            epochs=evaluation.epochs, batch_size=evaluation.batch_size,
            learning_rate=evaluation.learning_rate, sequence_length=config.sequence_length,
            seed=seed),
        data=configs.DataSelectionConfig(
            examples_per_class=evaluation.examples_per_class,
            max_train_examples=config.max_train_examples,
            max_eval_examples=config.max_eval_examples))


def run_evaluation(student, data_dir, output_dir, name, seeds, config, log=print):
    """Runs (or reads, when done) every seed of evaluation `name`; returns its card entry and
    its label, e.g. `"sst2 (dev 872)"`."""
    evaluation = CARD_EVALUATIONS[name]
    scores, metric, split = [], None, None
    for index, seed in enumerate(seeds):
        folder = os.path.join(output_dir, f"{name}_s{seed}")
        cpu_path = folder + ".cpu.json"
        if not os.path.isfile(os.path.join(folder, "task_config.json")):
            log(f"{name} seed {seed}: fine-tuning {student}")
            start = _cpu_seconds()
            finetuning.finetune(_finetune_config(evaluation, config, seed), student, data_dir,
                                folder, verbose=0)
            write_json_atomic(cpu_path, {"finetune_cpu_seconds": round(_cpu_seconds() - start, 1)})
        task_config = read_json(os.path.join(folder, "task_config.json"))
        metric = task_config["metrics"][0]
        split = f"{task_config['eval']['split']} {task_config['eval']['examples']}"
        scores.append(100 * task_config["eval"]["metrics"][metric])
        log(f"{name} seed {seed}: {metric} {scores[-1]:.2f}")
    seed_list = "/".join(map(str, seeds))
    entry = {f"{metric} float, seed {seed_list}": " / ".join(f"{s:.2f}" for s in scores)}
    if len(scores) > 1:
        entry[f"{metric} float, mean"] = round(sum(scores) / len(scores), 2)
    if config.int8:
        folder = os.path.join(output_dir, f"{name}_s{seeds[0]}")
        report_path = os.path.join(folder + ".int8", "export_report.json")
        if not os.path.isfile(report_path):
            log(f"{name} seed {seeds[0]}: exporting int8 TFLite")
            exporter.export_tflite(folder, folder + ".int8", quantization="dynamic_int8",
                                   input_form="text", sequence_length=config.sequence_length,
                                   data_dir=data_dir, max_eval_examples=config.max_eval_examples,
                                   measure_latency=False)
        report = read_json(report_path)
        entry[f"{metric} int8 (text in), seed {seeds[0]}"] = round(
            100 * report["accuracy"]["tflite"], 2)
        entry["int8 TFLite MB"] = round(report["file_size_bytes"] / 1e6, 2)
    floor = baselines.tfidf_floor(evaluation.task, data_dir, seeds,
                                  evaluation.examples_per_class, config.max_train_examples,
                                  config.max_eval_examples)
    entry["TF-IDF+LR"] = round(100 * floor, 2)
    return f"{name} ({split})", entry


def evaluate_student(student, data_dir, output_dir, config=None, log=print):
    """Scores `student` as its card reports it; writes `output_dir/evaluation.json`.

    Every run keeps its folder under `output_dir` (`<name>_s<seed>/`, `<name>_s<seed>.int8/`,
    its CPU seconds in `<name>_s<seed>.cpu.json`), so a rerun skips what is done and a killed
    call resumes at the first unfinished run.

    Args:
      student: a published student's name (e.g. `6x128`) or folder, or a Stage II student
        directory.
      data_dir: the data folder (`../shared/data` or its `tasks/`).
      output_dir: where the runs and `evaluation.json` go.
      config: a `StudentEvaluationConfig` (default: the cards' three evaluations).
      log: where progress lines go.

    Returns:
      `{"<name> (<split> <examples>)": {metric: value}}`, as `publish_student` takes it.
    """
    config = config or StudentEvaluationConfig()
    seeds = config.seeds()
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"no data folder {data_dir}. Fix: --data_dir=../shared/data.")
    os.makedirs(output_dir, exist_ok=True)
    evaluation = {}
    for name, name_seeds in seeds.items():
        label, entry = run_evaluation(student, data_dir, output_dir, name, name_seeds, config,
                                      log)
        evaluation[label] = entry
    write_json_atomic(os.path.join(output_dir, "evaluation.json"), evaluation)
    return evaluation
