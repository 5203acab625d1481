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
from mixvocab_tf.pipeline import recipes
from mixvocab_tf.training.flag_defs import config_from_flags
from mixvocab_tf.training.flag_defs import define_config_flags

FLAGS = flags.FLAGS
# A flag for every `PipelineConfig` field, with the field's default, help and choices; an
# unset --teacher, --train_files, --data_dir or --mediapipe_python (None) is filled in by
# `PipelineConfig.resolved`.
define_config_flags(pipeline.PipelineConfig)
flags.DEFINE_enum("recipe", "auto", list(recipes.RECIPE_CHOICES),
                  "auto: a task with a measured recipe (mixvocab_tf/pipeline/recipes.py, e.g. "
                  "sst2) starts from its settings, under the flags given; none: the embedded "
                  "demo's defaults for every task.")


def _explicit_fields(flag_values):
    """The config fields whose flags were given on the command line."""
    return {name for name in flag_values if flag_values[name].present}


def main(argv):
    del argv
    config = config_from_flags(pipeline.PipelineConfig, FLAGS)
    started = time.time()
    with exit_on_bad_input(pipeline.PipelineError, FileNotFoundError, ValueError):
        config, recipe = recipes.apply_recipe(config, _explicit_fields(FLAGS), FLAGS.recipe)
        if recipe:
            print(f"--task={config.task}: its recipe ({recipe.measured}), under the flags given: "
                  + ", ".join(f"{k}={getattr(config, k)}" for k in recipe.settings))
        report = pipeline.run_pipeline(config)
    print()
    print(pipeline.format_table(report))
    print(f"\nwall time {time.time() - started:.1f} s; "
          f"report in {os.path.join(config.output_dir, 'report.md')}")


def run():
    """The `mixvocab-demo` console script."""
    app.run(main)

