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

from mixvocab_tf.training import flag_defs

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher_dir", None, "A Stage I --model_dir (tools/train_teacher.py).")
flags.DEFINE_string("student_size", "6x128", "A named size (12x256, 6x256, 12x128, 6x128, 6x96) "
                    "or any <layers>x<hidden> (e.g. 2x32); "
                    "empty to use the explicit sizes.")
flags.DEFINE_integer("num_layers", None, "Explicit student layers (overrides the named size).")
flags.DEFINE_integer("hidden_dim", None, "Explicit student hidden size.")
flags.DEFINE_integer("num_heads", None, "Explicit attention heads.")
flags.DEFINE_integer("intermediate_dim", None, "Explicit feed-forward width.")
flags.DEFINE_float("mlm_weight", 1.0, "Weight of the student's masked-LM cross-entropy.")
flags.DEFINE_float("kd_weight", 1.0, "Weight of the MLM logit distillation (KL).")
flags.DEFINE_float("hidden_weight", 1.0, "Weight of the hidden-state MSE via the shared projection.")
flags.DEFINE_float("attention_weight", 0.0, "Weight of the attention KL.")
flags.DEFINE_float("temperature", 1.0, "Logit distillation temperature.")
flags.DEFINE_enum("projection", "up", ["up", "down"],
                  "Shared projection: student H -> teacher D (up) or D -> H (down).")
flags.DEFINE_bool("init_from_teacher", True, "Start the word embeddings from the Stage I table.")
flag_defs.define_training_flags(learning_rate=5e-4)
flags.mark_flags_as_required(["teacher_dir", "train_files", "model_dir"])


def main(argv):
    del argv
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage2.student_distillation import distill_student
    from mixvocab_tf.training.callbacks import TrainingDivergedError

    with exit_on_bad_input(ValueError, FileNotFoundError, TrainingDivergedError):
        result = distill_student(
            teacher_dir=FLAGS.teacher_dir,
            student_size=FLAGS.student_size or None,
            num_layers=FLAGS.num_layers,
            hidden_dim=FLAGS.hidden_dim,
            num_heads=FLAGS.num_heads,
            intermediate_dim=FLAGS.intermediate_dim,
            mlm_weight=FLAGS.mlm_weight,
            kd_weight=FLAGS.kd_weight,
            hidden_weight=FLAGS.hidden_weight,
            attention_weight=FLAGS.attention_weight,
            temperature=FLAGS.temperature,
            projection=FLAGS.projection,
            init_from_teacher=FLAGS.init_from_teacher,
            **flag_defs.training_kwargs(FLAGS),
        )
    print(json.dumps({"export_dir": result["export_dir"], "metrics": result["metrics"]}, indent=2))


if __name__ == "__main__":
    app.run(main)
