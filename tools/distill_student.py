"""Stage II: distil a small student from a Stage I teacher.

Example:
  python tools/distill_student.py --teacher_dir=runs/stage1 --student_size=6x128 \
      --train_files='corpus/*.txt' --model_dir=runs/stage2 --train_steps=2000

The student directory (`--model_dir`/export) is what tools/finetune.py reads.
Rerunning the same command resumes from the last checkpoint.
"""

import json

from absl import app
from absl import flags

from mixvocab_tf.stage2.config import Stage2Config
from mixvocab_tf.training import flag_defs

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher_dir", None, "A Stage I --model_dir (tools/train_teacher.py).")
flag_defs.define_stage_input_flags(module_name=__name__)
# Every setting of Stage2Config (its training and masking settings unprefixed).
flag_defs.define_config_flags(Stage2Config, module_name=__name__)
flags.mark_flags_as_required(["teacher_dir", "train_files", "model_dir"])


def main(argv):
    del argv
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage2.student_distillation import distill_student
    from mixvocab_tf.training.callbacks import TrainingDivergedError

    with exit_on_bad_input(ValueError, FileNotFoundError, TrainingDivergedError):
        # An empty --student_size: the explicit sizes alone.
        config = flag_defs.config_from_flags(Stage2Config, FLAGS,
                                             student_size=FLAGS.student_size or None)
        result = distill_student(config, FLAGS.teacher_dir, FLAGS.train_files, FLAGS.model_dir,
                                 eval_files=FLAGS.eval_files)
    print(json.dumps({"export_dir": result["export_dir"], "metrics": result["metrics"]}, indent=2))


if __name__ == "__main__":
    app.run(main)
