"""Stage I: teach a pretrained BERT the student vocabulary (mixed-vocabulary MLM).

Example:
  python tools/train_teacher.py --teacher=/path/to/bert --student_vocab=vocab.txt \
      --train_files='corpus/*.txt' --model_dir=runs/stage1 --train_steps=2000

Rerunning the same command resumes from the last checkpoint.
"""

import json

from absl import app
from absl import flags

from mixvocab_tf.training import flag_defs

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher", None, "A BERT: Hugging Face dir, keras-hub preset or Google checkpoint dir.")
flags.DEFINE_string("student_vocab", None, "The student vocab.txt (tools/learn_vocab.py).")
flags.DEFINE_float("p_sv_start", 0.1, "Share of words segmented with the student vocabulary at step 0.")
flags.DEFINE_float("p_sv_end", 1.0, "... at --p_sv_ramp_fraction of the steps and after (linear ramp).")
flags.DEFINE_float("p_sv_ramp_fraction", 0.6,
                   "Share of the steps after which p_sv holds at --p_sv_end (each phase).")
flags.DEFINE_integer("new_parameter_steps", None,
                     "Steps training only E_s, P and the MLM head (encoder frozen, p_sv from 0) "
                     "before the --train_steps of the joint phase; 0 skips that phase "
                     "(default: half of --train_steps).")
flags.DEFINE_float("new_parameter_learning_rate", 1e-3, "Peak AdamW rate of that phase.")
flags.DEFINE_integer("student_embedding_dim", 128, "Width d of the student embedding table.")
flags.DEFINE_enum("student_init", "teacher", ["teacher", "random"],
                  "Start E_s P from the teacher's embeddings of each student token, or at random.")
flag_defs.define_training_flags(learning_rate=5e-5)
flags.mark_flags_as_required(["teacher", "student_vocab", "train_files", "model_dir"])


def main(argv):
    del argv
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage1.teacher_training import train_teacher
    from mixvocab_tf.training.callbacks import TrainingDivergedError

    # TrainingDivergedError is a RuntimeError: its message says how to resume.
    with exit_on_bad_input(ValueError, FileNotFoundError, TrainingDivergedError):
        result = train_teacher(
            teacher=FLAGS.teacher,
            student_vocab=FLAGS.student_vocab,
            p_sv_start=FLAGS.p_sv_start,
            p_sv_end=FLAGS.p_sv_end,
            p_sv_ramp_fraction=FLAGS.p_sv_ramp_fraction,
            new_parameter_steps=FLAGS.new_parameter_steps,
            new_parameter_learning_rate=FLAGS.new_parameter_learning_rate,
            student_embedding_dim=FLAGS.student_embedding_dim,
            student_init=FLAGS.student_init,
            **flag_defs.training_kwargs(FLAGS),
        )
    print(json.dumps({"export_dir": result["export_dir"], "metrics": result["metrics"]}, indent=2))


if __name__ == "__main__":
    app.run(main)
