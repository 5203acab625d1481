"""Stage I: teach a pretrained BERT the student vocabulary (mixed-vocabulary MLM).

Example:
  python tools/train_teacher.py --teacher=/path/to/bert --student_vocab=vocab.txt \
      --train_files='corpus/*.txt' --model_dir=runs/stage1 --train_steps=2000

Rerunning the same command resumes from the last checkpoint.
"""

import json

from absl import app
from absl import flags

from mixvocab_tf.stage1.config import Stage1Config
from mixvocab_tf.training import flag_defs

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher", None, "A BERT: Hugging Face dir, keras-hub preset or Google checkpoint dir.")
flags.DEFINE_string("student_vocab", None, "The student vocab.txt (tools/learn_vocab.py).")
flag_defs.define_stage_input_flags(module_name=__name__)
# Every setting of Stage1Config (its training and masking settings unprefixed).
flag_defs.define_config_flags(Stage1Config, module_name=__name__)
flags.mark_flags_as_required(["teacher", "student_vocab", "train_files", "model_dir"])


def main(argv):
    del argv
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage1.teacher_training import train_teacher
    from mixvocab_tf.training.callbacks import TrainingDivergedError

    # TrainingDivergedError is a RuntimeError: its message says how to resume.
    with exit_on_bad_input(ValueError, FileNotFoundError, TrainingDivergedError):
        config = flag_defs.config_from_flags(Stage1Config, FLAGS)
        result = train_teacher(config, FLAGS.teacher, FLAGS.student_vocab, FLAGS.train_files,
                               FLAGS.model_dir, eval_files=FLAGS.eval_files)
    print(json.dumps({"export_dir": result["export_dir"], "metrics": result["metrics"]}, indent=2))


if __name__ == "__main__":
    app.run(main)
