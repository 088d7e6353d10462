"""Probe statistics (`keras_gates.summary.stats.gate_stats`) against NumPy."""

import numpy as np
import pytest

from keras_gates.summary.stats import gate_stats


def gates_and_mask(seed=0):
    rng = np.random.default_rng(seed)
    values = rng.random((8, 7, 5)).astype("float32")
    values[0, :, 0] = 0.02  # a unit shut at every step of one sequence
    values[1, 2, 3] = np.nan
    values[2, 4, 1] = np.inf
    valid = np.ones((8, 7), bool)
    valid[3:, 5:] = False
    return values, valid


@pytest.mark.parametrize("sigmoid", [True, False], ids=["sigmoid", "tanh"])
def test_histogram_mean_and_counts_match_numpy(sigmoid):
    values, valid = gates_and_mask()
    if not sigmoid:
        values = 2.0 * values - 1.0
    stats = gate_stats(values, valid, sigmoid)
    steps = values[valid]
    clean = steps[np.isfinite(steps)]
    assert stats.nonfinite == 2
    np.testing.assert_allclose(stats.mean, clean.mean(), rtol=1e-6)
    low, high = (0.0, 1.0) if sigmoid else (clean.min(), clean.max())
    expected, _ = np.histogram(clean, bins=30, range=(low, high))
    np.testing.assert_array_equal(stats.histogram[:, 2], expected)
    np.testing.assert_allclose(stats.histogram[0, 0], low, rtol=1e-6)
    np.testing.assert_allclose(stats.histogram[-1, 1], high, atol=1e-5)


def test_saturation_per_unit_matches_numpy():
    values, valid = gates_and_mask()
    stats = gate_stats(values, valid, True, left=0.1, right=0.9, always=0.5)
    steps = values[valid]
    finite = np.isfinite(steps)
    below = ((steps < 0.1) & finite).sum(axis=0) / finite.sum(axis=0)
    above = ((steps > 0.9) & finite).sum(axis=0) / finite.sum(axis=0)
    np.testing.assert_allclose(stats.unit_left, below)
    np.testing.assert_allclose(stats.unit_right, above)
    np.testing.assert_allclose(
        stats.left, ((steps < 0.1) & finite).sum() / finite.sum()
    )
    np.testing.assert_allclose(
        stats.right, ((steps > 0.9) & finite).sum() / finite.sum()
    )
    assert stats.always_closed == np.mean(below >= 0.5)
    assert stats.always_open == np.mean(above >= 0.5)
