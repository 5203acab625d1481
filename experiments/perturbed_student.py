r"""A student with every weight moved by one relative step in a random direction.

How much of a fine-tuning score is the seed's draw and how much the weights' last bits?
Published students are stored as float16 (relative rounding error up to 2^-11); this writes
the float32 student with every value multiplied by `1 + s * --relative_step`, `s` a random
sign a value, as a student directory that `tools/evaluate_student.py` and
`tools/finetune.py` take. Scoring a few such draws beside the original and the float16
weights tells whether rounding costs accuracy or only moves a run within its spread
(docs/RESULTS.md, "The wider students").

Example:
  python experiments/perturbed_student.py --student=runs/scale/curve/subclone4x192/n262144 \
    --output_dir=runs/perturb/p1 --seed=1
  python tools/evaluate_student.py --student=runs/perturb/p1 --data_dir=../shared/data \
    --output_dir=runs/perturb/card_p1 --evaluations=banking77_10shot:0 --noint8
"""

import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from mixvocab_tf.cli import exit_on_bad_input  # noqa: E402
from mixvocab_tf.file_io import write_directory_atomic  # noqa: E402
from mixvocab_tf.models.student_directory import StudentDirectoryError  # noqa: E402
from mixvocab_tf.models.student_directory import load_student_directory  # noqa: E402
from mixvocab_tf.models.student_directory import save_student_directory  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """Defined when run, not on import (tests load this script beside others' flags)."""
    flags.DEFINE_string("student", None, "A Stage II student directory or run folder.")
    flags.DEFINE_string("output_dir", None, "The student directory to write.")
    flags.DEFINE_float("relative_step", 2.0 ** -11, "The relative change of every value "
                       "(default: float16's largest relative rounding error).")
    flags.DEFINE_integer("seed", 0, "Draws the signs.")
    flags.mark_flags_as_required(["student", "output_dir"])


def perturbed(weights, relative_step, seed):
    """`weights` (numpy arrays), each value times `1 +- relative_step`, signs drawn by `seed`."""
    rng = np.random.default_rng(seed)
    return [w * (1 + relative_step * rng.choice([-1.0, 1.0], size=w.shape)).astype(w.dtype)
            for w in weights]


def main(argv):
    del argv
    with exit_on_bad_input(StudentDirectoryError, FileNotFoundError):
        student, vocabulary, config = load_student_directory(FLAGS.student)
    student.set_weights(perturbed(student.get_weights(), FLAGS.relative_step, FLAGS.seed))
    write_directory_atomic(FLAGS.output_dir, lambda staging: save_student_directory(
        staging, student, vocabulary, config))
    print(f"wrote {FLAGS.output_dir}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
