"""`ablate`: the loss of a model with each gate unit set to its mean.

The model of most tests reads one unit only (its readout's weights are zero
elsewhere and its recurrent kernel is zero, so units do not talk to each
other), and its labels are its own outputs: ablating that unit must cost
something, ablating any other unit exactly nothing. Losses are checked
against the NumPy recurrence with the ablation inside its loop.
"""

import keras
import numpy as np
import pytest
from conftest import CELLS, FEATURES, TIME, random_inputs, to_numpy
from reference import numpy_rnn
from test_interventions import numpy_edit

import keras_gates
from keras_gates.interventions import Intervened

UNITS, READ = 4, 2


def one_unit_model():
    """LSTM(4) -> Dense(1) reading unit 2 only; recurrent kernel zero."""
    inputs = keras.Input((TIME, FEATURES))
    lstm = keras.layers.LSTM(UNITS, name="lstm")
    dense = keras.layers.Dense(1, name="out")
    model = keras.Model(inputs, dense(lstm(inputs)))
    rng = np.random.default_rng(0)
    kernel, recurrent, bias = lstm.get_weights()
    lstm.set_weights(
        [
            rng.normal(0, 0.8, kernel.shape).astype("float32"),
            np.zeros_like(recurrent),
            rng.normal(0, 0.5, bias.shape).astype("float32"),
        ]
    )
    readout = np.zeros((UNITS, 1), "float32")
    readout[READ] = 1.5
    dense.set_weights([readout, np.zeros(1, "float32")])
    model.compile(loss="mse")
    return model


@pytest.fixture(scope="module")
def data():
    model = one_unit_model()
    x = random_inputs((12, TIME, FEATURES), seed=5)
    return model, x, to_numpy(model(x))


def numpy_loss(model, x, y, gate, units, value):
    """The model's mse with `units` of `gate` set to `value`, in NumPy."""
    lstm = model.get_layer("lstm")
    states, _ = numpy_rnn(
        CELLS[0],
        lstm.get_weights(),
        x,
        edit=numpy_edit(gate, "set", value, units),
    )
    kernel, bias = model.get_layer("out").get_weights()
    return float(np.mean((states[0] @ kernel + bias - y) ** 2))


def test_the_unit_read_comes_first(data):
    model, x, y = data
    rows = keras_gates.ablate(model, x, y, "lstm", "forget")
    assert [row["unit"] for row in rows][0] == READ
    assert rows[0]["delta"] > 1e-4
    assert all(row["delta"] == 0 for row in rows[1:]), rows
    # Its loss: the unit held at its mean over the data, NumPy's.
    _, gates = numpy_rnn(CELLS[0], model.get_layer("lstm").get_weights(), x)
    mean = gates["forget"][..., READ].mean()
    expected = numpy_loss(model, x, y, "forget", [READ], mean)
    assert rows[0]["loss"] == pytest.approx(expected, rel=1e-4)
    assert rows[0]["delta"] == pytest.approx(rows[0]["loss"], abs=1e-9)


def test_a_number_and_groups(data):
    model, x, y = data
    rows = keras_gates.ablate(
        model, x, y, "lstm", "output", units=[[0, 1], [READ, 3]], value=0
    )
    assert [row["unit"] for row in rows] == [[READ, 3], [0, 1]]
    expected = numpy_loss(model, x, y, "output", [READ, 3], 0.0)
    assert rows[0]["loss"] == pytest.approx(expected, rel=1e-4)
    assert rows[1]["delta"] == 0
    # Units given one by one; one number per unit.
    values = np.array([0.0, 0.0, 0.25, 0.0])
    (row,) = keras_gates.ablate(
        model, x, y, "lstm", "output", units=[READ], value=values
    )
    expected = numpy_loss(model, x, y, "output", [READ], 0.25)
    assert row["unit"] == READ
    assert row["loss"] == pytest.approx(expected, rel=1e-4)


def test_a_dataset_streams_the_mean(data):
    """A tf.data.Dataset of (x, y) batches: the mean is taken over all of
    its batches, the loss is evaluate's on it: as with arrays."""
    import tensorflow as tf

    model, x, y = data
    arrays = keras_gates.ablate(model, x, y, "lstm", "input", batch_size=5)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)
    streamed = keras_gates.ablate(model, dataset, None, "lstm", "input")
    assert [r["unit"] for r in streamed] == [r["unit"] for r in arrays]
    for got, expected in zip(streamed, arrays):
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)


def test_one_trace_serves_every_unit(data, monkeypatch):
    """The edited model is traced as often for 4 units as for 1."""
    model, x, y = data
    calls = []
    original = Intervened.call

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Intervened, "call", counted)
    keras_gates.ablate(model, x, y, "lstm", "forget", units=[0])
    once = len(calls)
    calls.clear()
    keras_gates.ablate(model, x, y, "lstm", "forget")
    assert once > 0 and len(calls) == once


def test_progress_bar(data, capsys):
    model, x, y = data
    keras_gates.ablate(model, x, y, "lstm", "forget", verbose=1)
    assert "4/4" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(layer="lstmx"), ValueError, r"the model has \['lstm'\]"),
        (dict(gate="update"), ValueError, "its gates are"),
        (dict(units=[4]), ValueError, r"in \[0, 4\)"),
        (dict(units=[[0], 1]), ValueError, "not a mix"),
        (dict(value="zero"), ValueError, "'mean', a number"),
        (dict(value=[0.0, 1.0]), ValueError, "4 numbers"),
        (dict(layer=0), TypeError, "by name"),
    ],
)
def test_errors(data, kwargs, error, message):
    model, x, y = data
    arguments = {"layer": "lstm", "gate": "forget", **kwargs}
    with pytest.raises(error, match=message):
        keras_gates.ablate(model, x, y, **arguments)


def test_needs_a_compiled_model():
    inputs = keras.Input((TIME, FEATURES))
    model = keras.Model(inputs, keras.layers.GRU(2, name="g")(inputs))
    x = random_inputs()
    with pytest.raises(ValueError, match="compile it first"):
        keras_gates.ablate(model, x, x[:, 0, :2], "g", "update")


def test_dataset_with_labels_given_twice(data):
    import tensorflow as tf

    model, x, y = data
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    with pytest.raises(ValueError, match="leave `y` and `batch_size` None"):
        keras_gates.ablate(model, dataset, y, "lstm", "forget")
