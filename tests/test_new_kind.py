"""A kind of cell added in one module: the minimal gated unit (MGU, Zhou et
al. 2016), written here as a new file in `keras_gates/layers/` would be,
and read by everything that reads cells, with no other file changed: the
probe, `describe`, GateMonitor and the dashboard's format, interventions,
unit matching and the figures' `shown_by`.

    forget    = sigma(x_t W_f + h_{t-1} U_f + b_f)
    candidate = tanh(x_t W_h + (forget * h_{t-1}) U_h + b_h)
    hidden    = (1 - forget) * h_{t-1} + forget * candidate
"""

import json

import keras
import numpy as np
import pytest
from conftest import tf_only
from events import summaries
from keras import ops

import keras_gates
from keras_gates import figures
from keras_gates.layers.base import GatedRNN
from keras_gates.layers.cell import GateCell, keep
from keras_gates.layers.kind import CellKind, Gate

KIND = CellKind(
    name="MGU",
    stock_cell=None,  # no Keras layer computes it
    gates=(
        Gate("forget", "gate", (0.0, 1.0)),
        Gate("candidate", "layer", (-1.0, 1.0)),
        Gate("hidden", "state", (-1.0, 1.0)),
    ),
    states=("hidden",),
    layers=(
        ("forget gate", "recurrent_activation"),
        ("candidate", "activation"),
    ),
    operators=(
        "forget * h_{t-1} (inside the candidate layer)",
        "1 - forget",
        "h_t = (1 - forget) * h_{t-1} + forget * candidate",
    ),
)


class MGUCell(GateCell, keras.layers.GRUCell):
    """The GRU cell's arguments, two layers of weights instead of three."""

    kind = KIND

    def build(self, input_shape):
        two = 2 * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], two),
            name="kernel",
            initializer=self.kernel_initializer,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, two),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
        )
        self.bias = self.add_weight(shape=(two,), name="bias")
        self.built = True

    def recur(self, z, states, weights, recurrent_mask=None, edit=keep):
        h, kernel = states[0], weights["recurrent_kernel"]
        z_f, z_h = ops.split(z, 2, axis=-1)
        forget = edit(
            "forget",
            self.recurrent_activation(
                z_f + ops.matmul(h, kernel[:, : self.units])
            ),
        )
        candidate = edit(
            "candidate",
            self.activation(
                z_h + ops.matmul(forget * h, kernel[:, self.units :])
            ),
        )
        h = edit("hidden", (1.0 - forget) * h + forget * candidate)
        return [h], (forget, candidate, h)


class MGU(GatedRNN):
    cell_class = MGUCell
    cell_name = "mgu_cell"


def numpy_mgu(weights, x):
    """The MGU in float64 NumPy, from the equations; gates per step."""
    kernel, recurrent, bias = (np.asarray(w, "float64") for w in weights)
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    gates = {"forget": [], "candidate": [], "hidden": []}
    for t in range(x.shape[1]):
        z_f, z_h = np.split(x[:, t] @ kernel + bias, 2, axis=-1)
        forget = 1 / (1 + np.exp(-(z_f + h @ recurrent[:, :units])))
        candidate = np.tanh(z_h + (forget * h) @ recurrent[:, units:])
        h = (1 - forget) * h + forget * candidate
        for name, value in zip(gates, (forget, candidate, h)):
            gates[name].append(value)
    return {name: np.stack(v, axis=1) for name, v in gates.items()}


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    inputs = keras.Input((7, 3))
    h = MGU(4, return_sequences=True, name="mgu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(h[:, -1]))
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.7, weight.shape).astype("float32"))
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_the_new_kind_is_read_like_the_others(model):
    x = np.random.default_rng(1).normal(size=(5, 7, 3)).astype("float32")
    layer = model.get_layer("mgu")
    expected = numpy_mgu(layer.get_weights(), x)
    found = keras_gates.gates(model, x)["mgu"]
    assert list(found) == ["forget", "candidate", "hidden"]
    for name, values in expected.items():
        np.testing.assert_allclose(found[name], values, atol=1e-5)
    table = keras_gates.describe(model)
    assert [r.part for r in table.rows][:2] == ["forget gate", "candidate"]
    assert table.total_params() == layer.count_params() == 2 * (7 * 4 + 4)
    assert figures.shown_by(layer) == ()
    # An edit inside the recurrence: the forget gate held shut keeps h at 0.
    shut = keras_gates.intervene(model, {"mgu/forget": keras_gates.Set(0.0)})
    np.testing.assert_allclose(
        shut(x), model.layers[-1](ops.zeros((5, 4))), atol=1e-6
    )
    # Unit matching ranks its units too, the constant ones without NaN.
    marks = x[..., 0] > 0
    ranked = keras_gates.match_units(model, x, marks, top=None)
    assert {r["gate"] for r in ranked} == {"forget", "candidate", "hidden"}
    assert all(0.5 <= r["score"] <= 1 for r in ranked)


@tf_only
def test_gate_monitor_writes_the_new_kind(model, tmp_path):
    x = np.random.default_rng(2).normal(size=(8, 7, 3)).astype("float32")
    monitor = keras_gates.GateMonitor(str(tmp_path), probe_data=x)
    model.fit(x, x[:, -1, :1], epochs=1, verbose=0, callbacks=[monitor])
    written = summaries(tmp_path / "train")
    forget = numpy_mgu(model.get_layer("mgu").get_weights(), x)["forget"]
    np.testing.assert_allclose(
        written["mgu/forget/saturation_right"][0], (forget > 0.9).mean()
    )
    assert "mgu/candidate/saturation_right" not in written
    info = json.loads(written["mgu/_gates/layer"][0].item())
    assert info["kind"] == "MGU"
    assert info["gates"] == ["forget", "candidate", "hidden"]
    assert info["sigmoid_gates"] == ["forget"]
