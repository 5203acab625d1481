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

from mixvocab_tf.stage2.config import SentenceEmbeddingConfig
from mixvocab_tf.training import flag_defs

FLAGS = flags.FLAGS
flags.DEFINE_string("student", None, "The student to start from: a Stage II student directory, "
                    "the Stage I table (tools/distill_student.py --train_steps=0) or a published "
                    "student by name or folder (pretrained/, e.g. 6x128).")
flags.DEFINE_string("teacher", None, "The original teacher (Hugging Face, keras-hub preset or "
                    "Google BERT directory; default: the installed all-MiniLM-L6-v2).")
flags.DEFINE_list("train_files", None, "Corpus files or globs (.txt, .txt.gz; one paragraph a line).")
flags.DEFINE_string("model_dir", None, "The run directory; --model_dir/export is the student.")
flags.DEFINE_string("teacher_cache_dir", None, "Where the teacher's sentence vectors are kept "
                    "(default: --model_dir/teacher_embeddings); runs on prefixes of one draw "
                    "(other --max_sentences) can share one.")
# Every setting of SentenceEmbeddingConfig.
flag_defs.define_config_flags(SentenceEmbeddingConfig, module_name=__name__)
flags.mark_flags_as_required(["student", "train_files", "model_dir"])


def main(argv):
    del argv
    from mixvocab_tf import paths
    from mixvocab_tf.models import pretrained
    from mixvocab_tf.cli import exit_on_bad_input
    from mixvocab_tf.stage2.sentence_embedding import distill_sentence_embeddings
    from mixvocab_tf.training.callbacks import TrainingDivergedError

    with exit_on_bad_input(ValueError, FileNotFoundError, TrainingDivergedError):
        config = flag_defs.config_from_flags(SentenceEmbeddingConfig, FLAGS)
        student_dir = FLAGS.student
        # A published student (float16 weights.npz, no student.keras) continues from its
        # Stage II-format copy in the cache, as tools/finetune.py --model does.
        if pretrained.names_published_student(student_dir):
            student_dir = pretrained.student_directory(student_dir)
        result = distill_sentence_embeddings(
            config, student_dir, FLAGS.teacher or paths.minilm_teacher_path(),
            FLAGS.train_files, FLAGS.model_dir, teacher_cache_dir=FLAGS.teacher_cache_dir)
    print(json.dumps({k: result[k] for k in ("export_dir", "metrics", "held_out_cosine_start",
                                              "sentences", "teacher_cpu_seconds")}, indent=2))


if __name__ == "__main__":
    app.run(main)
