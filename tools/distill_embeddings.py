"""Stage II's sentence-embedding distillation: a student learns the teacher's sentence vectors.

Example:
  python tools/distill_student.py --teacher_dir=runs/stage1 --train_files=corpus.txt \
      --model_dir=runs/stage1_table --train_steps=0      # the Stage I table, random layers
  python tools/distill_embeddings.py --student=runs/stage1_table --model_dir=runs/sentence_emb \
      --train_files=../shared/data/corpora/eltec_novels_en.txt.gz,../shared/data/corpora/wikipedia_en.txt.gz

The teacher (default: the installed all-MiniLM-L6-v2) reads each sentence with its own
vocabulary; its mean-pooled vectors are computed once and kept in --model_dir. The student
directory (--model_dir/export) is what tools/finetune.py reads. Rerunning resumes.
"""

import json

from absl import app
from absl import flags

from mixvocab_tf.training.strategy import STRATEGIES

FLAGS = flags.FLAGS
flags.DEFINE_string("student", None, "The student to start from: a Stage II student directory, "
                    "the Stage I table (tools/distill_student.py --train_steps=0) or a published "
                    "student by name or folder (pretrained/, e.g. 6x128).")
flags.DEFINE_string("teacher", None, "The original teacher (Hugging Face, keras-hub preset or "
                    "Google BERT directory; default: the installed all-MiniLM-L6-v2).")
flags.DEFINE_list("train_files", None, "Corpus files or globs (.txt, .txt.gz; one paragraph a line).")
flags.DEFINE_string("model_dir", None, "The run directory; --model_dir/export is the student.")
flags.DEFINE_integer("paragraphs_per_file", 50_000, "Paragraphs sampled from each corpus file.")
flags.DEFINE_integer("max_sentences", None, "Keep at most this many sentences (default: all).")
flags.DEFINE_integer("held_out_sentences", 2048, "Sentences kept out of training, for val_cosine.")
flags.DEFINE_float("epochs", 1.0, "Passes over the training sentences (the committed students: 1).")
flags.DEFINE_integer("batch_size", 64, "Sentences a step.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak AdamW learning rate.")
flags.DEFINE_float("warmup_fraction", 0.05, "Share of steps spent warming up.")
flags.DEFINE_integer("sequence_length", 64, "The student's sequence length.")
flags.DEFINE_integer("teacher_sequence_length", 96, "The teacher's sequence length.")
flags.DEFINE_integer("steps_per_loop", 500, "Steps between checkpoints and held-out evaluations.")
flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                  "tf.distribute strategy of the student's training (--batch_size is global).")
flags.DEFINE_enum("mixed_precision", None, ["mixed_float16", "mixed_bfloat16"],
                  "Mixed-precision policy of the student's training (the export is float32).")
flags.DEFINE_integer("seed", 0, "Sampling, shuffling and initialisation seed.")
flags.mark_flags_as_required(["student", "train_files", "model_dir"])


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.models import pretrained
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage2.sentence_embedding import distill_sentence_embeddings
    from mixvocab_tf.training.callbacks import TrainingDivergedError

    with exit_on_bad_input(ValueError, FileNotFoundError, TrainingDivergedError):
        student_dir = FLAGS.student
        # A published student (float16 weights.npz, no student.keras) continues from its
        # Stage II-format copy in the cache, as tools/finetune.py --model does.
        if pretrained.names_published_student(student_dir):
            student_dir = pretrained.student_directory(student_dir)
        result = distill_sentence_embeddings(
            student_dir=student_dir,
            teacher_path=FLAGS.teacher or paths.minilm_teacher_path(),
            train_files=FLAGS.train_files,
            model_dir=FLAGS.model_dir,
            paragraphs_per_file=FLAGS.paragraphs_per_file,
            max_sentences=FLAGS.max_sentences,
            held_out_sentences=FLAGS.held_out_sentences,
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            warmup_fraction=FLAGS.warmup_fraction,
            sequence_length=FLAGS.sequence_length,
            teacher_sequence_length=FLAGS.teacher_sequence_length,
            steps_per_loop=FLAGS.steps_per_loop,
            strategy=FLAGS.strategy,
            mixed_precision=FLAGS.mixed_precision,
            seed=FLAGS.seed,
        )
    print(json.dumps({k: result[k] for k in ("export_dir", "metrics", "held_out_cosine_start",
                                              "sentences", "teacher_cpu_seconds")}, indent=2))


if __name__ == "__main__":
    app.run(main)
