"""`gate_model` and `transparent(return_gates=True)`: gates as model outputs.

Values are checked against `keras_gates.gates` and the NumPy recurrence
of `tests/reference.py`; gradients against central finite differences of
that recurrence in float64.
"""

import keras
import numpy as np
import pytest
from conftest import (
    BACKEND,
    CELLS,
    FEATURES,
    TIME,
    UNITS,
    assert_close,
    make_mask,
    random_inputs,
    randomize_weights,
    to_numpy,
)
from reference import numpy_rnn

import keras_gates


def _model(layer, masked=False):
    inputs = keras.Input((TIME, FEATURES))
    x = keras.layers.Masking()(inputs) if masked else inputs
    return keras.Model(inputs, keras.layers.Dense(1)(layer(x)))


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
@pytest.mark.parametrize("kind", ["stock", "gates"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_values_equal_gates_and_numpy(spec, kind, go_backwards):
    make = spec.stock if kind == "stock" else spec.gates
    layer = make(name="rnn", go_backwards=go_backwards, return_sequences=True)
    model = _model(layer, masked=True)
    randomize_weights(layer)
    mask = make_mask("right")
    x = np.where(mask[..., None], random_inputs(), 0.0).astype("float32")
    _, expected = numpy_rnn(
        spec, layer.get_weights(), x, mask, go_backwards=go_backwards
    )
    probed = keras_gates.gates(model, x)["rnn"]
    for gate in spec.gate_names:
        values = to_numpy(keras_gates.gate_model(model, "rnn", gate)(x))
        assert values.shape == (3, TIME, UNITS)
        assert_close(values, probed[gate], atol=1e-6, msg=gate)
        assert_close(values, expected[gate], atol=1e-5, msg=gate)


def _input_gradient(model, x):
    """d sum(model(x)) / dx, by the backend's own autodiff."""
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: model(v).sum())(x))
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x))
    return tape.gradient(total, x).numpy()


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_gradient_equals_finite_differences(spec):
    """The gradient of one gate unit at one step with respect to every
    input equals central differences of the float64 NumPy recurrence.

    Tolerance: the layer runs in float32 (relative error ~1e-6 per op over
    a handful of steps); differences in float64 with h=1e-5 are exact to
    ~1e-9, so 2e-5 absolute on gradients of order 0.1 leaves room only for
    float32 rounding.
    """
    layer = spec.gates(name="rnn", return_sequences=True)
    model = _model(layer)
    randomize_weights(layer)
    gate, unit, step = spec.gate_names[0], 1, 3
    picked = keras_gates.gate_model(model, "rnn", gate, units=[unit])
    x = random_inputs((1, TIME, FEATURES))
    fake = keras.Model(picked.inputs, picked.outputs[0][:, step])
    got = _input_gradient(fake, x)

    weights = layer.get_weights()

    def value(v):
        return numpy_rnn(spec, weights, v)[1][gate][0, step, unit]

    expected = np.zeros(x.shape)
    h = 1e-5
    for index in np.ndindex(x.shape):
        up, down = x.astype("float64"), x.astype("float64")
        up[index] += h
        down[index] -= h
        expected[index] = (value(up) - value(down)) / (2 * h)
    assert np.abs(expected).max() > 1e-3  # the gate does depend on x
    assert_close(got, expected, atol=2e-5, rtol=0)
    # Steps after `step` cannot move the gate at `step`.
    assert np.all(got[:, step + 1 :] == 0)


def _nested_bidirectional():
    inner = keras.Sequential(
        [
            keras.Input((TIME, 2 * UNITS)),
            keras_gates.GRU(UNITS, name="inner", return_sequences=True),
        ],
        name="block",
    )
    inputs = keras.Input((TIME, FEATURES))
    both = keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=True), name="bi"
    )(inputs)
    outputs = keras.layers.Dense(1)(inner(both))
    model = keras.Model(inputs, outputs)
    for layer in model._flatten_layers():
        if layer.weights and not layer._layers:
            randomize_weights(layer)
    return model


def test_bidirectional_nested_and_loaded(tmp_path):
    model = _nested_bidirectional()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = random_inputs()
    for source in (model, loaded):
        probed = keras_gates.gates(source, x)
        for name, gate in [
            ("bi/forward", "forget"),
            ("bi/backward", "cell"),
            ("inner", "reset"),
        ]:
            values = keras_gates.gate_model(source, name, gate, units=[0, 2])
            assert_close(
                to_numpy(values(x)), probed[name][gate][..., [0, 2]], 1e-6
            )


def test_shares_the_model_variables():
    layer = keras_gates.LSTM(UNITS, name="rnn", return_sequences=True)
    model = _model(layer)
    forget = keras_gates.gate_model(model, "rnn", "forget")
    assert {id(w) for w in forget.weights} == {id(w) for w in model.weights}
    x = random_inputs()
    before = to_numpy(forget(x))
    layer.cell.bias.assign(layer.cell.bias + 1.0)
    after = to_numpy(forget(x))
    assert np.all(after > before)  # a larger forget bias opens the gate


def test_transparent_returns_every_gate():
    model = _nested_bidirectional()
    clear = keras_gates.transparent(model, return_gates=True)
    x = random_inputs()
    outputs, gates = clear(x)
    assert_close(to_numpy(outputs), to_numpy(model(x)), atol=1e-5)
    probed = keras_gates.gates(model, x)
    assert sorted(gates) == sorted(probed)
    for name, layer_gates in probed.items():
        for gate, values in layer_gates.items():
            assert_close(to_numpy(gates[name][gate]), values, atol=1e-5)


@pytest.mark.parametrize(
    "arguments, match",
    [
        (("nope", "forget"), r"no recurrent layer named \['nope'\].*'rnn'"),
        (("rnn", "update"), r"no gate 'update'.*'input', 'forget'"),
        (("rnn", "forget", [UNITS]), r"3 units: `units` must be"),
        (("rnn", "forget", []), r"`units` must be"),
    ],
)
def test_bad_targets(arguments, match):
    model = _model(keras_gates.LSTM(UNITS, name="rnn"))
    with pytest.raises(ValueError, match=match):
        keras_gates.gate_model(model, *arguments)


def test_bad_model_and_layer_types():
    with pytest.raises(ValueError, match="gate_model: expected a built"):
        keras_gates.gate_model(keras_gates.LSTM(2), "rnn", "forget")
    model = _model(keras_gates.LSTM(UNITS, name="rnn"))
    with pytest.raises(TypeError, match="`layer` must be a layer name"):
        keras_gates.gate_model(model, 0, "forget")
