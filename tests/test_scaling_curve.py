"""experiments/scaling_curve.py: its evaluation specs and its fit against log10 N."""

import math

import pytest
from absl import app


@pytest.fixture(scope="module")
def scaling_curve(load_script):
    return load_script("experiments/scaling_curve.py")


def test_evaluation_specs_name_their_seeds(scaling_curve):
    assert scaling_curve.parse_evals(["banking77_10shot:0/1/2", "sst2"]) == {
        "banking77_10shot": [0, 1, 2], "sst2": [0]}
    with pytest.raises(app.UsageError, match="known"):
        scaling_curve.parse_evals(["sst3:0"])


def test_fit_recovers_a_log_linear_curve_and_ignores_the_start(scaling_curve):
    points = [(0, 0.1)] + [(n, 0.5 + 0.04 * math.log10(n)) for n in (16384, 65536, 262144)]
    fit = scaling_curve.log_linear_fit(points)
    assert fit["per_10x"] == pytest.approx(0.04) and fit["largest"] == pytest.approx(262144)
    assert fit["intercept"] == pytest.approx(0.5)
    assert scaling_curve.log_linear_fit(points[:3]) is None  # two budgets fit no line


def test_a_mean_over_some_seeds_is_neither_drawn_nor_fitted(scaling_curve):
    evals = {"banking77_10shot": [0, 1, 2]}
    partial = {"size": 16384, "cosine": 0.46, "banking77_10shot": 0.713,
               "banking77_10shot_seeds": [0.713]}
    full = dict(partial, banking77_10shot_seeds=[0.70, 0.71, 0.73])
    assert scaling_curve.complete_score(partial, "banking77_10shot", evals) is None
    assert scaling_curve.complete_score(partial, "cosine", evals) == 0.46
    assert scaling_curve.complete_score(full, "banking77_10shot", evals) == 0.713
