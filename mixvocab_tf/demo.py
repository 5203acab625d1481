"""The `mixvocab-demo` command and `tools/run_pipeline.py`: absl flags -> `pipeline.run_pipeline`.

Example:

  mixvocab-demo --output_dir=runs/demo          # the embedded demo
  mixvocab-demo --teacher=/ckpt/bert_large --train_files='corpus/*.txt' --sentence_count=500000
"""

import os
import time

from absl import app
from absl import flags

from mixvocab_tf.cli import exit_on_bad_input
from mixvocab_tf import pipeline
from mixvocab_tf.training.flag_defs import config_from_flags
from mixvocab_tf.training.flag_defs import define_config_flags

FLAGS = flags.FLAGS
# A flag for every `PipelineConfig` field, with the field's default, help and choices; an
# unset --teacher, --train_files, --data_dir or --mediapipe_python (None) is filled in by
# `PipelineConfig.resolved`.
define_config_flags(pipeline.PipelineConfig)


def main(argv):
    del argv
    config = config_from_flags(pipeline.PipelineConfig, FLAGS)
    started = time.time()
    with exit_on_bad_input(pipeline.PipelineError, FileNotFoundError, ValueError):
        report = pipeline.run_pipeline(config)
    print()
    print(pipeline.format_table(report))
    print(f"\nwall time {time.time() - started:.1f} s; "
          f"report in {os.path.join(config.output_dir, 'report.md')}")


def run():
    """The `mixvocab-demo` console script."""
    app.run(main)

