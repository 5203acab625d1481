r"""Scores a task model directory on a split or on any file in the task's format.

Prints a table and writes a JSON report.

Usage:

  python tools/evaluate.py --model_dir=runs/snips --data_dir=../shared/data/tasks \
    --split=valid --output=runs/snips/valid.json

  # Any file (or folder) in the task's format, e.g. a held-out test split:
  python tools/evaluate.py --model_dir=runs/sst2 --eval_file=glue/SST-2/test_labelled.tsv
"""

import json
import os
import sys
import tempfile

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.cli import exit_on_bad_input
from mixvocab_tf.tasks import evaluation  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A task model directory written by tools/finetune.py.")
flags.DEFINE_string("task", None, "The task (default: the one the model was fine-tuned on).")
flags.DEFINE_string("data_dir", None, "The data folder (or a TFDS data dir for tfds: tasks).")
flags.DEFINE_string("split", None,
                    "The split to score (default: the task's dev/valid split): a registered one "
                    "or any split folder or file of the task's format under --data_dir (e.g. "
                    "test/ beside train/); an unknown name lists the splits found.")
flags.DEFINE_string("eval_file", None, "A file or folder in the task's format, instead.")
flags.DEFINE_string("oos_file", None, "CLINC150: a folder of out-of-scope utterances.")
flags.DEFINE_enum("unknown_labels", "wrong", evaluation.UNKNOWN_LABEL_POLICIES,
                  "Gold labels the model does not know: count as errors, skip, or fail.")
flags.DEFINE_bool("skip_empty", False, "Skip (and count) empty lines instead of failing.")
flags.DEFINE_integer("batch_size", 64, "Prediction batch size.")
flags.DEFINE_integer("num_candidates", 100, "Response selection: candidates per context.")
flags.DEFINE_integer("max_examples", None, "Score at most this many examples.")
flags.DEFINE_string("output", None, "Where to write the JSON report.")
flags.mark_flags_as_required(["model_dir"])


def main(argv):
    del argv
    with exit_on_bad_input(readers.TaskDataError, FileNotFoundError, ValueError):
        _main()


def _main():
    if not FLAGS.eval_file and not FLAGS.data_dir:
        raise app.UsageError("pass --data_dir (with --split) or --eval_file")
    report = evaluation.evaluate_model_dir(
        FLAGS.model_dir, task_name=FLAGS.task, data_dir=FLAGS.data_dir, split=FLAGS.split,
        eval_file=FLAGS.eval_file, oos_file=FLAGS.oos_file, unknown_labels=FLAGS.unknown_labels,
        skip_empty=FLAGS.skip_empty, batch_size=FLAGS.batch_size,
        num_candidates=FLAGS.num_candidates, max_examples=FLAGS.max_examples)
    print(evaluation.format_table(report))
    if report.get("unknown_labels"):
        print(f"gold labels unknown to the model ({FLAGS.unknown_labels}): {report['unknown_labels']}")
    if FLAGS.output:
        directory = os.path.dirname(os.path.abspath(FLAGS.output))
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(f.name, FLAGS.output)
        print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
