r"""Writes tokenizer test vectors for the Android demo's Java tokenizer.

For each text: the token ids and padding mask that the model's own preprocessor gives
(`mixvocab_tf/export/test_vectors.py` has the format). The app's JVM tests
(`android_demo/core`) must reproduce every row.

  python tools/export_test_vectors.py --vocab=runs/demo/tflite/vocab.txt \
      --sequence_length=32 --output=runs/demo/tflite/test_vectors.tsv
"""

import os

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("vocab", None, "vocab.txt of the exported model.", required=True)
flags.DEFINE_integer("sequence_length", 128, "L of the exported model.")
flags.DEFINE_bool("lower_case", True, "Whether the model's tokenizer lower-cases.")
flags.DEFINE_enum("normalization", "bert", ["bert", "mediapipe"],
                  "The model's normalisation (its task_config.json says which).")
flags.DEFINE_string("texts", None, "Text file, one text a line (default: the shipped SNIPS "
                    "valid split, data/tasks/snips).")
flags.DEFINE_string("output", None, "Where to write the vectors (.tsv).", required=True)


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.export.test_vectors import EDGE_CASE_TEXTS
    from mixvocab_tf.export.test_vectors import write_test_vectors
    from mixvocab_tf.vocab import Vocabulary

    # The SNIPS split the repository ships (the same file as the development set's).
    path = FLAGS.texts or os.path.join(paths.REPO_ROOT, "data", "tasks", "snips", "valid", "seq.in")
    with exit_on_bad_input(ValueError, FileNotFoundError):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"--texts {path} not found. Fix: pass a text file, one text a line.")
        with open(path, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f]
        vocabulary = Vocabulary.load(FLAGS.vocab, lower_case=FLAGS.lower_case)
        count = write_test_vectors(FLAGS.output, vocabulary, texts + list(EDGE_CASE_TEXTS),
                                   FLAGS.sequence_length, lower_case=FLAGS.lower_case,
                                   normalization=FLAGS.normalization)
    print(f"Wrote {count} test vectors (L={FLAGS.sequence_length}) to {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
