"""GateMonitor's options, and what its images and the dashboard's tensors
hold, read back from the event files of one `fit` with several monitors
and checked against the float64 NumPy forward pass (`monitored.py`) and
independent gradients (central differences of it, `tf.GradientTape`).
"""

import json

import keras
import matplotlib
import numpy as np
import pytest
from conftest import tf_only
from logged import (
    FLOAT32_ATOL,
    SIGMOID,
    assert_counts_near,
    assert_probe_stats,
    last_value,
    numpy_range,
)
from monitored import (
    TIME,
    data,
    expected_gates,
    mask_of,
    model_with_stock_and_gates_layers,
    numpy_gru,
    numpy_lstm,
    read_run,
    weights_of,
)
from tensorboard.backend.event_processing import event_file_loader

import keras_gates
from tensorboard_plugin_gates import metadata

pytestmark = tf_only  # TensorBoard summaries are written with TensorFlow

# The probe: rows 14 and 15 of `data()` end in 2 masked steps, 16 on
# have none. Heatmaps show sequence HEATMAP_INDEX (row 19) in the
# "options" run, sequence 0 (row 14) elsewhere.
PROBE = slice(14, 22)
HEATMAP_INDEX = 5
# Thresholds inside the narrow spread of the LSTM's gates (the GRU's are
# all between 0.4 and 0.6): some units spend 80% of the steps above 0.65.
LEFT, RIGHT, ALWAYS = 0.35, 0.65, 0.8
SEQUENCES = 4  # the dashboard's (and attribution's) sequences, by default

# A colour of a heatmap lies within one entry of the colour map's 256 (at
# most 3.1 / 255 apart in a channel, viridis and RdBu_r) plus the 1 / 255
# lost when colours are truncated to bytes: a value within FLOAT32_ATOL of
# NumPy's shows within 5 of its colour, in 0-255.
COLOUR_ATOL = 5


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One `fit` (1 epoch) of the two-layer model with four monitors,
    each writing its own log dir under a root: ({name: its train run's
    summaries}, the model, the probe inputs, the root)."""
    root = tmp_path_factory.mktemp("options")
    keras.utils.set_random_seed(0)
    x, y = data()
    model = model_with_stock_and_gates_layers()
    probe = x[PROBE]
    monitors = {
        "default": {},
        "options": dict(
            heatmap_index=HEATMAP_INDEX,
            layers=["lstm"],
            left=LEFT,
            right=RIGHT,
            always=ALWAYS,
            dashboard=False,
        ),
        "gradcam": dict(
            attribution="gradcam",
            attribution_units=2,
            left=LEFT,
            right=RIGHT,
        ),
        "gradient_x_input": dict(
            attribution="gradient_x_input", layers=["gru"]
        ),
    }
    callbacks = [
        keras_gates.GateMonitor(
            str(root / name), probe_data=probe, figures=False, **kwargs
        )
        for name, kwargs in monitors.items()
    ]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    runs = {name: read_run(str(root / name), "train") for name in monitors}
    return runs, model, probe, root


def plugins(run_dir):
    """{tag: the plugin owning it} of every summary of a run."""
    found = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("metadata"):
                    plugin = value.metadata.plugin_data.plugin_name
                    found.setdefault(value.tag, plugin)
    return found


def decode_png(image):
    """An image summary's [width, height, PNG] as an RGBA uint8 array."""
    import tensorflow as tf

    width, height, png = image
    pixels = tf.io.decode_png(png, channels=4).numpy()
    assert pixels.shape == (int(height), int(width), 4)
    return pixels


def saturated_shares(values, valid, left, right):
    """Per unit, the fractions of its valid values below `left` and above
    `right`."""
    kept = values[valid]
    return (kept < left).mean(axis=0), (kept > right).mean(axis=0)


def test_heatmap_index_shows_that_sequence(logged):
    runs, model, probe, _ = logged
    expected, mask = expected_gates(model, probe)
    for run, index in (("default", 0), ("options", HEATMAP_INDEX)):
        valid = mask[index]
        for gate, values in expected["lstm"].items():
            shown = values[index][valid]  # (valid steps, units)
            pixels = decode_png(last_value(runs[run], f"lstm/{gate}/heatmap"))
            # 4 x 4 pixels a value: units are rows, steps columns.
            assert pixels.shape[:2] == (4 * 4, valid.sum() * 4)
            if gate in SIGMOID:
                scaled = shown
                colours = matplotlib.colormaps["viridis"]
            else:  # symmetric around 0, as wide as the largest magnitude
                top = np.abs(shown).max()
                scaled = (shown + top) / (2 * top)
                colours = matplotlib.colormaps["RdBu_r"]
            expected_rgb = 255 * colours(scaled.T)[..., :3]
            np.testing.assert_allclose(
                pixels[::4, ::4, :3], expected_rgb, atol=COLOUR_ATOL
            )
    # Sequence 0 ends in masked steps, sequence 5 has none.
    assert mask[0].sum() < mask[HEATMAP_INDEX].sum() == TIME


def test_layers_names_the_layers_monitored(logged):
    runs, _, _, _ = logged
    for run, layers in (
        ("default", {"lstm", "gru"}),
        ("options", {"lstm"}),
        ("gradient_x_input", {"gru"}),
    ):
        written = {tag.split("/")[0] for tag in runs[run]}
        others = {"gate_monitor", "custom_scalars__config__", "_gates"}
        assert written - others - {"attribution"} == layers


def test_custom_thresholds_set_every_saturation_statistic(logged):
    runs, model, probe, _ = logged
    expected, mask = expected_gates(model, probe)
    gates = expected["lstm"]
    thresholds = dict(left=LEFT, right=RIGHT, always=ALWAYS)
    assert_probe_stats(runs["options"], "lstm", gates, mask, **thresholds)
    # With the default thresholds, or the default `always`, the same
    # check fails: each of them matters.
    with pytest.raises(AssertionError):
        assert_probe_stats(runs["options"], "lstm", gates, mask)
    with pytest.raises(AssertionError):
        assert_probe_stats(
            runs["options"], "lstm", gates, mask, left=LEFT, right=RIGHT
        )
    # The dashboard's statistics follow them too ("gradcam").
    events = runs["gradcam"]
    info = json.loads(last_value(events, "lstm/_gates/layer").item())
    assert (info["left"], info["right"]) == (LEFT, RIGHT)
    stats = last_value(events, "lstm/_gates/stats")
    saturation = last_value(events, "lstm/_gates/saturation")
    sigmoid = [gate for gate in gates if gate in SIGMOID]
    for index, gate in enumerate(gates):
        if gate not in SIGMOID:
            continue
        kept = gates[gate][mask]
        share = ((kept < LEFT).mean(), (kept > RIGHT).mean())
        np.testing.assert_allclose(stats[index, 1:], share, atol=1e-7)
        below, above = saturated_shares(gates[gate], mask, LEFT, RIGHT)
        np.testing.assert_allclose(
            saturation[sigmoid.index(gate)], [below, above], atol=1e-7
        )


def test_without_dashboard_nothing_of_the_plugin_is_written(logged):
    runs, _, _, root = logged
    owners = plugins(root / "options" / "train")
    assert "gates" not in owners.values()
    assert "gates" in plugins(root / "default" / "train").values()
    # Everything else is written as with the dashboard on.
    kept = {
        tag
        for tag in runs["default"]
        if not tag.startswith("gru/") and "_gates/" not in tag
    }
    assert set(runs["options"]) == kept


def test_saturation_scatter_has_a_dot_per_unit(logged):
    """Dots at (fraction below left, fraction above right) of each unit,
    panels side by side in gate order (`images.saturation_scatter`'s
    layout: 160-pixel panels 8 apart, y up, dots 5 pixels wide)."""
    runs, model, probe, _ = logged
    expected, mask = expected_gates(model, probe)
    size, gap = 160, 8
    blue = np.array([31, 119, 180])
    for run, layer, left, right in (
        ("default", "lstm", 0.1, 0.9),
        ("default", "gru", 0.1, 0.9),
        ("options", "lstm", LEFT, RIGHT),
    ):
        pixels = decode_png(
            last_value(runs[run], f"{layer}/saturation_scatter")
        )
        panels = [g for g in expected[layer] if g in SIGMOID]
        assert pixels.shape[1] == len(panels) * (size + gap) - gap
        for index, gate in enumerate(panels):
            below, above = saturated_shares(
                expected[layer][gate], mask, left, right
            )
            panel = pixels[:, index * (size + gap) :][:, :size, :3]
            dots = np.all(panel == blue, axis=-1)
            rows = np.round((1 - above) * (size - 1)).astype(int)
            cols = np.round(below * (size - 1)).astype(int)
            near = np.zeros_like(dots)
            for row, col in zip(rows, cols):
                assert dots[row, col], (run, layer, gate, row, col)
                top, first = max(row - 2, 0), max(col - 2, 0)
                near[top : row + 3, first : col + 3] = True
            assert not (dots & ~near).any(), (run, layer, gate)  # no others


def test_per_unit_histograms_and_statistics_of_the_dashboard(logged):
    runs, model, probe, _ = logged
    expected, mask = expected_gates(model, probe)
    events = runs["default"]
    for layer, gates in expected.items():
        histograms = last_value(events, f"{layer}/_gates/histograms")
        scale = last_value(events, f"{layer}/_gates/scale")
        stats = last_value(events, f"{layer}/_gates/stats")
        assert histograms.shape == (len(gates), gates["hidden"].shape[-1], 20)
        for index, (gate, values) in enumerate(gates.items()):
            kept = values[mask]
            low, high = numpy_range(kept, gate in SIGMOID)
            np.testing.assert_allclose(scale[index], [low, high], atol=1e-5)
            edges = np.linspace(low, high, metadata.BINS + 1)
            for unit in range(kept.shape[1]):
                assert_counts_near(
                    histograms[index, unit], kept[:, unit], edges, FLOAT32_ATOL
                )
            np.testing.assert_allclose(
                stats[index, 0], kept.mean(), atol=FLOAT32_ATOL
            )
            if gate not in SIGMOID:
                assert np.isnan(stats[index, 1:]).all()


# ------------------------------------------------------------ attribution


def central_difference(score, inputs, mask, h=1e-4):
    """d score / d inputs by central differences in float64: `score(inputs,
    mask)` gives one number per sequence; inputs (batch, time, channels).
    The mask stays that of `inputs` (a perturbed masked step stays
    masked). Truncation error ~h**2, rounding ~1e-16 / h: both far below
    the float32 tolerances used."""
    inputs = np.asarray(inputs, "float64")
    batch, time, channels = inputs.shape
    grad = np.zeros_like(inputs)
    for t in range(time):
        for c in range(channels):
            up, down = inputs.copy(), inputs.copy()
            up[:, t, c] += h
            down[:, t, c] -= h
            grad[:, t, c] = (score(up, mask) - score(down, mask)) / (2 * h)
    return grad


def unit_mean(gates, gate, unit, mask):
    """A gate unit's mean over each sequence's valid steps."""
    values = gates[gate][..., unit]
    return (values * mask).sum(axis=1) / mask.sum(axis=1)


def gate_score(weights, layer, gate, unit, of_inputs=True):
    """score(features, mask) of a gate unit, the features being the model
    inputs or, with `of_inputs=False`, the sequence `layer` reads."""

    def score(features, mask):
        if layer == "lstm" or of_inputs:
            gates, features = numpy_lstm(weights, features, mask)
        if layer == "gru":
            gates, _ = numpy_gru(weights, features, mask)
        return unit_mean(gates, gate, unit, mask)

    return score


def assert_most_saturated(units, values, valid, left, right):
    """`units` are, in order, units of the largest shares of steps below
    `left` or above `right` (units of equal shares in either order)."""
    kept = values[valid]
    share = ((kept < left) | (kept > right)).mean(axis=0)
    assert len(set(units)) == len(units)
    top = np.sort(share)[::-1][: len(units)]
    np.testing.assert_allclose(share[units], top, atol=1e-12)


def assert_targets(targets, gates, mask, units, left, right):
    """`units` units of every sigmoid gate, the most saturated ones."""
    sigmoid = [gate for gate in gates if gate in SIGMOID]
    assert [t["gate"] for t in targets] == [
        gate for gate in sigmoid for _ in range(units)
    ]
    for gate in sigmoid:
        chosen = [t["unit"] for t in targets if t["gate"] == gate]
        assert_most_saturated(chosen, gates[gate], mask, left, right)


def read_json(events, tag):
    return json.loads(last_value(events, tag).item())


# Logged values are rounded to 4 significant digits (a relative error of
# at most 5e-4), from float32 gradients (FLOAT32_ATOL).
ROUNDED = dict(rtol=5e-4, atol=FLOAT32_ATOL)


def test_attribution_by_gradient_x_input(logged):
    """The most saturated unit of each of the GRU's sigmoid gates, by
    gradient x input, against central differences of the NumPy forward
    pass; the model output's against `tf.GradientTape`."""
    import tensorflow as tf

    runs, model, probe, _ = logged
    events = runs["gradient_x_input"]
    weights = weights_of(model)
    expected, mask = expected_gates(model, probe)
    x, valid = probe[:SEQUENCES], mask[:SEQUENCES]
    logged_json = read_json(events, "gru/_gates/attribution")
    assert logged_json["method"] == "gradient_x_input"
    targets = logged_json["targets"]
    assert_targets(targets, expected["gru"], mask, 1, 0.1, 0.9)
    for target in targets:
        score = gate_score(weights, "gru", target["gate"], target["unit"])
        grad = central_difference(score, x, valid)
        np.testing.assert_allclose(
            target["values"], (grad * x).sum(axis=-1), **ROUNDED
        )
    output = read_json(events, "_gates/output_attribution")
    assert (output["method"], output["output"]) == ("gradient_x_input", None)
    seed = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(seed)
        prediction = model(seed)
    grad = tape.gradient(prediction, seed).numpy()
    np.testing.assert_allclose(
        output["values"], np.where(valid, (grad * x).sum(axis=-1), 0), **ROUNDED
    )


def gradcam(grad, features, valid):
    """Grad-CAM over time: channels weighted by their mean gradient over
    the steps, summed per step, clipped at 0; 0 at masked steps."""
    weights = grad.mean(axis=1, keepdims=True)
    cam = np.maximum((weights * features).sum(axis=-1), 0.0)
    return np.where(valid, cam, 0.0)


def test_attribution_of_two_units_each_by_gradcam(logged):
    """`attribution_units=2`: the two most saturated units (by the custom
    thresholds) of every sigmoid gate. Grad-CAM weighs the sequence a
    gate's layer reads (the inputs for the LSTM, the LSTM's outputs for
    the GRU), and for the model output the sequence the last recurrent
    layer (the GRU) reads; gradients by central differences."""
    runs, model, probe, _ = logged
    events = runs["gradcam"]
    weights = weights_of(model)
    expected, mask = expected_gates(model, probe)
    x, valid = probe[:SEQUENCES], mask[:SEQUENCES]
    _, sequence = numpy_lstm(weights, x, valid)  # what the GRU reads
    for layer, features in (("lstm", x), ("gru", sequence)):
        logged_json = read_json(events, f"{layer}/_gates/attribution")
        assert logged_json["method"] == "gradcam"
        targets = logged_json["targets"]
        assert_targets(targets, expected[layer], mask, 2, LEFT, RIGHT)
        for target in targets:
            score = gate_score(
                weights, layer, target["gate"], target["unit"], False
            )
            grad = central_difference(score, features, valid)
            np.testing.assert_allclose(
                target["values"], gradcam(grad, features, valid), **ROUNDED
            )

    def output_score(features, mask):
        return numpy_gru(weights, features, mask)[1][:, 0]

    grad = central_difference(output_score, sequence, valid)
    output = read_json(events, "_gates/output_attribution")
    assert output["method"] == "gradcam"
    np.testing.assert_allclose(
        output["values"], gradcam(grad, sequence, valid), **ROUNDED
    )


# ------------------------------------------------------------ multi-input


def test_multi_input_probe_data_as_a_list_or_a_dict(tmp_path):
    """A model of two named inputs, probed with a list, a dict and an
    `(x, y)` tuple of a dict: the same gates, those of NumPy on the
    concatenated inputs."""
    x, y = data()
    first, second = x[..., :2], x[..., 2:]
    inputs = [
        keras.Input((TIME, 2), name="a"),
        keras.Input((TIME, 1), name="b"),
    ]
    joined = keras.layers.Concatenate()(inputs)
    hidden = keras.layers.LSTM(4, name="lstm")(keras.layers.Masking()(joined))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer="adam", loss="mse")
    probes = {
        "list": [first[10:20], second[10:20]],
        "dict": {"b": second[10:20], "a": first[10:20]},
        "tuple": ({"a": first[10:20], "b": second[10:20]}, y[10:20]),
    }
    model.fit(
        [first, second],
        y,
        epochs=1,
        verbose=0,
        callbacks=[
            keras_gates.GateMonitor(
                str(tmp_path / name), probe_data=probe, figures=False
            )
            for name, probe in probes.items()
        ],
    )
    weights = {"lstm": model.get_layer("lstm").get_weights()}
    mask = mask_of(x[10:20])
    gates, _ = numpy_lstm(weights, x[10:20], mask)
    for name in probes:
        events = read_run(str(tmp_path / name), "train")
        assert_probe_stats(events, "lstm", gates, mask)
