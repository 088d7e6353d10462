"""Checking what GateMonitor logged against statistics computed with NumPy.

`events` is what a test read back from an event file: `{tag: {step:
value}}` (`events.summaries`) or `{tag: [(step, value)]}`; the values
checked are those of one step, by default the last.
"""

import numpy as np

import keras_gates

SIGMOID = {
    *keras_gates.LSTMCell.sigmoid_gates,
    *keras_gates.GRUCell.sigmoid_gates,
}

# How far a float32 gate may lie from the float64 NumPy recurrence of the
# tests' small models: each operation rounds by half an ulp (eps32 / 2 =
# 6e-8 relative), through at most ~6 steps of sums of at most ~8 terms of
# magnitude <= ~3: ~6 * 8 * 3 * 6e-8 ~ 1e-5 at the very worst (the
# differences measured are under 1e-6).
FLOAT32_ATOL = 1e-5


def training_range(gate):
    """The fixed range of `track_training`'s histograms of a gate (the
    default cell_range)."""
    if gate in SIGMOID:
        return (0.0, 1.0)
    return (-3.0, 3.0) if gate == "cell" else (-1.0, 1.0)


def bin_index(values, edges):
    """The bin of each value: equal bins between the outer edges, values
    outside going to the edge bins (GateMonitor's documented rule)."""
    bins = len(edges) - 1
    share = (values - edges[0]) / (edges[-1] - edges[0])
    return np.clip(np.floor(share * bins), 0, bins - 1).astype(int)


def assert_counts_near(counts, values, edges, atol):
    """`counts` are NumPy's histogram of `values` on `edges`, except for
    values within `atol` of an edge, which may fall on either side."""
    values = np.ravel(values)
    low, high = bin_index(values - atol, edges), bin_index(values + atol, edges)
    bins = np.arange(len(edges) - 1)[:, None]
    sure = ((low == bins) & (high == bins)).sum(axis=1)
    maybe = ((low <= bins) & (bins <= high)).sum(axis=1)
    assert counts.sum() == values.size
    assert np.all((sure <= counts) & (counts <= maybe)), (counts, sure, maybe)


def assert_share_near(logged, sure, maybe):
    """`logged`, a fraction written as float32, lies between the fractions
    `sure` and `maybe` (values near a threshold counted out or in)."""
    slack = 1e-7  # float32 rounding of a fraction <= 1
    assert sure - slack <= logged <= maybe + slack, (logged, sure, maybe)


def numpy_range(values, sigmoid):
    """The probe's value range, written out in NumPy: sigmoid gates on
    [0, 1] widened to cover the finite values, others symmetric around 0
    as wide as the largest finite magnitude."""
    finite = np.asarray(values)[np.isfinite(values)]
    if sigmoid:
        return min(0.0, float(finite.min())), max(1.0, float(finite.max()))
    top = max(float(np.abs(finite).max()), 1e-6)
    return -top, top


def assert_gate_stats(
    events,
    tag,
    kept,
    sigmoid,
    value_range=None,
    atol=FLOAT32_ATOL,
    left=0.1,
    right=0.9,
    always=0.99,
    step=None,
):
    """What GateMonitor wrote under `tag` (`<layer>/<gate>` or
    `<layer>/<gate>/training`) at `step` (default: its last step) equals
    NumPy's statistics of the gate values `kept` (values, units): mean,
    histogram (bins on `value_range`, default the probe's range rule),
    saturation fractions and always-saturated units. `atol` bounds how far
    a computed gate lies from NumPy's: a value that close to a bin edge or
    a threshold may be counted on either side."""

    def logged(name):
        return last_value(events, f"{tag}/{name}", step)

    np.testing.assert_allclose(logged("mean"), kept.mean(), atol=atol)
    assert logged("nonfinite") == 0
    histogram = logged("histogram")
    if value_range is None:
        value_range = numpy_range(kept, sigmoid)
    edges = np.linspace(*value_range, len(histogram) + 1)
    np.testing.assert_allclose(histogram[:, 0], edges[:-1], atol=atol)
    np.testing.assert_allclose(histogram[:, 1], edges[1:], atol=atol)
    assert_counts_near(histogram[:, 2], kept, edges, atol)
    if not sigmoid:
        assert f"{tag}/saturation_left" not in events
        return
    for side, always_tag, sure, maybe in (
        ("left", "units_always_closed", kept < left - atol, kept < left + atol),
        (
            "right",
            "units_always_open",
            kept > right + atol,
            kept > right - atol,
        ),
    ):
        assert_share_near(
            logged(f"saturation_{side}"), sure.mean(), maybe.mean()
        )
        assert_share_near(
            logged(always_tag),
            (sure.mean(axis=0) >= always).mean(),
            (maybe.mean(axis=0) >= always).mean(),
        )


def assert_probe_stats(events, layer, gates, valid, atol=FLOAT32_ATOL, **kw):
    """Every gate of `layer` as logged from the probe equals NumPy's on
    `gates` (name -> (batch, time, units)) at the `valid` steps."""
    for gate, values in gates.items():
        kept = values[valid]
        assert_gate_stats(
            events, f"{layer}/{gate}", kept, gate in SIGMOID, atol=atol, **kw
        )


def last_value(events, tag, step=None):
    """The value of `tag` at `step` (default: its last step), in either
    form of `events`."""
    found = events[tag]
    if not isinstance(found, dict):
        found = dict(found)
    return found[max(found) if step is None else step]
