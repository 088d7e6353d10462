"""keras-gates layers give the same results as the stock Keras layers.

Every test builds a stock layer and a keras-gates layer with the same
(random, nonzero-bias) weights and compares outputs, states, gradients,
weights files and configs.
"""

import keras
import numpy as np
import pytest
from conftest import (
    BACKEND,
    BATCH,
    FEATURES,
    TIME,
    UNITS,
    as_list,
    assert_close,
    assert_not_close,
    build_pair,
    make_mask,
    make_pair,
    random_inputs,
    random_states,
    randomize_weights,
    to_numpy,
    zero_padded,
)

SHAPE = (BATCH, TIME, FEATURES)


def scaled_sine(x):
    """A plain Python callable used as a custom activation."""
    return 0.9 * keras.ops.sin(x)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unroll"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_state", [False, True], ids=["", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["", "seq"])
def test_outputs_match_stock(
    cell, return_sequences, return_state, go_backwards, unroll
):
    options = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        unroll=unroll,
    )
    stock, gated = make_pair(cell, **options)
    x = random_inputs(SHAPE)
    expected, actual = as_list(stock(x)), as_list(gated(x))
    assert len(actual) == 1 + return_state * cell.num_states
    assert_close(actual, expected)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unroll"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["", "seq"])
@pytest.mark.parametrize("padding", ["right", "left", "holes"])
def test_explicit_mask_matches_stock(
    cell, padding, return_sequences, go_backwards, unroll
):
    stock, gated = make_pair(
        cell,
        return_sequences=return_sequences,
        return_state=True,
        go_backwards=go_backwards,
        unroll=unroll,
    )
    x = random_inputs(SHAPE)
    mask = make_mask(padding)
    expected = stock(x, mask=mask)
    actual = gated(x, mask=mask)
    assert_close(actual, expected)
    # The mask matters: the same call without it gives something else.
    assert_not_close(as_list(gated(x))[0], as_list(actual)[0])


@pytest.mark.parametrize("padding", ["right", "left"])
def test_masking_layer_in_model_matches_stock(cell, padding):
    mask = make_mask(padding)
    x = zero_padded(random_inputs(SHAPE), mask)
    models = []
    for make in (cell.stock, cell.gates):
        inputs = keras.Input((TIME, FEATURES))
        masked = keras.layers.Masking(mask_value=0.0)(inputs)
        sequences = make(return_sequences=True)(masked)
        # A second recurrent layer consumes the propagated mask.
        last = make(units=2)(sequences)
        models.append(keras.Model(inputs, [sequences, last]))
    stock_model, gated_model = models
    randomize_weights(stock_model)
    gated_model.set_weights(stock_model.get_weights())
    assert_close(gated_model(x), stock_model(x))
    assert_close(
        gated_model.predict(x, verbose=0), stock_model.predict(x, verbose=0)
    )


@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_initial_state_matches_stock(cell, go_backwards):
    stock, gated = make_pair(
        cell,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    x = random_inputs(SHAPE)
    states = random_states(cell)
    expected = stock(x, initial_state=states)
    actual = gated(x, initial_state=states)
    assert_close(actual, expected)
    assert_not_close(gated(x)[0], actual[0])


def test_stateful_matches_stock(cell):
    stock, gated = make_pair(cell, stateful=True, return_sequences=True)
    first, second = random_inputs(SHAPE, seed=1), random_inputs(SHAPE, seed=2)
    out_first = gated(first)
    assert_close(out_first, stock(first))
    # The second call starts from the states the first one left.
    out_second = gated(second)
    assert_close(out_second, stock(second))
    assert_close(gated.states, stock.states)
    stock.reset_state()
    gated.reset_state()
    for state in gated.states:
        assert not np.any(to_numpy(state))
    # After a reset, the layer behaves as a fresh one.
    assert_close(gated(second), stock(second))
    assert_not_close(gated(second), out_second)
    _, fresh = make_pair(cell, return_sequences=True)
    gated.reset_state()
    assert_close(gated(first), fresh(first))


def test_use_bias_false_matches_stock(cell):
    stock, gated = make_pair(cell, use_bias=False, return_sequences=True)
    assert len(gated.get_weights()) == len(stock.get_weights()) == 2
    assert gated.cell.bias is None
    x = random_inputs(SHAPE)
    assert_close(gated(x), stock(x))
    mask = make_mask("right")
    assert_close(gated(x, mask=mask), stock(x, mask=mask))


@pytest.mark.parametrize(
    "activation", ["relu", scaled_sine], ids=["relu", "callable"]
)
def test_custom_activation_matches_stock(cell, activation):
    kwargs = dict(activation=activation, return_sequences=True)
    if cell.name != "SimpleRNN":
        kwargs["recurrent_activation"] = "hard_sigmoid"
    stock, gated = make_pair(cell, **kwargs)
    x = random_inputs(SHAPE)
    assert_close(gated(x), stock(x))
    _, default = make_pair(cell, return_sequences=True)
    assert_not_close(gated(x), default(x))


@pytest.mark.parametrize("masked", [False, True], ids=["", "masked"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_bidirectional_matches_stock(cell, merge_mode, masked):
    stock, gated = (
        keras.layers.Bidirectional(
            make(return_sequences=True), merge_mode=merge_mode
        )
        for make in (cell.stock, cell.gates)
    )
    build_pair(stock, gated, SHAPE)
    x = random_inputs(SHAPE)
    mask = make_mask("right") if masked else None
    expected, actual = stock(x, mask=mask), gated(x, mask=mask)
    width = 2 * UNITS if merge_mode == "concat" else UNITS
    assert tuple(actual.shape) == (BATCH, TIME, width)
    assert_close(actual, expected)


@pytest.mark.parametrize("masked", [False, True], ids=["", "masked"])
@pytest.mark.parametrize("return_state", [False, True], ids=["", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["", "seq"])
def test_return_gates_keeps_other_outputs(
    cell, return_sequences, return_state, masked
):
    options = dict(return_sequences=return_sequences, return_state=return_state)
    stock, plain = make_pair(cell, **options)
    with_gates = cell.gates(return_gates=True, **options)
    with_gates.build(SHAPE)
    with_gates.set_weights(stock.get_weights())
    x = random_inputs(SHAPE)
    mask = make_mask("holes") if masked else None
    outputs = with_gates(x, mask=mask)
    assert isinstance(outputs, tuple)
    *others, gates = outputs
    assert isinstance(gates, dict)
    assert list(gates) == list(cell.gate_names)
    assert_close(others, as_list(plain(x, mask=mask)))
    assert_close(others, as_list(stock(x, mask=mask)))


# ----------------------------------------------------------- gradients


def _weighted_loss(outputs):
    """A loss that weighs every output element differently."""
    total = 0.0
    for i, out in enumerate(as_list(outputs)):
        ramp = keras.ops.arange(1, out.shape[-1] + 1, dtype=out.dtype)
        total = total + keras.ops.sum(keras.ops.sin(out) * ramp) * (i + 1)
    return total


def _tf_gradients(layer, x, mask):
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = _weighted_loss(layer(x, mask=mask))
    return tape.gradient(loss, [x, *layer.trainable_variables])


def _jax_gradients(layer, x, mask):
    import jax

    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss_fn(trainable, x):
        outputs, _ = layer.stateless_call(
            trainable, non_trainable, x, mask=mask
        )
        return _weighted_loss(outputs)

    trainable = [v.value for v in layer.trainable_variables]
    grad_weights, grad_x = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))(
        trainable, x
    )
    return [grad_x, *grad_weights]


GRADIENT_CASES = [
    pytest.param(None, False, id="nomask"),
    pytest.param("right", False, id="right"),
    pytest.param("holes", True, id="holes-bwd"),
]


@pytest.mark.parametrize("padding, go_backwards", GRADIENT_CASES)
def test_gradients_match_stock(cell, padding, go_backwards):
    gradients = _tf_gradients if BACKEND == "tensorflow" else _jax_gradients
    options = dict(
        return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    stock, gated = make_pair(cell, **options)
    x = random_inputs(SHAPE)
    mask = None if padding is None else make_mask(padding)
    expected = gradients(stock, x, mask)
    actual = gradients(gated, x, mask)
    assert len(actual) == 4 and all(g is not None for g in actual)
    assert_close(actual, expected, atol=1e-5, rtol=1e-4)
    assert np.any(to_numpy(actual[0]))


# ------------------------------------------------- weights and configs


def _model(make):
    return keras.Sequential(
        [
            keras.Input((TIME, FEATURES)),
            make(return_sequences=True),
            make(units=2),
            keras.layers.Dense(1),
        ]
    )


@pytest.mark.parametrize("direction", ["stock_to_gates", "gates_to_stock"])
def test_weights_file_round_trip(cell, direction, tmp_path):
    stock, gated = _model(cell.stock), _model(cell.gates)
    source, target = (stock, gated)
    if direction == "gates_to_stock":
        source, target = gated, stock
    randomize_weights(source, seed=3)
    path = str(tmp_path / "model.weights.h5")
    source.save_weights(path)
    before = target.predict(random_inputs(SHAPE), verbose=0)
    target.load_weights(path)
    x = random_inputs(SHAPE)
    for w_target, w_source in zip(target.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(w_target, w_source)
    after = target.predict(x, verbose=0)
    assert_close(after, source.predict(x, verbose=0))
    assert_not_close(after, before)


def test_weight_names_shapes_and_order_match_stock(cell):
    stock, gated = make_pair(cell)
    assert [w.name for w in gated.weights] == [w.name for w in stock.weights]
    assert [tuple(w.shape) for w in gated.weights] == [
        tuple(w.shape) for w in stock.weights
    ]
    # Paths are "<layer name>/<cell name>/<weight name>"; layer names get
    # unique suffixes, the rest must be the same.
    assert [w.path.split("/", 1)[1] for w in gated.weights] == [
        w.path.split("/", 1)[1] for w in stock.weights
    ]
    assert [w.name for w in gated.trainable_weights] == [
        "kernel",
        "recurrent_kernel",
        "bias",
    ]
    assert len(gated.non_trainable_weights) == len(stock.non_trainable_weights)
    assert gated.cell.name == stock.cell.name


def test_get_config_matches_stock(cell):
    options = dict(
        return_sequences=True,
        dropout=0.25,
        activation="relu",
        kernel_regularizer="l2",
        seed=5,
    )
    stock, gated = make_pair(cell, **options)
    stock_config, config = stock.get_config(), gated.get_config()
    extra = {"return_gates", "gate_dtype"}
    extra |= {"seed"} if cell.name == "SimpleRNN" else set()
    assert set(config) == set(stock_config) | extra
    for key, value in stock_config.items():
        if key != "name":
            assert config[key] == value, key
    assert config["return_gates"] is False
    assert cell.gates(return_gates=True).get_config()["return_gates"] is True

    # Both configs build an equivalent keras-gates layer.
    for source in (config, stock_config):
        clone = cell.gates_class.from_config(source)
        assert isinstance(clone, cell.gates_class)
        clone.build(SHAPE)
        clone.set_weights(stock.get_weights())
        x = random_inputs(SHAPE)
        assert_close(clone(x), stock(x))
        clone_config = clone.get_config()
        for key, value in source.items():
            if key != "name":
                assert clone_config[key] == value, key


def test_cell_in_keras_rnn_matches_stock_cell(cell):
    cell_kwargs = dict(cell.kwargs)
    stock, gated = (
        keras.layers.RNN(cls(UNITS, **cell_kwargs), return_sequences=True)
        for cls in (cell.stock_cell_class, cell.gates_cell_class)
    )
    assert isinstance(gated.cell, cell.stock_cell_class)
    build_pair(stock, gated, SHAPE)
    x = random_inputs(SHAPE)
    assert_close(gated(x), stock(x))


def test_properties_match_stock(cell):
    stock, gated = make_pair(cell, dropout=0.25, use_bias=False)
    for name in ("units", "activation", "use_bias", "dropout"):
        assert getattr(gated, name) == getattr(stock, name), name
    assert gated.state_size == stock.state_size
    if BACKEND == "tensorflow":
        assert gated.supports_jit


@pytest.mark.slow
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_long_masked_sequences_match_stock(cell, go_backwards):
    # Realistic sizes: rounding differences must not build up over time.
    # Weights are scaled so that the recurrence is contracting (spectral
    # radius of the recurrent kernel about 0.85): with larger ones a
    # SimpleRNN is chaotic and float32 rounding differences (JAX projects
    # all inputs before the loop, Keras step by step) grow without bound.
    batch, time, features, units = 16, 200, 16, 32
    shape = (batch, time, features)
    stock, gated = make_pair(
        cell,
        input_shape=shape,
        weight_scale=0.15,
        units=units,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    x = random_inputs(shape)
    lengths = np.linspace(time // 4, time, batch).astype(int)
    mask = np.arange(time)[None, :] < lengths[:, None]
    assert_close(gated(x, mask=mask), stock(x, mask=mask), atol=2e-5)
    gradients = _tf_gradients if BACKEND == "tensorflow" else _jax_gradients
    expected = gradients(stock, x, mask)
    actual = gradients(gated, x, mask)
    for a, e in zip(actual, expected):
        # Relative to the largest gradient entry of each tensor.
        scale = float(np.max(np.abs(to_numpy(e))))
        assert_close(a, e, atol=1e-5 * scale, rtol=1e-4)
