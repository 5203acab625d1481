"""Task recipes: a task's measured settings under the flags a user gives."""

import dataclasses
import os
import subprocess
import sys

import pytest

from mixvocab_tf.pipeline import PipelineConfig
from mixvocab_tf.pipeline import recipes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMDB = ("imdb_reviews_en.txt.gz",)


def test_sst2_starts_from_its_recipe_and_the_fields_given_win():
    config = recipes.recipe_config("sst2", distill_transfer_files=IMDB, distill_epochs=3)
    recipe = recipes.recipe_for("sst2")
    assert config.distill_epochs == 3  # given
    assert config.distill_transfer_files == IMDB
    for name, value in recipe.settings.items():
        if name != "distill_epochs":
            assert getattr(config, name) == value, name
    # Each setting is one the demo's defaults do not have (else it would not be written).
    demo = PipelineConfig()
    assert [n for n, v in recipe.settings.items() if getattr(demo, n) == v] == [
        n for n in ("finetune_batch_size", "finetune_learning_rate") if n in recipe.settings]


def test_a_recipe_names_what_it_needs_and_the_way_out():
    config = PipelineConfig(task="sst2")
    with pytest.raises(ValueError, match="needs --distill_transfer_files: unlabelled in-domain "
                                         "text.*Fix: pass it, or --recipe=none"):
        recipes.apply_recipe(config)
    assert recipes.apply_recipe(config, recipe="none") == (config, None)
    with pytest.raises(ValueError, match="Unknown recipe 'best'"):
        recipes.apply_recipe(config, recipe="best")


def test_tasks_without_a_recipe_keep_the_demo_defaults():
    config = PipelineConfig(task="snips")
    assert recipes.recipe_for("snips") is None
    assert recipes.apply_recipe(config, explicit={"task"}) == (config, None)


def test_every_recipe_sets_config_fields_and_says_where_it_was_measured():
    names = {f.name for f in dataclasses.fields(PipelineConfig)}
    for task, recipe in recipes.RECIPES.items():
        assert recipe.task == task
        assert set(recipe.settings) <= names and set(recipe.needs) <= names
        path = recipe.measured.split("#")[0]
        assert os.path.isfile(os.path.join(REPO, path)), recipe.measured
        with open(os.path.join(REPO, path), encoding="utf-8") as f:
            anchor = recipe.measured.split("#")[1]
            headings = ["-".join("".join(c for c in line.lower() if c.isalnum() or c in " -")
                                 .split()) for line in f if line.startswith("#")]
        assert anchor in headings, f"{recipe.measured}: no such heading"


def test_tool_applies_the_recipe_and_reports_what_it_needs_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "run_pipeline.py"), "--task=sst2",
         f"--output_dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if "run_pipeline.py: error" in line]
    assert len(error) == 1 and "--distill_transfer_files" in error[0] and "Fix" in error[0]
    assert not os.path.exists(tmp_path / "run")


def test_a_task_read_from_one_file_a_split_passes_the_input_checks(tmp_path):
    """SST-2's splits are files (train.tsv), not folders: the pipeline takes them."""
    from mixvocab_tf.pipeline.config import _validate_inputs

    config = recipes.recipe_config("sst2", data_dir=str(tmp_path),
                                   distill_transfer_files=IMDB).resolved()
    with pytest.raises(FileNotFoundError, match="sst2/train.tsv does not exist"):
        _validate_inputs(config)
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.tsv").write_text("sentence\tlabel\na fine film\t1\n")
    _validate_inputs(config)
