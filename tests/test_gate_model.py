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
    CellSpec,
    assert_close,
    make_mask,
    random_inputs,
    randomize_weights,
    to_numpy,
    zero_padded,
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


def _two_layer_model():
    """Masking -> stock LSTM "first" -> keras-gates GRU "second" (read
    backwards, last step only) -> Dense, random weights."""
    inputs = keras.Input((TIME, FEATURES))
    first = keras.layers.LSTM(UNITS, name="first", return_sequences=True)
    second = keras_gates.GRU(UNITS, name="second", go_backwards=True)
    h = second(first(keras.layers.Masking()(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    randomize_weights(first, seed=1)
    randomize_weights(second, seed=2)
    return model, first, second


def _numpy_gates(first_weights, second_weights, x, mask):
    """Both layers' gates (processing order) by `reference.numpy_rnn`."""
    _, first = numpy_rnn(CellSpec("LSTM"), first_weights, x, mask)
    _, second = numpy_rnn(
        CellSpec("GRU"), second_weights, first["hidden"], mask, True
    )
    return {"first": first, "second": second}


def _gate_loss(gates, ops=keras.ops):
    """A sum over two gates of two layers, each unit and step weighed
    differently (`ops`: keras.ops, or NumPy for the reference)."""
    ramp = np.arange(1, TIME * UNITS + 1).reshape(TIME, UNITS) / TIME
    return ops.sum(gates["first"]["forget"] * ramp) - ops.sum(
        gates["second"]["update"] * ramp[::-1]
    )


def _weight_gradients(gates_of, x, variables):
    """d `_gate_loss` / d `variables` through `gates_of(x)`."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = _gate_loss(gates_of(x)[1])
        return [g.numpy() for g in tape.gradient(loss, variables)]
    import jax

    trainable = gates_of.trainable_variables
    fixed = [v.value for v in gates_of.non_trainable_variables]

    def loss_of(values):
        (_, gates), _ = gates_of.stateless_call(values, fixed, x)
        return _gate_loss(gates)

    grads = jax.jit(jax.grad(loss_of))([v.value for v in trainable])
    by_id = {id(v): np.asarray(g) for v, g in zip(trainable, grads)}
    return [by_id[id(v)] for v in variables]


def test_gates_of_called_directly():
    """`GatesOf` as a layer of its own (not through `transparent` or
    `gate_model`): the model's outputs, the gates of the NumPy recurrence
    for every listened layer, and gradients to the weights equal to
    central differences of that recurrence."""
    model, first, second = _two_layer_model()
    mask = make_mask("right")
    x = zero_padded(random_inputs(), mask)
    weights = [first.get_weights(), second.get_weights()]
    expected = _numpy_gates(*weights, x, mask)
    gates_of = keras_gates.GatesOf(model)
    assert [name for name, _ in gates_of.listened] == ["first", "second"]
    assert {id(w) for w in gates_of.weights} == {id(w) for w in model.weights}
    outputs, gates = gates_of(x)
    assert_close(outputs, model(x), atol=1e-6)
    assert list(gates) == ["first", "second"]
    for name in gates:
        assert_close(gates[name], expected[name], atol=1e-5, msg=name)
    only, picked = keras_gates.GatesOf(model, layers=["second"])(x)
    assert list(picked) == ["second"]
    assert_close(only, outputs, atol=0)
    assert_close(picked["second"], gates["second"], atol=0)

    variables = [*first.trainable_variables, *second.trainable_variables]
    grads = _weight_gradients(gates_of, x, variables)

    shapes = [w.shape for w in weights[0] + weights[1]]
    count = len(weights[0])

    def loss(flat):
        parts = np.split(flat, np.cumsum([np.prod(s) for s in shapes])[:-1])
        arrays = [p.reshape(s) for p, s in zip(parts, shapes)]
        gates = _numpy_gates(arrays[:count], arrays[count:], x, mask)
        return _gate_loss(gates, np)

    flat = np.concatenate([w.ravel() for w in weights[0] + weights[1]])
    flat = flat.astype("float64")
    h, central = 1e-5, np.zeros_like(flat)
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = h
        central[i] = (loss(flat + step) - loss(flat - step)) / (2 * h)
    got = np.concatenate([np.ravel(g) for g in grads])
    assert np.abs(central).max() > 0.1
    # A float32 sum of n = BATCH * TIME * UNITS = 45 terms errs by at most
    # n * 2**-24 * sum|terms|, with sum|terms| below 10 here (the largest
    # gradient is 4.5): 3e-5 (3e-7 measured). Float64 central differences
    # with h = 1e-5 are exact to ~1e-9.
    np.testing.assert_allclose(got, central, atol=3e-5, rtol=0)


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
