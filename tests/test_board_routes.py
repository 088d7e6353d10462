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
from reference import numpy_rnn, tf_gates

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


SIGMOID_GATES = {
    "LSTM": ["input", "forget", "output"],
    "GRU": ["update", "reset"],
}


def test_layer_route_against_the_model(fitted):
    model, _, app, _ = fitted
    bi = model.get_layer("bi")
    layers = {
        "bi/forward": (bi.forward_layer, LSTM),
        "bi/backward": (bi.backward_layer, LSTM),
        "gru": (model.get_layer("gru"), GRU),
    }
    for name, (layer, spec) in layers.items():
        status, info = get_json(app, "layer", run="train", layer=name)
        assert status == 200, info
        kernel, recurrent, bias = layer.get_weights()
        d_x, d_h = kernel.shape[0], recurrent.shape[0]
        parts = kernel.shape[1] // d_h  # neural-network layers in the cell
        assert info["kind"] == spec.name
        assert (info["input_dim"], info["units"]) == (d_x, d_h)
        assert info["gates"] == list(spec.gate_names)
        assert info["sigmoid_gates"] == SIGMOID_GATES[spec.name]
        assert info["go_backwards"] == (name == "bi/backward")
        assert info["params"] == layer.count_params()
        weighted = [r for r in info["dimensions"] if r["weight_shape"]]
        assert len(weighted) == parts == {"LSTM": 4, "GRU": 3}[spec.name]
        for row in weighted:
            assert (row["d_x"], row["d_h"]) == (d_x, d_h)
            assert row["weight_shape"] == [d_x + d_h, d_h]
            assert row["bias_shape"] == [bias.size // parts]
        total = sum(r["params"] for r in info["dimensions"])
        assert total == kernel.size + recurrent.size + bias.size
    status, body = get_json(app, "layer", run="train", layer="lstm")
    assert status == 404 and "'lstm'" in body["error"]


# The planted GRU's tokens, and its update-gate kernel row per token for
# units 0 to 3 (no recurrent weights, no bias: z = sigmoid(row[token])).
PLANTED_VOCABULARY = ["<pad>", "a", "b", "c"]
PLANTED_UPDATE = np.array(
    [
        [0, 0, 0, 0],  # <pad>
        [3, 8, -8, 8],  # a: units 3, 1 and 0 open (unit 0 less)
        [-3, -8, 8, -8],  # b: unit 2 open
        [-3, 8, -8, -8],  # c: unit 1 open
    ],
    "float32",
)
PLANTED_IDS = np.array(
    [
        [2, 1, 1, 3, 2, 3, 1, 2, 3],  # b a a c b c a b c
        [1, 1, 1, 2, 2, 2, 3, 3, 3],
    ]
)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """GateMonitor's logs (one epoch, no training) of a one-hot Embedding
    -> keras-gates GRU whose update-gate units open on planted tokens:
    unit 3 on "a" only, unit 1 on "a" and "c", unit 2 on "b", unit 0 on
    "a" only but less (sigmoid(3) = 0.95, sigmoid(-3) elsewhere); returns
    (model, client)."""
    logdir = tmp_path_factory.mktemp("planted_logs")
    size, units = len(PLANTED_VOCABULARY), 4
    inputs = keras.Input((TIME,), dtype="int32")
    embed = keras.layers.Embedding(size, size, mask_zero=True)
    gru = keras_gates.GRU(units, name="gru")
    model = keras.Model(inputs, keras.layers.Dense(1)(gru(embed(inputs))))
    embed.set_weights([np.eye(size, dtype="float32")])
    rng = np.random.default_rng(0)
    kernel, recurrent, bias = (
        rng.uniform(-0.5, 0.5, w.shape).astype("float32")
        for w in gru.get_weights()
    )
    kernel[:, :units], recurrent[:, :units], bias[:, :units] = (
        PLANTED_UPDATE,
        0.0,
        0.0,
    )
    gru.set_weights([kernel, recurrent, bias])
    monitor = keras_gates.GateMonitor(
        logdir, probe_data=PLANTED_IDS, vocabulary=PLANTED_VOCABULARY
    )
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_end(0)
    monitor.on_train_end()
    return model, client(logdir)


@pytest.mark.parametrize(
    "start, end, threshold, units",
    [
        (1, 2, 0.9, [3, 0]),  # "a a" between "b" and "c"; unit 3 first
        (1, 2, 0.99, [3]),  # unit 0's 0.95 is below
        (6, 6, 0.9, [3, 0]),  # one "a" between "c" and "b"
        (5, 6, 0.9, [1]),  # "c a" between "b" and "b"
        (4, 4, 0.9, [2]),  # "b" between "c" and "c"
        (7, 8, 0.5, []),  # "b c" at the end: no unit open on both
    ],
)
def test_pattern_search_finds_the_planted_units(
    planted, start, end, threshold, units
):
    model, app = planted
    query = dict(run="train", layer="gru", gate="update", epoch=0, sequence=0)
    status, found = get_json(
        app, "pattern", **query, start=start, end=end, threshold=threshold
    )
    assert status == 200, found
    assert [m["unit"] for m in found["units"]] == units
    # The same by NumPy on the model's weights: the units above the
    # threshold over the range and below it at both neighbours, with their
    # scores (mean inside minus the larger neighbour).
    one_hot = np.eye(len(PLANTED_VOCABULARY))[PLANTED_IDS]
    weights = model.get_layer("gru").get_weights()
    _, gates = numpy_rnn(GRU, weights, one_hot)
    update = gates["update"][0].T  # units x steps
    inside = update[:, start : end + 1]
    edge = update[:, [s for s in (start - 1, end + 1) if s < TIME]].max(1)
    expected = np.flatnonzero(
        (inside >= threshold).all(axis=1) & (edge < threshold)
    )
    assert sorted(units) == expected.tolist()
    scores = [m["score"] for m in found["units"]]
    want = inside[units].mean(axis=1) - edge[units]
    np.testing.assert_allclose(scores, want, atol=2 / 256)
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
    embedded = model.layers[1].get_weights()[0][ids]
    bi = model.get_layer("bi")
    app = client(tmp_path)
    for layer in ("bi/forward", "bi/backward"):
        half = bi.backward_layer if "backward" in layer else bi.forward_layer
        _, expected = numpy_rnn(
            GRU, half.get_weights(), embedded, go_backwards=half.go_backwards
        )
        gates = expected["reset"]
        if half.go_backwards:
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


def _saliency(model, tokens, layer=None, gate=None, unit=None):
    """||d score / d embedding_t|| of the model of `board.fit_logged` on
    unmasked token rows, by a gradient of `reference.tf_gates`: the score
    is the output, or a gate unit's mean over the steps."""
    import tensorflow as tf

    seed = tf.constant(model.layers[1].get_weights()[0][tokens])
    bi, gru = model.get_layer("bi"), model.get_layer("gru")
    with tf.GradientTape() as tape:
        tape.watch(seed)
        found = {
            "bi/forward": tf_gates(bi.forward_layer, seed),
            "bi/backward": tf_gates(bi.backward_layer, seed),
        }
        hidden = [found["bi/forward"]["hidden"]]
        hidden.append(tf.reverse(found["bi/backward"]["hidden"], [1]))
        found["gru"] = tf_gates(gru, tf.concat(hidden, axis=-1))
        if layer is None:
            kernel, bias = model.layers[-1].get_weights()
            score = found["gru"]["hidden"][:, -1] @ kernel + bias
        else:
            score = tf.reduce_mean(found[layer][gate][..., unit], axis=1)
        total = tf.reduce_sum(score)
    grads = tape.gradient(total, seed).numpy()
    return np.linalg.norm(grads, axis=-1)


def test_attribution_of_saturated_units_and_output(fitted):
    """GateMonitor(attribution="saliency") logged, at the last epoch (the
    final weights), the saliency of the most saturated unit of each
    sigmoid gate (by NumPy) and of the output on the stored sequences: for
    sequence 2 (no padding), that of a gradient taken here."""
    model, x, app, logdir = fitted
    gates, mask = reference(model, x)
    assert mask[2].all()
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
        (unit,) = _saturated(gates[layer][gate], mask)
        assert list(logged["units"]) == [str(unit)]
        expected = _saliency(model, x[2:3], layer, gate, int(unit))[0]
        row = np.array(logged["units"][str(unit)], "float64")
        np.testing.assert_allclose(row, expected, rtol=1e-3, atol=1e-7)
        assert logged["output"]["index"] is None  # Dense(1): one value
        np.testing.assert_allclose(
            logged["output"]["values"],
            _saliency(model, x[2:3])[0],
            rtol=1e-3,
            atol=1e-7,
        )
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


@pytest.mark.parametrize("share", [0.05, None])
def test_attribution_keeps_within_its_share(tmp_path, monkeypatch, share):
    """Each logged epoch earns `attribution_share` of the seconds since the
    previous one. With a clock that ticks a second per reading, one
    attribution takes a second and an epoch earns 0.05 s: it runs at the
    first epoch only, and the dashboard shows that one at later epochs,
    saying from when; with None, at every epoch."""
    import itertools

    from keras_gates.summary import attribution_log

    ticks = itertools.count()
    monkeypatch.setattr(attribution_log, "clock", lambda: float(next(ticks)))
    x = np.random.default_rng(0).standard_normal((8, TIME, 3))
    model = keras.Sequential(
        [
            keras.Input((TIME, 3)),
            keras_gates.LSTM(4, name="lstm"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(loss="mse")
    monitor = keras_gates.GateMonitor(
        tmp_path, probe_data=x, attribution="saliency", attribution_share=share
    )
    model.fit(x, x[:, 0, :1], epochs=3, verbose=0, callbacks=[monitor])
    logged = sorted(summaries(tmp_path / "train")["attribution/output"])
    assert logged == ([0] if share else [0, 1, 2])
    query = dict(run="train", layer="lstm", gate="forget", sequence=0)
    for epoch in (0, 2):
        status, data = get_json(
            client(tmp_path), "values", epoch=epoch, **query
        )
        assert status == 200, data
        assert data["attribution"]["epoch"] == (epoch if share is None else 0)
    for bad in (2, 0, True, "0.1"):
        with pytest.raises(ValueError, match="attribution_share"):
            keras_gates.GateMonitor(
                attribution="saliency", attribution_share=bad
            )


def test_units_route_reads_what_was_measured_of_each_unit(tmp_path):
    # Two epochs of a 3-unit layer with two gates, written by the plugin's
    # own writer; each unit's values sit in one histogram bin, so its mean
    # is that bin's centre and the change between epochs is known.
    from types import SimpleNamespace

    from board import EventSummaries

    from tensorboard_plugin_gates.writer import Board

    units, bins = 3, metadata.BINS
    settings = SimpleNamespace(
        dashboard_sequences=1,
        dashboard_bytes=2**20,
        vocabulary=None,
        left=0.1,
        right=0.9,
        window=lambda length, go_backwards=False: slice(0, length),
    )
    gates = ("forget", "candidate")
    facts = {
        "kind": "Test",
        "units": units,
        "input_dim": 2,
        "gates": list(gates),
        "sigmoid_gates": ["forget"],
        "go_backwards": False,
        "params": 0,
        "dimensions": [],
    }
    shut = np.array([0.5, 0.0, 0.25])
    opened = np.array([0.0, 1.0, 0.5])

    def record(epoch):
        histograms = np.zeros((2, units, bins))
        at_bin = [[2, 7, 19], [0, 10, 10]] if epoch == 0 else [[4, 7, 0]] * 2
        for gate in range(2):
            for unit, where in enumerate(at_bin[gate]):
                histograms[gate, unit, where] = 5
        stats = {
            "forget": SimpleNamespace(
                mean=0.5, left=0.2, right=0.4, unit_left=shut, unit_right=opened
            ),
            "candidate": SimpleNamespace(
                mean=0.0, left=None, right=None, unit_left=None, unit_right=None
            ),
        }
        return SimpleNamespace(
            name="lstm",
            go_backwards=False,
            gates={g: np.full((1, 4, units), 0.5, np.float32) for g in gates},
            valid=np.ones((1, 4), bool),
            low=np.array([0.0, -2.0]),
            high=np.array([1.0, 2.0]),
            stats=stats,
            sigmoid_gates=("forget",),
            unit_histograms=histograms,
            importance=np.array([[0.25, np.nan, -0.125], [1.0, 2.0, 3.0]]),
            importance_measure="loss",
            matches={"quote": np.array([[0.9, 0.2, np.nan], [0.5] * 3])},
        )

    board, written = Board(settings), EventSummaries(tmp_path / "train")
    board.write_layer(written, 0, "lstm", facts, aligned=True, steps=4)
    for epoch in (0, 1):
        board.write_epoch(written, record(epoch), layers=1)
        written.write(epoch)
    written.close()
    app = client(tmp_path)
    status, first = get_json(
        app, "units", run="train", layer="lstm", gate="forget", epoch=0
    )
    assert status == 200, first
    assert first["annotations"] == ["quote"]
    assert first["importance_measure"] == "loss"
    assert [u["importance"] for u in first["units"]] == [0.25, None, -0.125]
    assert [u["change"] for u in first["units"]] == [None] * 3
    assert [u["matches"] for u in first["units"]] == [
        [{"annotation": "quote", "score": 0.9, "direction": "high"}],
        [{"annotation": "quote", "score": 0.8, "direction": "low"}],
        [],
    ]
    np.testing.assert_allclose([u["shut"] for u in first["units"]], shut)
    np.testing.assert_allclose([u["open"] for u in first["units"]], opened)
    # Epoch 1 against epoch 0: forget units moved from bins 2, 7, 19 to
    # 4, 7, 0 of 20 on [0, 1]; candidate units from 0, 10, 10 to 4, 7, 0
    # of 20 on [-2, 2].
    _, second = get_json(
        app, "units", run="train", layer="lstm", gate="forget", epoch=1
    )
    changes = [u["change"] for u in second["units"]]
    np.testing.assert_allclose(changes, [2 / 20, 0.0, 19 / 20], atol=1e-6)
    _, candidate = get_json(
        app, "units", run="train", layer="lstm", gate="candidate", epoch=1
    )
    assert [u["shut"] for u in candidate["units"]] == [None] * 3
    np.testing.assert_allclose(
        [u["change"] for u in candidate["units"]],
        [4 * 4 / 20, 3 * 4 / 20, 10 * 4 / 20],
        atol=1e-6,
    )
    assert [u["importance"] for u in candidate["units"]] == [1.0, 2.0, 3.0]
    status, error = get_json(
        app, "units", run="train", layer="lstm", gate="nope", epoch=0
    )
    assert status == 404 and "forget" in error["error"]
