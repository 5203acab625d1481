"""Task recipes: the settings docs/RESULTS.md measured as a task's best, which a pipeline run
of that task starts from.

The embedded demo's defaults (`PipelineConfig`) are SNIPS's: 4,000 teacher utterances, a
student made by the run's own stages, the task's own text as the transfer set. Where a task
needs another recipe to beat simple baselines, it is written here once, beside what it needs
from the user (in-domain text the repository cannot ship). `tools/run_pipeline.py --task=sst2`
applies it under the flags the user sets (`--recipe=none`: the demo's defaults).

Example:

>>> config = recipe_config("sst2", data_dir="../shared/data/tasks",
...                        distill_transfer_files=("imdb_reviews_en.txt.gz",))
>>> config.pretrained_student, config.distill_transfer_max_lines
('6x128', 400000)
"""

import dataclasses
from typing import Mapping

from mixvocab_tf.pipeline.config import PipelineConfig

RECIPE_CHOICES = ("auto", "none")


@dataclasses.dataclass(frozen=True)
class TaskRecipe:
    """A task's measured settings.

    Attributes:
      task: the task name it is for.
      settings: `PipelineConfig` field values.
      needs: fields the user must set, each with what to pass (the recipe cannot ship them).
      measured: where docs/RESULTS.md measures it.
    """

    task: str
    settings: Mapping[str, object]
    needs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    measured: str = ""


RECIPES = {
    # The student keeps its teacher's accuracy only on in-domain text the teacher labels: the
    # training phrases alone give 82.8, 200,000 IMDB sentences 86.05, 400,000 about 88
    # (docs/RESULTS.md, "SST-2: in-domain transfer text").
    "sst2": TaskRecipe(
        task="sst2",
        settings={
            "pretrained_student": "6x128",
            "teacher_finetune_examples": 67_349,  # every GLUE training phrase
            "teacher_finetune_epochs": 1,
            "normalization": "bert",
            "finetune_sequence_length": 64,
            "finetune_batch_size": 32,
            "finetune_learning_rate": 3e-4,
            "distill_augment": 0,
            "distill_epochs": 2,
            "distill_transfer_max_lines": 400_000,
        },
        needs={"distill_transfer_files": (
            "unlabelled in-domain text the teacher labels, a review or sentence a line (e.g. "
            "--distill_transfer_files=../shared/data/corpora/imdb_reviews_en.txt.gz)")},
        measured="docs/RESULTS.md#sst-2-in-domain-transfer-text-for-task-distillation"),
}


def recipe_for(task):
    """The task's `TaskRecipe`, or None when the demo's defaults are its best."""
    return RECIPES.get(task)


def apply_recipe(config, explicit=(), recipe="auto"):
    """`config` with its task's recipe under the fields the user set.

    Args:
      config: a `PipelineConfig`.
      explicit: names of the fields the user set (the flags given); they keep their values.
      recipe: "auto" (the task's recipe, if it has one) or "none" (`config` unchanged).

    Returns:
      `(config, recipe)`: the new config and the `TaskRecipe` applied (None when none was).

    Raises:
      ValueError: an unknown `recipe`, or a field the recipe needs left unset.
    """
    if recipe not in RECIPE_CHOICES:
        raise ValueError(f"Unknown recipe {recipe!r}. Fix: pass one of {RECIPE_CHOICES}.")
    task_recipe = recipe_for(config.task) if recipe == "auto" else None
    if task_recipe is None:
        return config, None
    explicit = set(explicit)
    for name, what in task_recipe.needs.items():
        if name not in explicit and not getattr(config, name):
            raise ValueError(
                f"--task={config.task} runs its measured recipe ({task_recipe.measured}), which "
                f"needs --{name}: {what}. Fix: pass it, or --recipe=none for the demo's "
                "defaults.")
    changes = {name: value for name, value in task_recipe.settings.items()
               if name not in explicit}
    return dataclasses.replace(config, **changes), task_recipe


def recipe_config(task, **fields):
    """A `PipelineConfig` for `task` from its recipe, `fields` over it (the Python way to
    what `tools/run_pipeline.py --task=<task>` does)."""
    config = PipelineConfig(task=task, **fields)
    return apply_recipe(config, explicit=fields)[0]
