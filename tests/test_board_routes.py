"""The Gates dashboard's HTTP API, through TensorBoard's own WSGI app, on
event files written by a real `fit` with GateMonitor (and Keras's
TensorBoard callback in the same directory: `board.fit_logged`). Values
read back are checked against the NumPy recurrence of `reference.py` on the
final weights."""

import importlib.metadata
import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from board import (
    LAYER_INFO,
    TIME,
    VOCABULARY,
    client,
    fit_logged,
    get_json,
    write_layer,
)
from conftest import CellSpec, tf_only
from events import summaries
from reference import numpy_rnn

import keras_gates
from tensorboard_plugin_gates import metadata

pytestmark = tf_only  # GateMonitor writes with TensorFlow

PROBE, SHOWN = 6, 3
LSTM, GRU = CellSpec("LSTM"), CellSpec("GRU")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The model of `board.fit_logged` and a client of its logs."""
    logdir = tmp_path_factory.mktemp("board_logs")
    model, x = fit_logged(logdir, PROBE, SHOWN)
    return model, x, client(logdir), logdir


def reference(model, x):
    """{layer: {gate: (batch, time, units)}} in input order, and the mask."""
    mask = x != 0
    embedded = model.layers[1].get_weights()[0][x]
    bi = model.get_layer("bi")
    forward, backward = bi.forward_layer, bi.backward_layer
    _, fw = numpy_rnn(LSTM, forward.get_weights(), embedded, mask)
    _, bw = numpy_rnn(
        LSTM, backward.get_weights(), embedded, mask, go_backwards=True
    )
    bw = {k: v[:, ::-1] for k, v in bw.items()}  # back into input order
    hidden = np.concatenate([fw["hidden"], bw["hidden"]], axis=-1)
    _, gru = numpy_rnn(GRU, model.get_layer("gru").get_weights(), hidden, mask)
    return {"bi/forward": fw, "bi/backward": bw, "gru": gru}, mask


def test_runs_lists_layers_epochs_and_sequences(fitted):
    _, _, app, _ = fitted
    status, runs = get_json(app, "runs")
    assert status == 200
    # Keras's TensorBoard callback wrote train and validation scalars too;
    # only the run with gate data is listed.
    assert list(runs) == ["train"]
    layers = runs["train"]
    assert list(layers) == ["bi/forward", "bi/backward", "gru"]
    for layer in layers.values():
        assert layer["epochs"] == [0, 1]
        assert layer["sequences"] == SHOWN
        assert layer["steps"] == TIME
        assert layer["tokens"] is True
    assert layers["bi/backward"]["go_backwards"] is True
    assert layers["gru"]["kind"] == "GRU"
    assert layers["gru"]["gates"] == ["update", "reset", "candidate", "hidden"]
    assert layers["bi/forward"]["units"] == 5
    assert layers["gru"]["input_dim"] == 10


@pytest.mark.parametrize(
    "layer,gate",
    [
        ("bi/forward", "forget"),
        ("bi/backward", "input"),
        ("bi/backward", "cell"),
        ("gru", "update"),
        ("gru", "candidate"),
    ],
)
def test_values_equal_numpy_gates_within_storage_precision(fitted, layer, gate):
    model, x, app, _ = fitted
    expected, mask = reference(model, x)
    for sequence in range(SHOWN):
        status, got = get_json(
            app,
            "values",
            run="train",
            layer=layer,
            gate=gate,
            epoch=1,
            sequence=sequence,
        )
        assert status == 200, got
        assert (got["units"], got["steps"]) == (
            expected[layer][gate].shape[2],
            TIME,
        )
        assert got["valid"] == mask[sequence].tolist()
        # Padding (masked steps) stays unlabelled.
        assert got["tokens"] == [
            VOCABULARY[i] if real else ""
            for i, real in zip(x[sequence], mask[sequence])
        ]
        values = np.array(got["values"], dtype=float)  # None -> nan
        want = expected[layer][gate][sequence].T
        valid = mask[sequence]
        assert np.isnan(values[:, ~valid]).all()
        bound = (got["high"] - got["low"]) / (2 * metadata.CODE_MAX) + 2e-6
        assert bound < 1 / 256
        np.testing.assert_allclose(
            values[:, valid], want[:, valid], rtol=0, atol=bound
        )


def test_saturation_training_and_unit_histograms(fitted):
    model, x, app, _ = fitted
    expected, mask = reference(model, x)
    forget = expected["bi/forward"]["forget"][mask]  # (valid steps, units)
    status, sat = get_json(
        app, "saturation", run="train", layer="bi/forward", epoch=1
    )
    assert status == 200
    assert list(sat["gates"]) == ["input", "forget", "output"]
    np.testing.assert_allclose(
        sat["gates"]["forget"]["left"], (forget < 0.1).mean(0), atol=1e-6
    )
    np.testing.assert_allclose(
        sat["gates"]["forget"]["right"], (forget > 0.9).mean(0), atol=1e-6
    )
    status, training = get_json(app, "training", run="train", layer="gru")
    assert status == 200
    assert training["epochs"] == [0, 1]
    update = expected["gru"]["update"][mask]
    assert training["gates"]["update"]["mean"][1] == pytest.approx(
        update.mean(), abs=1e-5
    )
    assert training["gates"]["candidate"]["left"] == [None, None]
    status, unit = get_json(
        app, "unit", run="train", layer="gru", gate="reset", unit=2
    )
    assert status == 200
    assert [e["epoch"] for e in unit["epochs"]] == [0, 1]
    last = unit["epochs"][1]
    assert sum(last["counts"]) == mask.sum()
    reset = expected["gru"]["reset"][mask][:, 2]
    bins = np.clip(
        ((reset - last["low"]) * metadata.BINS / (last["high"] - last["low"])),
        0,
        metadata.BINS - 1,
    ).astype(int)
    assert last["counts"] == np.bincount(bins, minlength=metadata.BINS).tolist()


def test_pattern_search_ranks_units_open_only_inside_the_range(fitted):
    _, _, app, _ = fitted
    query = dict(run="train", layer="gru", gate="update", epoch=1, sequence=0)
    _, got = get_json(app, "values", **query)
    values = np.array(got["values"], dtype=float)
    start, end = 3, 4
    # A threshold just under the lowest value of unit 1 inside the range.
    threshold = values[1, start : end + 1].min() - 1e-4
    status, found = get_json(
        app, "pattern", **query, start=start, end=end, threshold=threshold
    )
    assert status == 200
    for match in found["units"]:
        row = values[match["unit"]]
        assert (row[start : end + 1] >= threshold).all()
        assert row[start - 1] < threshold and row[end + 1] < threshold
    expected = [
        u
        for u in range(values.shape[0])
        if (values[u, start : end + 1] >= threshold).all()
        and values[u, start - 1] < threshold
        and values[u, end + 1] < threshold
    ]
    assert sorted(m["unit"] for m in found["units"]) == expected
    scores = [m["score"] for m in found["units"]]
    assert scores == sorted(scores, reverse=True)


# A query every route answers (each reads the arguments it needs).
GOOD = dict(
    run="train",
    layer="gru",
    gate="update",
    epoch=1,
    sequence=0,
    unit=0,
    start=0,
    end=1,
    threshold=0.5,
)


@pytest.mark.parametrize(
    "route,change,status,words",
    [
        ("values", {"run": "nope"}, 404, "no 'layer' data"),
        ("values", {"layer": "lstm"}, 404, "'lstm'"),
        ("values", {"gate": "forget"}, 404, "no gate 'forget'"),
        ("values", {"epoch": 7}, 404, "epoch 7"),
        ("values", {"sequence": SHOWN}, 404, "sequence 3"),
        ("values", {"epoch": "one"}, 400, "'epoch' must be int"),
        ("values", {"epoch": None}, 400, "missing query argument 'epoch'"),
        ("unit", {"unit": 3}, 404, "units 0 to 2"),
        ("pattern", {"start": 5, "end": 2}, 400, "start <= end"),
        ("pattern", {"threshold": "high"}, 400, "'threshold' must be float"),
    ],
)
def test_bad_requests_get_json_errors(fitted, route, change, status, words):
    _, _, app, _ = fitted
    query = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    got_status, body = get_json(app, route, **query)
    assert got_status == status
    assert words in body["error"]
    assert "Traceback" not in body["error"]


def _content(version):
    return json.dumps({"version": version, "kind": "layer"}).encode()


NEWER = (
    "written by a newer keras-gates (Gates format version "
    f"{metadata.VERSION + 1}); this dashboard reads version "
    f"{metadata.VERSION}: upgrade keras-gates"
)


@pytest.mark.parametrize(
    "route,query",
    [
        ("runs", {}),
        ("layer", {"run": "newer", "layer": "lstm"}),
        ("training", {"run": "newer", "layer": "lstm"}),
        ("values", {**GOOD, "run": "newer", "layer": "lstm", "gate": "input"}),
        ("unit", {"run": "newer", "layer": "lstm", "gate": "input", "unit": 0}),
    ],
)
def test_a_newer_format_is_refused_never_misread(tmp_path, route, query):
    write_layer(tmp_path / "current", _content(metadata.VERSION))
    write_layer(tmp_path / "newer", _content(metadata.VERSION + 1))
    app = client(tmp_path)
    status, body = get_json(app, route, **query)
    assert status == 409
    assert body == {"error": f"run 'newer', tag 'lstm/_gates/layer': {NEWER}"}
    # The run of the current format beside it is still read.
    status, info = get_json(app, "layer", run="current", layer="lstm")
    assert (status, info) == (200, LAYER_INFO)


def test_plugin_data_of_another_shape_is_refused(tmp_path):
    write_layer(tmp_path / "odd", b"v2")
    status, body = get_json(client(tmp_path), "runs")
    assert status == 409
    assert body["error"].startswith(
        "run 'odd', tag 'lstm/_gates/layer': not Gates plugin data"
    )
    assert "got b'v2'" in body["error"]


def test_static_files_and_plugin_listing(fitted):
    _, _, app, _ = fitted
    listing = app.get("/data/plugins_listing").get_json()
    assert listing["gates"]["enabled"] is True
    assert listing["gates"]["tab_name"] == "Gates"
    entry = app.get("/data/plugin/gates/index.js")
    assert entry.status_code == 200
    assert entry.headers["Content-Type"].startswith("text/javascript")
    assert "export async function render" in entry.get_data(as_text=True)
    # Every module an ES module imports is served.
    pending, seen = ["index.js"], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        text = app.get(f"/data/plugin/gates/{name}").get_data(as_text=True)
        for imported in re.findall(r'from "\./([\w.]+)"', text):
            if imported not in seen:
                pending.append(imported)
    assert {"heatmap.js", "traces.js", "cell.js"} <= seen
    assert app.get("/data/plugin/gates/style.css").status_code == 200
    assert app.get("/data/plugin/gates/../plugin.py").status_code == 404
    assert app.get("/data/plugin/gates/reader.py").status_code == 404


def test_entry_point_and_import_without_tensorflow():
    names = {
        e.name: e.value
        for e in importlib.metadata.entry_points(group="tensorboard_plugins")
    }
    assert names["gates"] == "tensorboard_plugin_gates.plugin:GatesPlugin"
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tensorboard_plugin_gates.plugin; print(sorted("
            "m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'keras_gates', 'jax')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_no_tokens_for_a_layer_whose_steps_are_not_the_inputs(tmp_path):
    ids = np.random.default_rng(0).integers(1, 5, (8, 12))
    inputs = keras.Input((12,), dtype="int32")
    h = keras.layers.Embedding(5, 4)(inputs)
    h = keras.layers.Conv1D(4, 2, strides=2)(h)  # 6 steps from 12
    h = keras.layers.GRU(3, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(loss="mse")
    monitor = keras_gates.GateMonitor(tmp_path, probe_data=ids)
    model.fit(ids, np.zeros((8, 1)), epochs=1, verbose=0, callbacks=[monitor])
    app = client(tmp_path)
    _, runs = get_json(app, "runs")
    assert runs["train"]["gru"]["steps"] == 6
    assert runs["train"]["gru"]["tokens"] is False
    query = dict(run="train", layer="gru", gate="reset", epoch=0, sequence=0)
    status, got = get_json(app, "values", **query)
    assert status == 200 and got["tokens"] is None


def test_a_window_of_steps(tmp_path):
    ids = np.random.default_rng(1).integers(1, len(VOCABULARY), (4, 12))
    inputs = keras.Input((12,), dtype="int32")
    h = keras.layers.Embedding(len(VOCABULARY), 4)(inputs)
    h = keras.layers.Bidirectional(keras.layers.GRU(3), name="bi")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(loss="mse")
    monitor = keras_gates.GateMonitor(
        tmp_path, probe_data=ids, vocabulary=VOCABULARY, steps=(4, 9)
    )
    model.fit(ids, np.zeros((4, 1)), epochs=1, verbose=0, callbacks=[monitor])
    expected = keras_gates.gates(model, ids)
    app = client(tmp_path)
    for layer in ("bi/forward", "bi/backward"):
        gates = expected[layer]["reset"]
        if layer == "bi/backward":
            gates = gates[:, ::-1]  # into input order
        query = dict(run="train", layer=layer, gate="reset", epoch=0)
        _, got = get_json(app, "values", **query, sequence=1)
        assert (got["first_step"], got["steps"]) == (4, 5)
        assert got["tokens"] == [VOCABULARY[i] for i in ids[1, 4:9]]
        np.testing.assert_allclose(
            np.array(got["values"]), gates[1, 4:9].T, atol=1 / 256
        )
    with pytest.raises(ValueError, match="`steps` must be"):
        keras_gates.GateMonitor(tmp_path, steps=(5, 5))


def _saturated(values, valid, count=1):
    """The `count` units of a sigmoid gate (batch, time, units) most often
    below 0.1 or above 0.9 at valid steps, by NumPy."""
    kept = values[valid]
    share = ((kept < 0.1) | (kept > 0.9)).mean(axis=0)
    return list(np.argsort(-share, kind="stable")[:count])


def test_attribution_of_saturated_units_and_output(fitted):
    """GateMonitor(attribution="saliency") logged, at the last epoch (the
    final weights), what `keras_gates.attribution` gives on the stored
    sequences, for the most saturated unit of each sigmoid gate."""
    model, x, app, logdir = fitted
    probed = keras_gates.gates(model, x)
    shown = x[:SHOWN]
    for layer, gate in [("gru", "update"), ("bi/backward", "forget")]:
        status, data = get_json(
            app,
            "values",
            run="train",
            layer=layer,
            gate=gate,
            epoch=1,
            sequence=2,
        )
        assert status == 200, data
        logged = data["attribution"]
        assert logged["method"] == "saliency"
        (unit,) = _saturated(
            probed[layer][gate],
            x != 0 if "bi" not in layer else (x != 0)[:, ::-1],
        )
        assert list(logged["units"]) == [str(unit)]
        expected = keras_gates.attribution(
            model, shown, layer=layer, gate=gate, unit=int(unit)
        )
        row = np.array(logged["units"][str(unit)], "float64")
        np.testing.assert_allclose(row, expected[2], rtol=1e-3, atol=1e-7)
        output = keras_gates.attribution(model, shown)
        assert logged["output"]["index"] is None  # Dense(1): one value
        np.testing.assert_allclose(
            logged["output"]["values"], output[2], rtol=1e-3, atol=1e-7
        )
    assert np.all(np.array(logged["output"]["values"]) >= 0)
    # Stock TensorBoard gets images of the same.
    images = summaries(logdir / "train")
    for tag in (
        "gru/attribution",
        "bi/forward/attribution",
        "attribution/output",
    ):
        assert sorted(images[tag]) == [0, 1], tag


def test_attribution_arguments():
    with pytest.raises(ValueError, match=r"`attribution` must be None or one"):
        keras_gates.GateMonitor(attribution="lime")
    with pytest.raises(ValueError, match="`attribution_units` must be"):
        keras_gates.GateMonitor(attribution="saliency", attribution_units=0)
    inputs = [keras.Input((TIME, 2)), keras.Input((TIME, 2))]
    joined = keras.layers.Concatenate()(inputs)
    model = keras.Model(inputs, keras.layers.LSTM(2)(joined))
    monitor = keras_gates.GateMonitor(attribution="saliency")
    monitor.set_model(model)
    with pytest.raises(ValueError, match="explains models with one input"):
        monitor.on_train_begin()
