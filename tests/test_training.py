"""Training with keras-gates layers: XLA fit, dropout, saving."""

import keras
import numpy as np
import pytest
from conftest import (
    BACKEND,
    BATCH,
    FEATURES,
    TIME,
    UNITS,
    assert_close,
    assert_not_close,
    make_pair,
    random_inputs,
    to_numpy,
)

SHAPE = (BATCH, TIME, FEATURES)


def _toy_data(n=64, seed=0):
    """A learnable task: a scaled running sum of the first feature."""
    x = random_inputs((n, TIME, FEATURES), seed=seed)
    y = x[:, :, :1].sum(axis=1) / np.sqrt(TIME)
    return x, y.astype("float32")


def _toy_model(spec, **kwargs):
    return keras.Sequential(
        [
            keras.Input((TIME, FEATURES)),
            spec.gates(units=4, **kwargs),
            keras.layers.Dense(1),
        ]
    )


def test_jit_fit_reduces_loss_and_keeps_xla(cell):
    keras.utils.set_random_seed(0)
    model = _toy_model(cell)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=True
    )
    x, y = _toy_data()
    before = model.evaluate(x, y, verbose=0, batch_size=16)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = model.evaluate(x, y, verbose=0, batch_size=16)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    assert after < 0.8 * before
    # Stock layers may set `supports_jit = False` (cuDNN), which silently
    # turns XLA off; keras-gates layers never do.
    assert model.jit_compile is True
    assert all(layer.supports_jit for layer in model.layers)


def test_jit_fit_with_a_loss_on_the_gates(cell):
    keras.utils.set_random_seed(0)
    name = cell.gate_names[0]
    inputs = keras.Input((TIME, FEATURES))
    output, gates = cell.gates(units=4, return_gates=True)(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(1)(output), gates[name]])
    # Only the gate loss counts: the recurrent weights can only move if the
    # gates carry a gradient.
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=["mse", "mse"],
        loss_weights=[0.0, 1.0],
        jit_compile=True,
    )
    x, y = _toy_data()
    target = np.full((len(x), TIME, 4), 0.25, "float32")
    weights_before = model.layers[1].get_weights()
    gate_before = to_numpy(model(x)[1])
    history = model.fit(x, (y, target), epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    gate_after = to_numpy(model(x)[1])
    for before, after in zip(weights_before, model.layers[1].get_weights()):
        assert_not_close(before, after, atol=1e-3)
    error_before = np.mean((gate_before - 0.25) ** 2)
    error_after = np.mean((gate_after - 0.25) ** 2)
    assert error_after < 0.5 * error_before
    assert model.jit_compile is True


DROPOUTS = [
    pytest.param(dict(dropout=0.5), id="dropout"),
    pytest.param(dict(recurrent_dropout=0.5), id="recurrent"),
    pytest.param(dict(dropout=0.3, recurrent_dropout=0.3), id="both"),
]


@pytest.mark.parametrize("rates", DROPOUTS)
def test_dropout_in_training_mode(cell, rates):
    options = dict(return_sequences=True, return_state=True, **rates)
    stock, gated = make_pair(cell, **options)
    x = random_inputs(SHAPE)
    first, second = gated(x, training=True), gated(x, training=True)
    # A new mask per call.
    assert_not_close(first[0], second[0])
    # Without training, no dropout: the stock layer's outputs.
    inference = gated(x, training=False)
    assert_close(inference, stock(x, training=False))
    assert_close(inference, gated(x))
    assert_not_close(first[0], inference[0])

    # In one call, outputs and gates see the same masks.
    with_gates = cell.gates(return_gates=True, **options)
    with_gates.build(SHAPE)
    with_gates.set_weights(stock.get_weights())
    output, *states, gates = with_gates(x, training=True)
    assert_close(output, gates["hidden"])
    assert_close(states[0], gates["hidden"][:, -1])


@pytest.mark.parametrize("rates", DROPOUTS)
def test_dropout_masks_match_stock_for_the_same_seed(cell, rates):
    # Bit-equal dropout masks with stock Keras are NOT possible in general:
    # the masks come from each layer's own seed generator, and stock Keras
    # also draws (and throws away) masks on inference calls
    # (`RNN._maybe_config_dropout_masks` runs whatever `training` is) while
    # keras-gates only draws them in training. After any `training=False`
    # call, e.g. a `predict` or a validation pass, the two generators are
    # in different states and the masks differ. For fresh layers with the
    # same seed, both draw the input mask, then the recurrent mask(s), from
    # the same generator state, so the first training call is comparable;
    # this checks that the masks are applied to the same places (one mask
    # per gate block with recurrent dropout, as in Keras).
    options = dict(return_sequences=True, seed=1234, **rates)
    stock, gated = make_pair(cell, **options)
    x = random_inputs(SHAPE)
    expected = stock(x, training=True)
    actual = gated(x, training=True)
    assert_close(actual, expected)
    assert_not_close(actual, gated(x, training=False))


def _identity_like(spec, units):
    """Weights that make the candidate (SimpleRNN: hidden) equal x W = x.

    The kernel's candidate block is the identity, everything else is zero
    (recurrent kernel and biases included), and activations are linear, so
    at every step that gate is exactly the dropped-out input.
    """
    layer = spec.gates(
        units=units, dropout=0.5, activation="linear", return_gates=True
    )
    layer.build((None, TIME, units))
    weights = [np.zeros(w.shape, "float32") for w in layer.get_weights()]
    blocks = weights[0].shape[1] // units
    candidate = {"LSTM": 2, "GRU": 2, "SimpleRNN": 0}[spec.name]
    assert blocks == {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[spec.name]
    weights[0][:, candidate * units : (candidate + 1) * units] = np.eye(units)
    layer.set_weights(weights)
    return layer, "hidden" if spec.name == "SimpleRNN" else "candidate"


def test_dropout_drops_half_of_the_input_features(cell):
    units, batch = 16, 64  # 1024 features per call
    layer, gate = _identity_like(cell, units)
    x = np.ones((batch, TIME, units), "float32")

    kept = []
    for _ in range(2):
        values = to_numpy(layer(x, training=True)[1][gate])
        # Kept features are scaled by 1 / (1 - rate) = 2, dropped ones are 0.
        assert np.all(np.isclose(values, 0.0) | np.isclose(values, 2.0))
        # One mask per call, shared by all steps.
        for t in range(1, TIME):
            np.testing.assert_array_equal(values[:, t], values[:, 0])
        dropped = np.mean(np.isclose(values[:, 0], 0.0))
        # Binomial(1024, 0.5): the standard deviation of the fraction is
        # 0.016; 0.1 is more than 6 of them.
        assert 0.4 < dropped < 0.6
        kept.append(values[:, 0] > 1.0)
    assert np.any(kept[0] != kept[1])
    # No dropout outside training: the gate is the input.
    inference = to_numpy(layer(x, training=False)[1][gate])
    np.testing.assert_allclose(inference, x, atol=1e-6)


def test_keras_round_trip_of_a_compiled_model(cell, tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((TIME, FEATURES))
    hidden = cell.gates(units=UNITS, return_sequences=True, dropout=0.1)(inputs)
    hidden = cell.gates(units=2, go_backwards=True)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    x, y = _toy_data(n=16)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "compiled.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)

    layers = [
        layer for layer in loaded.layers if isinstance(layer, cell.gates_class)
    ]
    assert len(layers) == 2
    assert layers[0].dropout == 0.1 and layers[1].go_backwards
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert_close(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    # The compiled state came along: same loss, optimizer can continue.
    assert loaded.optimizer is not None
    assert int(to_numpy(loaded.optimizer.iterations)) == int(
        to_numpy(model.optimizer.iterations)
    )
    assert np.isclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0)
    )
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)
    if BACKEND == "tensorflow":
        assert loaded.jit_compile is True
