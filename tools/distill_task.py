r"""Task-specific distillation: a student task model learns a fine-tuned teacher task model.

The teacher is any task model directory `tools/finetune.py` wrote (e.g. MiniLM fine-tuned on
the task); the student is a Stage II student directory. The student trains on the task's
training text, `--augment` word-replaced variants of every example and unlabelled
`--transfer_files` (documents cut into sentences and drawn as the `--transfer_*` flags say),
with `--kd_weight` x KL to the teacher's softened probabilities (`--temperature`) plus
`--hard_weight` x cross-entropy to the gold labels. The teacher labels every transfer example
once, in shards cached in `--cache_dir`: a killed run resumes from them, a rerun or a larger
draw reuses them. Prints the teacher pass and the student pass in CPU seconds.

Usage:

  python tools/finetune.py --model=<MiniLM dir> --task=snips --data_dir=../shared/data \
    --output_dir=runs/snips_minilm
  python tools/distill_task.py --student=runs/stage2 --teacher_dir=runs/snips_minilm \
    --task=snips --data_dir=../shared/data --output_dir=runs/snips_kd --augment=4

  # The assistant's joint intent + slot model: the teacher fine-tuned on snips_joint; the
  # transfer set adds slot-swapped variants (gold labels kept):
  python tools/finetune.py --model=<MiniLM dir> --task=snips_joint --data_dir=../shared/data \
    --output_dir=runs/snips_joint_minilm --epochs=2 --learning_rate=2e-4 --sequence_length=32
  python tools/distill_task.py --student=runs/stage2 --teacher_dir=runs/snips_joint_minilm \
    --task=snips_joint --data_dir=../shared/data --output_dir=runs/snips_joint_kd \
    --slot_swap_augment=1 --epochs=6 --learning_rate=1e-3

  # SST-2 with in-domain text: 200,000 IMDB review sentences (cut from the reviews, 4-40
  # words, none equal to a dev sentence) labelled by the teacher beside the 67K phrases:
  python tools/distill_task.py --student=6x128 --teacher_dir=runs/sst2_teacher --task=sst2 \
    --data_dir=../shared/data/tasks --output_dir=runs/sst2_student --epochs=2 \
    --learning_rate=3e-4 --sequence_length=64 \
    --transfer_files=../shared/data/corpora/imdb_reviews_en.txt.gz --transfer_max_lines=200000

  # BANKING77 10-shot: its 770 utterances, their variants and general text only:
  python tools/distill_task.py --student=runs/stage2 --teacher_dir=runs/banking77_minilm \
    --task=banking77 --data_dir=../shared/data --output_dir=runs/banking77_kd \
    --examples_per_class=10 --augment=20 \
    --transfer_files='../shared/data/corpora/wikipedia_en.txt.gz' --transfer_max_lines=20000
"""

import json
import os
import sys

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.cli import exit_on_bad_input  # noqa: E402
from mixvocab_tf.tasks import evaluation  # noqa: E402
from mixvocab_tf.tasks import finetuning  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402
from mixvocab_tf.tasks import joint_distillation  # noqa: E402
from mixvocab_tf.tasks import task_distillation  # noqa: E402
from mixvocab_tf.tasks import task_registry  # noqa: E402
from mixvocab_tf.tasks import transfer_text  # noqa: E402
from mixvocab_tf.training import flag_defs  # noqa: E402
from mixvocab_tf.training.text_data import CorpusError  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("student", None, "A Stage II student directory (the encoder to train).")
flags.DEFINE_string("teacher_dir", None, "A fine-tuned teacher task model (tools/finetune.py).")
flags.DEFINE_string("task", None, "The task (default: the teacher's).")
flags.DEFINE_string("data_dir", None, "The data folder (../shared/data or its tasks/ folder).")
flags.DEFINE_string("output_dir", None, "The student task model directory to write.")
flags.DEFINE_integer("augment", 0, "Word-replaced variants of every training example.")
flags.DEFINE_float("replace_rate", 0.3, "Probability that an eligible word is replaced.")
flags.DEFINE_enum("replacer", "embedding", task_distillation.REPLACERS,
                  "Replacement candidates: nearest whole words in the teacher's input embeddings, "
                  "or the masked-LM guesses of --mlm_teacher.")
flags.DEFINE_integer("num_candidates", 15, "Candidates per replaced word (K).")
flags.DEFINE_string("mlm_teacher", None,
                    "--replacer=mlm: a Stage I directory or a teacher with a masked-LM head.")
flags.DEFINE_list("transfer_files", None,
                  "Globs of unlabelled .txt / .txt.gz text, one example a line (pair tasks: "
                  "first<TAB>second), labelled by the teacher.")
flag_defs.define_config_flags(transfer_text.TransferTextConfig, prefix="transfer_")
flags.DEFINE_alias("max_transfer_lines", "transfer_max_lines")
flags.DEFINE_float("kd_weight", 1.0, "Weight of the KL to the teacher's softened probabilities.")
flags.DEFINE_float("hard_weight", 1.0, "Weight of the gold-label cross-entropy.")
flags.DEFINE_float("temperature", 2.0, "Distillation temperature T.")
flags.DEFINE_bool("hard_labels_on_augmented", False,
                  "Also train variants on their original's gold label.")
flags.DEFINE_integer("slot_swap_augment", 1,
                     "Joint intent + slot tasks: slot-swapped variants of every training "
                     "utterance (gold intent and tags kept).")
flags.DEFINE_float("slot_swap_rate", 0.5, "Probability that a slot span of a variant is swapped.")
flags.DEFINE_float("slot_weight", 1.0, "Joint tasks: weight of the slot terms.")
flags.DEFINE_integer("epochs", None,
                     "Passes over the transfer set (default: 2; joint intent + slot tasks 6).")
flags.DEFINE_integer("train_steps", None, "Optimizer steps instead of --epochs.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", None,
                   "Peak AdamW learning rate (default: 1e-4; joint intent + slot tasks 1e-3).")
flags.DEFINE_float("dropout", 0.1, "Head dropout.")
flags.DEFINE_integer("sequence_length", None, "The student's L (default: the teacher's).")
flags.DEFINE_integer("max_train_examples", None, "Use at most this many labelled examples.")
flags.DEFINE_integer("examples_per_class", None, "k-shot: this many labelled examples a label.")
flag_defs.define_sentence_head_flags()
flags.DEFINE_bool("bucket_by_length", True,
                  "Train on batches of similar length cut to their longest example.")
flags.DEFINE_string("eval_split", None, "Split scored after training; 'none' to skip.")
flags.DEFINE_integer("max_eval_examples", None, "Score at most this many examples.")
flags.DEFINE_string("cache_dir", None,
                    "Teacher-logit cache (default: teacher_label_cache beside --output_dir).")
flags.DEFINE_integer("seed", 0, "Random seed (selection, augmentation, training).")
flags.mark_flags_as_required(["student", "teacher_dir", "data_dir", "output_dir"])


def main(argv):
    del argv
    with exit_on_bad_input(readers.TaskDataError, CorpusError, FileNotFoundError, ValueError):
        _main()


def _main():
    task = FLAGS.task
    if not task:
        with open(os.path.join(FLAGS.teacher_dir, "task_config.json"), encoding="utf-8") as f:
            task = json.load(f)["task"]
    # The flags both kinds of distillation take.
    common = dict(
        augment=FLAGS.augment, replace_rate=FLAGS.replace_rate, replacer=FLAGS.replacer,
        num_candidates=FLAGS.num_candidates, mlm_teacher=FLAGS.mlm_teacher,
        transfer_files=FLAGS.transfer_files, max_transfer_lines=FLAGS.transfer_max_lines,
        kd_weight=FLAGS.kd_weight, hard_weight=FLAGS.hard_weight, temperature=FLAGS.temperature,
        hard_labels_on_augmented=FLAGS.hard_labels_on_augmented, train_steps=FLAGS.train_steps,
        batch_size=FLAGS.batch_size, dropout=FLAGS.dropout,
        sequence_length=FLAGS.sequence_length, max_train_examples=FLAGS.max_train_examples,
        eval_split=FLAGS.eval_split, max_eval_examples=FLAGS.max_eval_examples,
        cache_dir=FLAGS.cache_dir, seed=FLAGS.seed, verbose=2)
    paths = (task, FLAGS.student, FLAGS.teacher_dir, FLAGS.data_dir, FLAGS.output_dir)
    if task_registry.get_task(task).type == task_registry.INTENT_AND_SLOTS:
        if FLAGS.examples_per_class is not None:
            raise ValueError("--examples_per_class picks k examples a label of a classification "
                             f"task; {task} has slots too. Fix: use --max_train_examples.")
        finetuning.check_ngram_bag(task_registry.get_task(task), FLAGS.ngram_bag_buckets,
                                   FLAGS.ngram_bag_dim)
        config = joint_distillation.distill_joint(
            *paths, slot_swap_augment=FLAGS.slot_swap_augment,
            slot_swap_rate=FLAGS.slot_swap_rate, slot_weight=FLAGS.slot_weight,
            epochs=FLAGS.epochs or 6, learning_rate=FLAGS.learning_rate or 1e-3, **common)
    else:
        config = task_distillation.distill_task(
            *paths, epochs=FLAGS.epochs or 2, learning_rate=FLAGS.learning_rate or 1e-4,
            examples_per_class=FLAGS.examples_per_class,
            transfer_text=flag_defs.config_from_flags(transfer_text.TransferTextConfig, FLAGS,
                                                      prefix="transfer_"),
            bucket_by_length=FLAGS.bucket_by_length, **flag_defs.sentence_head_kwargs(FLAGS),
            **common)
    _report(config)


def _report(config):
    report = config["distillation"]
    print(f"wrote {os.path.abspath(FLAGS.output_dir)}: transfer set {report['transfer_examples']}")
    cached, shards = report["teacher_shards"]
    print(f"teacher pass: {report['teacher_cpu_seconds']} CPU s, "
          f"{report['teacher_examples_per_second']} examples a second "
          f"({cached} of {shards} shards cached in {report['teacher_cache_file']}); "
          f"student pass: {report['student_cpu_seconds']} CPU s; "
          f"augmentation: {report['augment_cpu_seconds']} CPU s")
    if "eval" in config:
        print(evaluation.format_table({"task": config["task"], **config["eval"]}))
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
