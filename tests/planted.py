"""A model whose units are known: weights set by hand so that input-gate
unit 0 of an LSTM opens exactly on the token "a" and unit 1 shuts exactly
on it, while the other units' input gates see "a" as an ordinary token."""

import keras
import numpy as np

import keras_gates

VOCABULARY = ["<pad>", "a", "b", "c", " ", "\n", "<img src=x onerror=alert(1)>"]
A = 1
UNITS = 5


def plant(lstm, size, seed=0):
    """Set a built LSTM's weights on one-hot inputs of `size` tokens: input
    unit 0 at sigmoid(+-8) (open on "a" only), unit 1 the mirror image;
    the other units' input weight for "a" is the median of their weights
    for the other tokens, so that "a" is nothing special to them."""
    rng = np.random.default_rng(seed)
    units = lstm.cell.units
    kernel = rng.uniform(-0.5, 0.5, (size, 4 * units))
    recurrent = rng.uniform(-0.3, 0.3, (units, 4 * units))
    others = [t for t in range(size) if t != A]
    kernel[A, 2:units] = np.median(kernel[others, 2:units], axis=0)
    kernel[:, 0], kernel[A, 0] = -8.0, 8.0
    kernel[:, 1], kernel[A, 1] = 8.0, -8.0
    recurrent[:, :2] = 0.0
    lstm.set_weights([kernel, recurrent, np.zeros(4 * units)])


def planted_model(steps, stock=True, backward=False, units=UNITS):
    """Embedding (one-hot, 0 masked) -> LSTM named "lstm" (stock or
    keras-gates; inside a Bidirectional "bi" whose backward half is the
    planted one with `backward`) -> Dense."""
    size = len(VOCABULARY)
    inputs = keras.Input((steps,), dtype="int32")
    embed = keras.layers.Embedding(size, size, mask_zero=True)
    layer_class = keras.layers.LSTM if stock else keras_gates.LSTM
    lstm = layer_class(units, return_sequences=True, name="lstm")
    hidden = embed(inputs)
    if backward:
        wrapper = keras.layers.Bidirectional(lstm, name="bi")
        hidden = wrapper(hidden)
        lstm = wrapper.backward_layer
    else:
        hidden = lstm(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden), name="planted")
    embed.set_weights([np.eye(size, dtype="float32")])
    plant(lstm, size)
    return model


def token_ids(sequences, steps, seed=1, padded=True):
    """Random tokens (no XSS token), about one in six an "a"; with
    `padded`, every third sequence ends in 3 padding steps."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, len(VOCABULARY) - 1, (sequences, steps))
    if padded:
        ids[::3, -3:] = 0
    return ids.astype("int32")
