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
        histogram: (bins, 3) rows (left edge, right edge, count) of the
            finite values at valid steps.
        mean: their mean (NaN when there are none).
        nonfinite: how many NaN or infinite values there were.
        left, right: fraction of values below / above the thresholds, or
            None for gates that are not sigmoid gates.
        unit_left, unit_right: per unit (units,), the fraction of its values
            below / above the thresholds (None for non-sigmoid gates).
        always_closed, always_open: fraction of units left / right saturated
            at no less than `always` of their steps.
    """

    histogram: np.ndarray
    mean: float
    nonfinite: int
    left: float | None = None
    right: float | None = None
    unit_left: np.ndarray | None = None
    unit_right: np.ndarray | None = None
    always_closed: float | None = None
    always_open: float | None = None


def gate_stats(
    values, valid, sigmoid, left=0.1, right=0.9, always=0.99, bins=30
):
    """Statistics of `values` (batch, time, units) at `valid` (batch, time).

    Histograms of sigmoid gates span [0, 1]; others the values' own range.
    """
    valid = np.asarray(valid, bool)
    units = values.shape[-1]
    steps = values.reshape(-1, units) if valid.all() else values[valid]
    finite = np.isfinite(steps)
    clean = steps.ravel() if finite.all() else steps[finite]
    if sigmoid:
        low, high = 0.0, 1.0
    elif clean.size:
        low, high = float(clean.min()), float(clean.max()) + 1e-6
    else:
        low, high = -1.0, 1.0
    # Clipped while still floating point: the cast is then a cheap one.
    scaled = (clean - np.float32(low)) * np.float32(bins / (high - low))
    index = np.clip(scaled, 0, bins - 1).astype(np.intp)
    counts = np.bincount(index, minlength=bins)
    edges = np.linspace(low, high, bins + 1)
    stats = GateStats(
        histogram=np.stack([edges[:-1], edges[1:], counts], axis=1),
        mean=float(clean.mean(dtype=np.float64)) if clean.size else np.nan,
        nonfinite=int(finite.size - clean.size),
    )
    if not sigmoid:
        return stats
    if clean.size < steps.size:
        # Non-finite values (an infinity compares too) count as neither.
        steps = np.where(finite, steps, np.float32((left + right) / 2))
    below = (steps < left).sum(axis=0)
    above = (steps > right).sum(axis=0)
    per_unit = np.maximum(finite.sum(axis=0), 1)
    total = max(clean.size, 1)
    stats.left = float(below.sum() / total)
    stats.right = float(above.sum() / total)
    stats.unit_left = below / per_unit
    stats.unit_right = above / per_unit
    stats.always_closed = float((stats.unit_left >= always).mean())
    stats.always_open = float((stats.unit_right >= always).mean())
    return stats
