"""Gate statistics counted with tensor ops (`keras_gates.summary.stats`),
in the probe's compiled function and alone, against NumPy."""

import keras
import numpy as np
import pytest

import keras_gates
from keras_gates.callbacks.settings import Settings
from keras_gates.callbacks.statistics import ProbeReducer
from keras_gates.probe import GateProbe
from keras_gates.summary import stats
from keras_gates.summary.stats import gate_stats
from tensorboard_plugin_gates import metadata


def gates_and_mask(seed=0):
    rng = np.random.default_rng(seed)
    values = rng.random((8, 7, 5)).astype("float32")
    values[0, :, 0] = 0.02  # a unit shut at every step of one sequence
    values[1, 2, 3] = np.nan
    values[2, 4, 1] = np.inf
    valid = np.ones((8, 7), bool)
    valid[3:, 5:] = False
    return values, valid


def numpy_range(values, sigmoid):
    """The dashboard's value range, written out in NumPy: sigmoid gates on
    [0, 1] widened to cover the finite values, others symmetric around 0 as
    wide as the largest finite magnitude."""
    finite = values[np.isfinite(values)]
    if sigmoid:
        return min(0.0, finite.min()), max(1.0, finite.max())
    top = max(np.abs(finite).max(), 1e-6)
    return -top, top


@pytest.mark.parametrize("sigmoid", [True, False], ids=["sigmoid", "tanh"])
def test_histogram_mean_and_counts_match_numpy(sigmoid):
    values, valid = gates_and_mask()
    if not sigmoid:
        values = 2.0 * values - 1.0
    got = gate_stats(values, valid, sigmoid)
    steps = values[valid]
    clean = steps[np.isfinite(steps)]
    assert got.nonfinite == 2
    np.testing.assert_allclose(got.mean, clean.mean(), rtol=1e-6)
    low, high = numpy_range(clean, sigmoid)
    if not sigmoid:  # symmetric around 0, as wide as the largest value
        assert high == np.abs(clean).max() and low == -high
    expected, _ = np.histogram(clean, bins=30, range=(low, high))
    np.testing.assert_array_equal(got.histogram[:, 2], expected)
    np.testing.assert_allclose(got.histogram[0, 0], low, rtol=1e-6)
    np.testing.assert_allclose(got.histogram[-1, 1], high, rtol=1e-6)


def test_saturation_per_unit_matches_numpy():
    values, valid = gates_and_mask()
    got = gate_stats(values, valid, True, left=0.1, right=0.9, always=0.5)
    steps = values[valid]
    finite = np.isfinite(steps)
    below = ((steps < 0.1) & finite).sum(axis=0) / finite.sum(axis=0)
    above = ((steps > 0.9) & finite).sum(axis=0) / finite.sum(axis=0)
    np.testing.assert_allclose(got.unit_left, below)
    np.testing.assert_allclose(got.unit_right, above)
    np.testing.assert_allclose(
        got.left, ((steps < 0.1) & finite).sum() / finite.sum()
    )
    np.testing.assert_allclose(
        got.right, ((steps > 0.9) & finite).sum() / finite.sum()
    )
    assert got.always_closed == np.mean(below >= 0.5)
    assert got.always_open == np.mean(above >= 0.5)


def test_per_unit_histograms_and_ranges_of_stacked_gates():
    rng = np.random.default_rng(2)
    values = rng.standard_normal((2, 6, 9, 7)).astype(np.float32)
    values[1, 0, 5, 2], values[0, 3, 1, 0] = np.nan, np.inf
    valid = np.ones((6, 9), bool)
    valid[4:, 6:] = False
    low, high = stats.value_ranges(values, valid, [True, False])
    low, high = (
        keras.ops.convert_to_numpy(low),
        keras.ops.convert_to_numpy(high),
    )
    counts = stats.count(values, valid, low, high, 30, 0.1, 0.9, 20)
    unit = keras.ops.convert_to_numpy(counts["unit_histogram"])
    for gate, sigmoid in enumerate([True, False]):
        at_valid = values[gate][valid]
        want_range = numpy_range(at_valid, sigmoid)
        np.testing.assert_allclose([low[gate], high[gate]], want_range)
        for u in range(7):
            column = at_valid[:, u][np.isfinite(at_valid[:, u])]
            clipped = np.clip(column, want_range[0], want_range[1] - 1e-6)
            want, _ = np.histogram(clipped, 20, want_range)
            np.testing.assert_array_equal(unit[gate, u], want)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="compiled probe on TF"
)
def test_statistics_in_the_compiled_probe_equal_numpy_on_the_same_gates():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 12, 3)).astype(np.float32)
    x[:4, 9:] = 0.0  # masked steps
    model = keras.Sequential(
        [
            keras.Input((12, 3)),
            keras.layers.Masking(),
            keras.layers.Bidirectional(
                keras.layers.LSTM(5, return_sequences=True), name="bi"
            ),
            keras_gates.GRU(4, name="gru"),
        ]
    )
    settings = Settings(dashboard_sequences=3, heatmap_index=7, always=0.5)
    reducer = ProbeReducer(settings)
    probe = GateProbe(model, reduce=reducer)
    results = probe.run(x)
    plain = GateProbe(model).run(x)  # every gate, to the host
    layers = dict(probe.layers)
    for record in plain:
        got = reducer.read(
            record.name, layers[record.name], results[record.name]
        )
        np.testing.assert_array_equal(got.valid, record.valid[:3])
        np.testing.assert_array_equal(got.heatmap_valid, record.valid[7])
        for index, (gate, values) in enumerate(record.gates.items()):
            sigmoid = gate in record.sigmoid_gates
            at_valid = values[record.valid]
            steps = at_valid.reshape(-1, values.shape[-1])
            want = got.stats[gate]
            # Float32 sums in another order: absolute error ~1e-7 for values
            # in [-1, 1] (a mean near 0 has no relative precision).
            np.testing.assert_allclose(
                want.mean, at_valid.mean(), rtol=1e-5, atol=1e-6
            )
            low, high = numpy_range(at_valid, sigmoid)
            np.testing.assert_allclose(
                [got.low[index], got.high[index]], [low, high], rtol=1e-6
            )
            counts, _ = np.histogram(at_valid, 30, (low, high))
            np.testing.assert_array_equal(want.histogram[:, 2], counts)
            for u in (0, values.shape[-1] - 1):
                column = np.clip(steps[:, u], low, high - 1e-6)
                unit, _ = np.histogram(column, metadata.BINS, (low, high))
                np.testing.assert_array_equal(
                    got.unit_histograms[index, u], unit
                )
            np.testing.assert_allclose(got.gates[gate], values[:3])
            np.testing.assert_allclose(got.heatmap[gate], values[7])
            if sigmoid:
                np.testing.assert_allclose(
                    want.unit_right, (steps > 0.9).mean(axis=0)
                )
                np.testing.assert_allclose(
                    want.always_closed, ((steps < 0.1).mean(0) >= 0.5).mean()
                )
            else:
                assert want.left is None
