"""Gate saturation statistics (Karpathy, Johnson & Fei-Fei 2015).

A gate value is left-saturated below `left` (0.1) and right-saturated above
`right` (0.9). Statistics run over the valid (unmasked) steps of every probe
sequence; non-finite values are counted and left out of everything else.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class GateStats:
    """Statistics of one gate of one layer over a probe batch.

    Attributes:
        values: the finite gate values at valid steps, flat (for histograms).
        mean: their mean (NaN when there are none).
        nonfinite: how many NaN or infinite values there were.
        left, right: fraction of values below / above the thresholds, or
            None for gates that are not sigmoid gates.
        unit_left, unit_right: per unit (units,), the fraction of its values
            below / above the thresholds (None for non-sigmoid gates).
        always_closed, always_open: fraction of units left / right saturated
            at no less than `always` of their steps.
    """

    values: np.ndarray
    mean: float
    nonfinite: int
    left: float | None = None
    right: float | None = None
    unit_left: np.ndarray | None = None
    unit_right: np.ndarray | None = None
    always_closed: float | None = None
    always_open: float | None = None


def gate_stats(values, valid, sigmoid, left=0.1, right=0.9, always=0.99):
    """Statistics of `values` (batch, time, units) at `valid` (batch, time)."""
    steps = values[np.asarray(valid, bool)].astype(np.float64)  # (N, units)
    finite = np.isfinite(steps)
    clean = steps[finite]
    stats = GateStats(
        values=clean,
        mean=float(clean.mean()) if clean.size else float("nan"),
        nonfinite=int(finite.size - finite.sum()),
    )
    if not sigmoid:
        return stats
    counts = np.maximum(finite.sum(axis=0), 1)
    below = (np.where(finite, steps, np.inf) < left).sum(axis=0)
    above = (np.where(finite, steps, -np.inf) > right).sum(axis=0)
    total = max(int(finite.sum()), 1)
    stats.left = float(below.sum() / total)
    stats.right = float(above.sum() / total)
    stats.unit_left = below / counts
    stats.unit_right = above / counts
    stats.always_closed = float((stats.unit_left >= always).mean())
    stats.always_open = float((stats.unit_right >= always).mean())
    return stats
