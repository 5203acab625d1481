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
from mixvocab_tf.tasks import configs  # noqa: E402
from mixvocab_tf.tasks import evaluation  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402
from mixvocab_tf.tasks import task_distillation  # noqa: E402
from mixvocab_tf.training.text_data import CorpusError  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("student", None, "A Stage II student directory (the encoder to train).")
flags.DEFINE_string("teacher_dir", None, "A fine-tuned teacher task model (tools/finetune.py).")
flags.DEFINE_string("data_dir", None, "The data folder (../shared/data or its tasks/ folder).")
flags.DEFINE_string("output_dir", None, "The student task model directory to write.")
flags.DEFINE_string("cache_dir", None,
                    "Teacher-logit cache (default: teacher_label_cache beside --output_dir).")
# --task and every setting: the fields of DistillTaskConfig (configs.py holds defaults and
# help); its transfer text's are --transfer_<field>.
configs.define_flags(configs.DistillTaskConfig)
flags.DEFINE_alias("max_transfer_lines", "transfer_max_lines")
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
    config = configs.config_from_flags(configs.DistillTaskConfig, FLAGS, task=task)
    inputs = (FLAGS.student, FLAGS.teacher_dir, FLAGS.data_dir, FLAGS.output_dir)
    # One runner for every task type: a joint intent + slot task trains both heads.
    record = task_distillation.distill_task(config, *inputs, cache_dir=FLAGS.cache_dir,
                                            verbose=2)
    _report(record)


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
