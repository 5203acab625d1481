"""Weight subcloning: a student directory whose weights are the teacher's most important neurons.

Example:
  python tools/subclone_student.py --vocab=pretrained/6x128/vocab.txt --student_size=6x128 \
      --sample_files=../shared/data/corpora/wikipedia_en.txt.gz --sample_sentences=2000 \
      --output_dir=runs/subclone_6x128
  python tools/distill_embeddings.py --student=runs/subclone_6x128 --model_dir=runs/sentemb \
      --train_files=../shared/data/corpora/wikipedia_en.txt.gz

The teacher (default: the installed all-MiniLM-L6-v2) reads --sample_sentences sentences of
--sample_files with its own vocabulary; the importance of its residual dimensions, heads and
feed-forward units on them picks what the student keeps (mixvocab_tf/stage2/subcloning.py).
The student's heads keep the teacher's width (32 for MiniLM: a 128-wide student has 4). The
output directory (student.keras, vocab.txt, config.json) is what tools/distill_embeddings.py
--student and tools/finetune.py --model read.
"""

import json

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher", None, "The teacher (Hugging Face, keras-hub preset or Google BERT "
                    "directory; default: the installed all-MiniLM-L6-v2).")
flags.DEFINE_string("vocab", None, "The student's vocab.txt (tools/learn_vocab.py).")
flags.DEFINE_string("student_size", "6x128", "A named size (6x128, 6x96, ...) or "
                    "'<layers>x<hidden>': at most the teacher's layers and width, the width a "
                    "multiple of the teacher's head width.")
flags.DEFINE_list("sample_files", None, "Text the teacher's activations are measured on (.txt, "
                  ".txt.gz; one paragraph a line).")
flags.DEFINE_integer("sample_sentences", 2000, "Sentences of --sample_files measured.")
flags.DEFINE_integer("sequence_length", 128, "The teacher's input length on the sample.")
flags.DEFINE_string("output_dir", None, "The student directory to write.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
flags.DEFINE_integer("seed", 0, "Seed of the sentence sample.")
flags.mark_flags_as_required(["vocab", "sample_files", "output_dir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}. Fix: pass everything as flags.")
    if FLAGS.sample_sentences < 1 or FLAGS.sequence_length < 8:
        raise app.UsageError(
            f"--sample_sentences={FLAGS.sample_sentences}, --sequence_length="
            f"{FLAGS.sequence_length}. Fix: a positive sample and a length of at least 8.")
    from mixvocab_tf import paths
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage2.subcloning import subclone_student_directory

    with exit_on_bad_input(ValueError, FileNotFoundError, FileExistsError):
        config = subclone_student_directory(
            FLAGS.teacher or paths.minilm_teacher_path(), FLAGS.vocab, FLAGS.student_size,
            FLAGS.sample_files, FLAGS.output_dir, sample_sentences=FLAGS.sample_sentences,
            sequence_length=FLAGS.sequence_length, seed=FLAGS.seed, overwrite=FLAGS.overwrite)
    record = config["subcloning"]
    print(json.dumps({
        "output_dir": FLAGS.output_dir,
        "shape": {k: config[k] for k in ("num_layers", "hidden_dim", "num_heads",
                                         "intermediate_dim", "parameters")},
        "teacher_layers": record["teacher_layers"],
        "sample_sentences": record["sample_sentences"],
        "sample_tokens": record["sample_tokens"],
        "student_tokens": record["student_tokens"],
    }, indent=2))


if __name__ == "__main__":
    app.run(main)
