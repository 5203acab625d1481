r"""Fine-tunes a Stage II student (or any teacher) on one task; writes a task model directory.

The directory (`model.keras`, `vocab.txt`, `labels.txt`, `task_config.json`) is what
`tools/evaluate.py` scores and the TFLite exporter converts.

Usage:

  python tools/finetune.py --model=runs/stage2 --task=snips \
    --data_dir=../shared/data/tasks --output_dir=runs/snips \
    --epochs=2 --sequence_length=32

  # SST-2 (MiniLM teacher, the dev-accuracy floor): all 67,349 phrases, batches bucketed by
  # length (the default), 2 epochs:
  python tools/finetune.py --model=<MiniLM dir> --task=sst2 --data_dir=../shared/data/tasks \
    --output_dir=runs/sst2 --epochs=2 --batch_size=32 --learning_rate=1e-4

  # BANKING77 10-shot (10 utterances of each of the 77 intents):
  python tools/finetune.py --model=runs/stage2 --task=banking77 \
    --data_dir=../shared/data/tasks --output_dir=runs/banking77_10shot --examples_per_class=10

  # GLUE from a prepared TFDS directory:
  python tools/finetune.py --model=runs/stage2 --task=tfds:glue/sst2 \
    --tfds_data_dir=~/tensorflow_datasets --output_dir=runs/sst2

  # Task-specific distillation from a fine-tuned teacher task model:
  python tools/finetune.py --model=runs/stage2 --task=snips --data_dir=../shared/data/tasks \
    --output_dir=runs/snips_kd --teacher_dir=runs/snips_teacher --kd_weight=0.5 --temperature=2
"""

import json
import os
import sys

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.cli import exit_on_bad_input
from mixvocab_tf.tasks import evaluation  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402
from mixvocab_tf.tasks import finetuning  # noqa: E402
from mixvocab_tf.tasks import task_registry  # noqa: E402
from mixvocab_tf.training import flag_defs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A Stage II student directory (or its run folder), a "
                    "published student's name under pretrained/ (e.g. 6x128) or folder, or a "
                    "teacher directory.")
flags.DEFINE_string("task", None, f"One of: {', '.join(task_registry.task_names())}.")
flags.DEFINE_string("data_dir", None, "The data folder (../shared/data or its tasks/ folder).")
flags.DEFINE_string("tfds_data_dir", None, "A prepared TFDS data directory, for tfds: tasks.")
flags.DEFINE_string("output_dir", None, "The task model directory to write.")
flags.DEFINE_integer("epochs", 2, "Passes over the training examples.")
flags.DEFINE_integer("train_steps", None, "Optimizer steps instead of --epochs.")
flags.DEFINE_integer("batch_size", 16, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak AdamW learning rate.")
flags.DEFINE_float("warmup_fraction", 0.1, "Share of the steps spent warming up.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay.")
flags.DEFINE_float("dropout", 0.1, "Head dropout.")
flags.DEFINE_integer("sequence_length", 64, "Sequence length L of the task model.")
flags.DEFINE_integer("max_train_examples", None, "Train on at most this many examples.")
flags.DEFINE_enum("train_selection", "random", finetuning.TRAIN_SELECTIONS,
                  "How --max_train_examples picks them.")
flags.DEFINE_integer("examples_per_class", None,
                     "Few-shot training: this many examples of every label (e.g. 10 for "
                     "BANKING77 10-shot), seeded by --seed.")
flags.DEFINE_integer("slot_swap_augment", 0,
                     "Slot tasks (*_slots, *_joint): add this many variants of every training "
                     "utterance with slot values swapped for others of the same type.")
flags.DEFINE_float("slot_swap_rate", 0.5, "Probability that a slot span of a variant is swapped.")
flags.DEFINE_string("teacher_dir", None, "A fine-tuned teacher task model for soft labels.")
flags.DEFINE_float("kd_weight", 0.5, "Weight of the soft-label loss (hard labels: 1 - it).")
flags.DEFINE_float("temperature", 2.0, "Distillation temperature.")
flags.DEFINE_string("eval_split", None, "Split scored after training; 'none' to skip.")
flags.DEFINE_integer("max_eval_examples", None, "Score at most this many examples.")
flags.DEFINE_float("oos_threshold", 0.5, "CLINC150: out-of-scope below this top probability.")
flags.DEFINE_integer("embedding_dim", 128, "Response selection embedding size.")
flags.DEFINE_enum("normalization", "bert", ["bert", "mediapipe"],
                  "Text normalisation: 'bert' (NFD, accents stripped, as BERT was trained) or "
                  "'mediapipe' (exactly what MediaPipe's TextClassifier feeds the model on the "
                  "device: ASCII-only lower-casing, accents kept). Classification only.")
flag_defs.define_sentence_head_flags()
flags.DEFINE_bool("bucket_by_length", True,
                  "Train on batches of similar length cut to their longest example (rounded up "
                  "to 8 tokens) instead of padding to --sequence_length; same exported model.")
flags.DEFINE_bool("skip_empty", False, "Skip (and count) empty lines instead of failing.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.mark_flags_as_required(["model", "task", "output_dir"])


def main(argv):
    del argv
    with exit_on_bad_input(readers.TaskDataError, FileNotFoundError, ValueError):
        _main()


def _main():
    task = task_registry.get_task(FLAGS.task)
    data_dir = FLAGS.tfds_data_dir if task.tfds_name else FLAGS.data_dir
    if not data_dir:
        raise app.UsageError(
            "--tfds_data_dir is required for tfds: tasks" if task.tfds_name
            else "--data_dir is required (e.g. ../shared/data/tasks)")
    config = finetuning.finetune(
        FLAGS.task, FLAGS.model, data_dir, FLAGS.output_dir, epochs=FLAGS.epochs,
        train_steps=FLAGS.train_steps, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, sequence_length=FLAGS.sequence_length,
        max_train_examples=FLAGS.max_train_examples, train_selection=FLAGS.train_selection,
        teacher_dir=FLAGS.teacher_dir, kd_weight=FLAGS.kd_weight, temperature=FLAGS.temperature,
        dropout=FLAGS.dropout, eval_split=FLAGS.eval_split,
        max_eval_examples=FLAGS.max_eval_examples, seed=FLAGS.seed,
        oos_threshold=FLAGS.oos_threshold, embedding_dim=FLAGS.embedding_dim,
        warmup_fraction=FLAGS.warmup_fraction, weight_decay=FLAGS.weight_decay,
        skip_empty=FLAGS.skip_empty, normalization=FLAGS.normalization,
        bucket_by_length=FLAGS.bucket_by_length,
        examples_per_class=FLAGS.examples_per_class, slot_swap_augment=FLAGS.slot_swap_augment,
        slot_swap_rate=FLAGS.slot_swap_rate, verbose=2,
        **flag_defs.sentence_head_kwargs(FLAGS))
    print(f"wrote {os.path.abspath(FLAGS.output_dir)} "
          f"({config['parameters']:,} parameters, {config['training']['examples']} examples, "
          f"{config['training']['seconds']} s)")
    if "eval" in config:
        report = {"task": config["task"], **config["eval"]}
        print(evaluation.format_table(report))
    print(json.dumps(config["training"]))


if __name__ == "__main__":
    app.run(main)
