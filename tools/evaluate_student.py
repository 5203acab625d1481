r"""Scores a general student as its model card reports it; writes the card's evaluation JSON.

Plain fine-tuning with the default head on BANKING77 10-shot, SST-2 and SNIPS (a run a seed),
the first seed's int8 text-in TFLite scored in LiteRT, and the TF-IDF + logistic-regression
floor on the same training examples. Runs go under --output_dir; a rerun skips what is done.

Usage:

  python tools/evaluate_student.py --student=runs/sentemb_6x128 --data_dir=../shared/data \
    --output_dir=runs/card_6x128
  python tools/publish_student.py --student_dir=runs/sentemb_6x128 --name=6x128 \
    --evaluation=runs/card_6x128/evaluation.json ...

  # A quick look at one task and seed:
  python tools/evaluate_student.py --student=6x128 --data_dir=../shared/data \
    --output_dir=runs/card_quick --evaluations=snips:0
"""

import json
import os
import sys

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.cli import exit_on_bad_input  # noqa: E402
from mixvocab_tf.pipeline import student_evaluation  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402
from mixvocab_tf.training.flag_defs import config_from_flags  # noqa: E402
from mixvocab_tf.training.flag_defs import define_config_flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("student", None, "A published student's name (e.g. 6x128) or folder, or a "
                    "Stage II student directory.")
flags.DEFINE_string("data_dir", None, "The data folder (../shared/data or its tasks/ folder).")
flags.DEFINE_string("output_dir", None, "Where the runs and evaluation.json go.")
define_config_flags(student_evaluation.StudentEvaluationConfig, module_name=__name__)
flags.mark_flags_as_required(["student", "data_dir", "output_dir"])


def main(argv):
    del argv
    with exit_on_bad_input(readers.TaskDataError, FileNotFoundError, ValueError):
        config = config_from_flags(student_evaluation.StudentEvaluationConfig, FLAGS)
        evaluation = student_evaluation.evaluate_student(FLAGS.student, FLAGS.data_dir,
                                                         FLAGS.output_dir, config)
    print(json.dumps(evaluation, indent=1))
    print(f"wrote {os.path.join(os.path.abspath(FLAGS.output_dir), 'evaluation.json')}")


if __name__ == "__main__":
    app.run(main)
