"""Drop-in use: what the stock Keras layers accept, the keras-gates layers
accept too and compute alike; what they reject, keras-gates rejects; where
stock gives a raw backend error, keras-gates names the layer and shapes."""

import json

import keras
import numpy as np
import pytest
from conftest import (
    BATCH,
    FEATURES,
    TIME,
    UNITS,
    CellSpec,
    assert_close,
    assert_not_close,
    make_mask,
    make_pair,
    random_inputs,
    random_states,
)

import keras_gates

SPECS = [CellSpec("LSTM"), CellSpec("GRU"), CellSpec("SimpleRNN")]
GATED = SPECS[:2]


def ids(specs):
    return [spec.id for spec in specs]


@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("spec", GATED, ids=ids(GATED))
def test_implementation_is_taken_and_old_configs_load(spec, implementation):
    layer = spec.gates(implementation=implementation)
    assert "implementation" not in layer.get_config()  # as stock
    old = {**spec.stock().get_config(), "implementation": implementation}
    assert spec.gates_class.from_config(old).units == UNITS


@pytest.mark.parametrize("argument", ["use_cudnn", "implementation"])
def test_simple_rnn_rejects_what_stock_rejects(argument):
    value = {"use_cudnn": True, "implementation": 1}[argument]
    with pytest.raises(ValueError, match=f"Unrecognized.*'{argument}'"):
        keras.layers.SimpleRNN(1, **{argument: value})
    with pytest.raises(ValueError, match=f"Unrecognized.*'{argument}'"):
        keras_gates.SimpleRNN(1, **{argument: value})


@pytest.mark.parametrize(
    "cls",
    [keras_gates.LSTM, keras_gates.GRU, keras_gates.SimpleRNN]
    + [keras_gates.LSTMCell, keras_gates.GRUCell, keras_gates.SimpleRNNCell],
)
def test_numpy_integer_units(cls):
    layer = cls(np.int64(3))
    assert layer.units == 3 and type(layer.units) is int
    json.dumps(layer.get_config())  # serializable


@pytest.mark.parametrize("dtype", ["int32", "bool", "uint8"])
@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_integer_and_bool_inputs_are_cast_as_stock(spec, dtype):
    stock, gated = make_pair(spec, return_sequences=True)
    x = (np.arange(BATCH * TIME * FEATURES) % 3).reshape(BATCH, TIME, FEATURES)
    x = x.astype(dtype)
    assert_close(gated(x), stock(x))


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_mask_with_a_last_axis_of_one(spec):
    stock, gated = make_pair(spec, return_sequences=True)
    x, mask = random_inputs(), make_mask("right")
    assert_close(gated(x, mask=mask[..., None]), stock(x, mask=mask))
    gated.return_gates = True
    out, gates = gated(x, mask=mask[..., None])
    assert_close(out, stock(x, mask=mask))
    assert (keras.ops.convert_to_numpy(gates["hidden"])[~mask] == 0).all()


@pytest.mark.parametrize("shape", ["batch of one", "one vector"])
@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_initial_state_is_broadcast_with_gates_on(spec, shape):
    stock, gated = make_pair(spec, return_sequences=True)
    one = [s[:1] for s in random_states(spec)]
    states = one if shape == "batch of one" else [s[0] for s in one]
    x = random_inputs()
    # Stock broadcasts a batch of one on TensorFlow only, and never a
    # vector: compare with stock fed the states repeated over the batch.
    expected = stock(x, initial_state=[s.repeat(BATCH, 0) for s in one])
    assert_close(gated(x, initial_state=states), expected)
    gated.return_gates = True
    out, gates = gated(x, initial_state=states)
    assert_close(out, expected)
    assert tuple(gates["hidden"].shape) == (BATCH, TIME, UNITS)


@pytest.mark.parametrize("rate", ["dropout", "recurrent_dropout"])
def test_simple_rnn_dropout_of_one_as_stock(rate):
    spec = SPECS[2]
    stock, gated = make_pair(spec, return_sequences=True, **{rate: 1.0})
    x = random_inputs()
    dropped = stock(x, training=True)
    assert_not_close(dropped, stock(x, training=False))
    assert_close(gated(x, training=True), dropped)


@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_no_time_steps(spec):
    layer = spec.gates(name="under_test")
    with pytest.raises(
        ValueError,
        match=r"'under_test' needs at least one time step.*\(3, 0, 4\)",
    ):
        layer(np.zeros((3, 0, 4), "float32"))


@pytest.mark.parametrize(
    "mask_shape",
    [(BATCH, TIME + 1), (BATCH,), (BATCH, TIME, 2), (BATCH + 1, TIME)],
)
@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_mask_of_the_wrong_shape(spec, mask_shape):
    layer = spec.gates(name="under_test")
    with pytest.raises(
        ValueError,
        match=rf"'under_test' expects a mask of shape \(batch, time\) = "
        rf"\({BATCH}, {TIME}\).*got \({', '.join(map(str, mask_shape))},?\)",
    ):
        layer(random_inputs(), mask=np.ones(mask_shape, bool))


@pytest.mark.parametrize("eager", [False, True], ids=["symbolic", "eager"])
@pytest.mark.parametrize("spec", SPECS, ids=ids(SPECS))
def test_bidirectional_with_gates_says_what_to_do(spec, eager):
    layer = spec.gates(return_gates=True, name="under_test")
    inputs = random_inputs() if eager else keras.Input((TIME, FEATURES))
    with pytest.raises(
        ValueError,
        match=r"'forward_under_test' with return_gates=True cannot be wrapped "
        r"in Bidirectional.*keras_gates.gates\(model, x\).*go_backwards=True",
    ):
        keras.layers.Bidirectional(layer)(inputs)
    # Without gates it works, and gates() reads both halves.
    inputs = keras.Input((TIME, FEATURES))
    wrapped = keras.layers.Bidirectional(spec.gates(), name="bi")
    model = keras.Model(inputs, wrapped(inputs))
    found = keras_gates.gates(model, random_inputs())
    assert set(found) == {"bi/forward", "bi/backward"}
