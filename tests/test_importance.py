"""`GateMonitor(importance=...)`: what each gate unit is worth, per epoch,
read back through TensorBoard's own app and the Gates dashboard's `units`
route.

The expected importance of a unit is computed apart from the monitor's
machinery: the unit's mean comes from `keras_gates.gates` (NumPy over the
valid steps), the ablated model is `keras_gates.intervene` with a `Set`,
and the loss (mse) or mean absolute output change is taken in NumPy.
"""

import keras
import numpy as np
import pytest
from board import client, get_json
from conftest import tf_only, to_numpy

import keras_gates
from keras_gates.callbacks.importance import measured_first

pytestmark = tf_only  # GateMonitor writes with TensorFlow

TIME, FEATURES = 6, 3


def _model():
    inputs = keras.Input((TIME, FEATURES))
    h = keras.layers.LSTM(3, return_sequences=True, name="lstm")(inputs)
    h = keras_gates.GRU(2, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(optimizer="adam", loss="mse")
    return model


def _data(count=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, TIME, FEATURES)).astype("float32")
    return x, rng.standard_normal((count, 1)).astype("float32")


def expected(model, x, y, layer, gate):
    """Per unit of `gate`: mse of the model with the unit held at its
    mean, minus the model's (or, with `y` None, the mean absolute change of
    the outputs)."""
    values = keras_gates.gates(model, x)[layer][gate]
    plain = to_numpy(model(x))
    found = []
    for unit in range(values.shape[-1]):
        held = keras_gates.Set(float(values[..., unit].mean()), units=[unit])
        edited = to_numpy(
            keras_gates.intervene(model, {f"{layer}/{gate}": held})(x)
        )
        if y is None:
            found.append(np.abs(edited - plain).mean())
        else:
            found.append(((edited - y) ** 2).mean() - ((plain - y) ** 2).mean())
    return np.array(found)


def _importance(app, run, layer, gate, epoch):
    status, body = get_json(
        app, "units", run=run, layer=layer, gate=gate, epoch=epoch
    )
    assert status == 200, body
    values = [u["importance"] for u in body["units"]]
    return body["importance_measure"], values


def test_loss_importance_of_every_unit(tmp_path):
    """probe_data=(x, y): every unit of every gate, the change of the loss;
    at every logged epoch."""
    model = _model()
    x, y = _data()
    probe = (x[:8], y[:8])
    monitor = keras_gates.GateMonitor(
        tmp_path, probe_data=probe, importance=True, figures=False
    )
    model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    app = client(tmp_path)
    for layer, gate in [("lstm", "forget"), ("lstm", "cell"), ("gru", "reset")]:
        measure, got = _importance(app, "train", layer, gate, 1)
        assert measure == "loss"
        want = expected(model, *probe, layer, gate)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)
        assert np.abs(want).max() > 1e-5  # the ablations do change the loss
    _, first = _importance(app, "train", "lstm", "forget", 0)
    assert all(value is not None for value in first)
    # The `unit` route: one unit's importance at every logged epoch.
    _, last = _importance(app, "train", "lstm", "forget", 1)
    status, unit = get_json(
        app, "unit", run="train", layer="lstm", gate="forget", unit=2
    )
    assert status == 200 and unit["importance_measure"] == "loss"
    assert [e["importance"] for e in unit["epochs"]] == [first[2], last[2]]


def test_output_importance_and_the_budget(tmp_path):
    """No labels: the mean absolute change of the outputs. A budget of 10
    units: the sigmoid gates first, the LSTM's (input, forget, output:
    9 units) then the GRU's first update unit; every other unit null."""
    model = _model()
    x, y = _data()
    monitor = keras_gates.GateMonitor(
        tmp_path, probe_data=x[:8], importance=10, figures=False
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    app = client(tmp_path)
    measure, got = _importance(app, "train", "lstm", "input", 0)
    assert measure == "output"
    want = expected(model, x[:8], None, "lstm", "input")
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7)
    assert min(want) > 0
    measured = {
        (layer, gate): [
            v is not None for v in _importance(app, "train", layer, gate, 0)[1]
        ]
        for layer, gate in [
            ("lstm", "forget"),
            ("lstm", "output"),
            ("lstm", "candidate"),
            ("lstm", "hidden"),
            ("gru", "update"),
            ("gru", "reset"),
        ]
    }
    assert measured == {
        ("lstm", "forget"): [True] * 3,
        ("lstm", "output"): [True] * 3,
        ("lstm", "candidate"): [False] * 3,
        ("lstm", "hidden"): [False] * 3,
        ("gru", "update"): [True, False],
        ("gru", "reset"): [False, False],
    }


def test_validation_data_has_labels(tmp_path):
    """Validation data as the probe: the loss, on its first sequences."""
    model = _model()
    x, y = _data()
    x_val, y_val = _data(8, seed=1)
    monitor = keras_gates.GateMonitor(tmp_path, importance=3, figures=False)
    model.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        validation_data=(x_val, y_val),
        callbacks=[monitor],
    )
    measure, got = _importance(
        client(tmp_path), "validation", "lstm", "input", 0
    )
    assert measure == "loss"
    want = expected(model, x_val, y_val, "lstm", "input")
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)


def test_the_order_units_are_measured_in():
    model = _model()
    layers = [
        ("lstm", model.get_layer("lstm")),
        ("gru", model.get_layer("gru")),
    ]
    order = measured_first(layers, 100)
    gates = list(dict.fromkeys((name, gate) for name, gate, _ in order))
    assert gates == [
        ("lstm", "input"),
        ("lstm", "forget"),
        ("lstm", "output"),
        ("gru", "update"),
        ("gru", "reset"),
        ("lstm", "candidate"),
        ("lstm", "cell"),
        ("lstm", "hidden"),
        ("gru", "candidate"),
        ("gru", "hidden"),
    ]
    assert len(order) == 6 * 3 + 4 * 2
    assert measured_first(layers, 4) == order[:4]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "all"])
def test_bad_budget(tmp_path, bad):
    with pytest.raises(ValueError, match="`importance` must be True, False"):
        keras_gates.GateMonitor(tmp_path, importance=bad)
