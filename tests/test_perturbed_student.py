"""experiments/perturbed_student.py: every value moves by the step, in a seeded direction."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def perturbed_student(load_script):
    return load_script("experiments/perturbed_student.py")


def test_every_value_moves_by_the_step_both_ways_and_the_seed_repeats(perturbed_student):
    weights = [np.linspace(0.5, 2.0, 600, dtype="float32").reshape(20, 30),
               np.full((7,), -3.0, dtype="float32")]
    step = 2.0 ** -11
    moved = perturbed_student.perturbed(weights, step, seed=1)
    for original, new in zip(weights, moved):
        assert new.dtype == np.float32 and new.shape == original.shape
        ratio = new / original
        assert np.allclose(np.abs(ratio - 1), step, rtol=1e-3)
    signs = np.sign(moved[0] / weights[0] - 1)
    assert (signs > 0).any() and (signs < 0).any()
    again = perturbed_student.perturbed(weights, step, seed=1)
    other = perturbed_student.perturbed(weights, step, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(moved, again))
    assert not np.array_equal(moved[0], other[0])
