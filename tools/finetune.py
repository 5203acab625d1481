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

  # A few-shot teacher as a linear probe: the head alone on the frozen MiniLM (30 epochs of
  # 770 utterances at 3e-3 score above full fine-tuning on BANKING77 10-shot):
  python tools/finetune.py --model=<MiniLM dir> --task=banking77 --data_dir=../shared/data \
    --output_dir=runs/b77_probe --examples_per_class=10 --freeze_encoder --epochs=30 \
    --learning_rate=3e-3 --sequence_length=64

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

from mixvocab_tf.cli import exit_on_bad_input  # noqa: E402
from mixvocab_tf.tasks import configs  # noqa: E402
from mixvocab_tf.tasks import evaluation  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402
from mixvocab_tf.tasks import finetuning  # noqa: E402
from mixvocab_tf.tasks import task_registry  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A Stage II student directory (or its run folder), a "
                    "published student's name under pretrained/ (e.g. 6x128) or folder, or a "
                    "teacher directory.")
flags.DEFINE_string("data_dir", None, "The data folder (../shared/data or its tasks/ folder).")
flags.DEFINE_string("tfds_data_dir", None, "A prepared TFDS data directory, for tfds: tasks.")
flags.DEFINE_string("output_dir", None, "The task model directory to write.")
flags.DEFINE_string("teacher_dir", None, "A fine-tuned teacher task model for soft labels.")
# --task and every setting: the fields of FinetuneConfig (configs.py holds defaults and help).
configs.define_flags(configs.FinetuneConfig)
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
        configs.config_from_flags(configs.FinetuneConfig, FLAGS), FLAGS.model, data_dir,
        FLAGS.output_dir, teacher_dir=FLAGS.teacher_dir, verbose=2)
    print(f"wrote {os.path.abspath(FLAGS.output_dir)} "
          f"({config['parameters']:,} parameters, {config['training']['examples']} examples, "
          f"{config['training']['seconds']} s)")
    if "eval" in config:
        report = {"task": config["task"], **config["eval"]}
        print(evaluation.format_table(report))
    print(json.dumps(config["training"]))


if __name__ == "__main__":
    app.run(main)
