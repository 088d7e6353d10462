"""`transparent(model)`: stock recurrent layers swapped, outputs unchanged."""

import keras
import numpy as np
import pytest
from conftest import CellSpec, assert_close
from keras import ops
from reference import numpy_rnn

import keras_gates
from keras_gates.layers.base import GatedRNN

# The stock model below hands a masked sequence to a nested Sequential,
# which Keras warns drops the mask; the GRU inside gets no mask either way.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Layer 'inner' .* was passed an input with a mask:UserWarning"
)


def stock_model():
    inputs = keras.Input((6, 3))
    h = keras.layers.Masking()(inputs)
    h = keras.layers.Bidirectional(
        keras.layers.LSTM(5, return_sequences=True), name="bi"
    )(h)
    inner = keras.Sequential(
        [
            keras.Input((6, 10)),
            keras.layers.GRU(4, return_sequences=True, name="g"),
        ],
        name="inner",
    )
    h = keras.layers.SimpleRNN(3, name="s")(inner(h))
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def data():
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32")
    x[0, 4:] = 0.0
    return x


def test_same_outputs_and_every_recurrent_layer_replaced():
    model, x = stock_model(), data()
    clear = keras_gates.transparent(model)
    assert_close(clear(x), model(x))
    assert_close(clear.predict(x, verbose=0), model.predict(x, verbose=0))
    bi = clear.get_layer("bi")
    for layer in (
        bi.forward_layer,
        bi.backward_layer,
        clear.get_layer("inner").get_layer("g"),
        clear.get_layer("s"),
    ):
        assert isinstance(layer, GatedRNN)
    assert bi.backward_layer.go_backwards
    assert len(clear.weights) == len(model.weights)


def test_gates_of_the_copy_match_numpy_and_the_original():
    model, x = stock_model(), data()
    clear = keras_gates.transparent(model)
    ours, theirs = keras_gates.gates(clear, x), keras_gates.gates(model, x)
    assert sorted(ours) == ["bi/backward", "bi/forward", "g", "s"]
    for name in ours:
        for gate in ours[name]:
            assert_close(ours[name][gate], theirs[name][gate])
    mask = np.any(x != 0.0, axis=-1)
    forward = model.get_layer("bi").forward_layer
    _, expected = numpy_rnn(CellSpec("LSTM"), forward.get_weights(), x, mask)
    for gate, values in expected.items():
        assert_close(ours["bi/forward"][gate], values, atol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="Functional or Sequential"):
        keras_gates.transparent(keras.layers.LSTM(3))


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((2, 6, 2), "float32"), r"has shape\(s\) \[\(2, 6, 2\)\]"),
        (
            np.zeros((2, 6), "float32"),
            r"has shape\(s\) \[\(2, 6\)\], but model '\w+' expects input "
            r"shape\(s\) \[\(None, 6, 3\)\]",
        ),
        (
            np.array([["a"] * 3] * 6),
            r"holds texts \(string\), but input '\w+' of model '\w+' takes "
            r"numbers \(float32\)",
        ),
        (None, "must be arrays of numbers or texts"),
    ],
    ids=["features", "rank", "strings", "none"],
)
def test_gates_bad_inputs_name_what_was_expected(x, message):
    model = stock_model()
    with pytest.raises(ValueError, match="^gates: x " + message):
        keras_gates.gates(model, x)


def test_gates_bad_model_or_layer_names():
    with pytest.raises(TypeError, match="gates: expected a built Keras model"):
        keras_gates.gates("model.keras", data())
    with pytest.raises(
        ValueError, match=r"gates: no recurrent layer named \['x'\]"
    ):
        keras_gates.gates(stock_model(), data(), layers=["x"])


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_plain_rnn_around_a_keras_cell_is_read_and_replaced(name):
    spec = CellSpec(name)
    model = keras.Sequential(
        [
            keras.Input((6, 3)),
            keras.layers.Masking(),
            keras.layers.Bidirectional(
                keras.layers.RNN(spec.stock_cell_class(4)), name="bi"
            ),
        ]
    )
    x = data()
    clear = keras_gates.transparent(model)
    for half in (
        clear.layers[-1].forward_layer,
        clear.layers[-1].backward_layer,
    ):
        assert isinstance(half, spec.gates_class)
    assert_close(clear(x), model(x))
    found = keras_gates.gates(model, x)
    assert sorted(found) == ["bi/backward", "bi/forward"]
    mask = np.any(x != 0.0, axis=-1)
    for half, backwards in (("forward", False), ("backward", True)):
        weights = getattr(model.layers[-1], f"{half}_layer").get_weights()
        _, expected = numpy_rnn(spec, weights, x, mask, backwards)
        for gate, values in expected.items():
            assert_close(found[f"bi/{half}"][gate], values, atol=1e-5)
    rows = keras_gates.describe(model).rows
    assert sum(r.params for r in rows) == model.layers[-1].count_params()


@keras.saving.register_keras_serializable("keras_gates_tests")
class CustomCell(keras.layers.LSTMCell):
    """A user's cell: may compute anything, so keras-gates must not guess."""


@pytest.mark.parametrize(
    "cell",
    [
        lambda: CustomCell(4),
        lambda: [keras.layers.LSTMCell(4), keras.layers.GRUCell(3)],
    ],
    ids=["custom-cell", "stacked-cells"],
)
def test_cells_it_cannot_read_are_left_alone_with_a_clear_error(cell):
    rnn = keras.layers.RNN(cell(), name="mine")
    model = keras.Sequential([keras.Input((6, 3)), rnn])
    x = data()
    clear = keras_gates.transparent(model)
    assert type(clear.layers[0]) is keras.layers.RNN
    assert_close(clear(x), model(x))
    for read in (
        lambda: keras_gates.gates(model, x),
        lambda: keras_gates.describe(model),
    ):
        with pytest.raises(ValueError, match="StackedRNNCells are not read"):
            read()


def test_gates_of_a_stateful_model_start_from_its_state_and_keep_it():
    model = keras.Sequential(
        [
            keras.Input((6, 3), batch_size=4),
            keras.layers.GRU(5, stateful=True, name="g"),
        ]
    )
    x = data()
    model(x)
    layer = model.get_layer("g")
    state = ops.convert_to_numpy(layer.states[0])
    assert np.abs(state).max() > 0.0
    found = keras_gates.gates(model, x)["g"]
    assert_close(ops.convert_to_numpy(layer.states[0]), state, atol=0.0)
    _, expected = numpy_rnn(
        CellSpec("GRU"), layer.get_weights(), x, states=[state]
    )
    for gate, values in expected.items():
        assert_close(found[gate], values, atol=1e-5)


def test_copy_of_a_stateful_model_carries_on_from_its_states():
    model = keras.Sequential(
        [
            keras.Input((6, 3), batch_size=4),
            keras.layers.Bidirectional(
                keras.layers.LSTM(5, stateful=True, return_sequences=True)
            ),
            keras.layers.GRU(2, stateful=True),
        ]
    )
    x = data()
    model(x)
    clear = keras_gates.transparent(model)
    assert_close(clear(x), model(x))
    assert_close(clear(x), model(x))
