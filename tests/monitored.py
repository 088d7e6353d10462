"""The small model the GateMonitor tests fit, its data, its forward pass
in float64 NumPy (from its weights, with `reference.numpy_rnn`), and
reading a run's summaries back."""

import os

import keras
import numpy as np
from conftest import CellSpec
from reference import numpy_rnn
from tensorboard.backend.event_processing import event_accumulator as ea

import keras_gates

LSTM, GRU = CellSpec("LSTM"), CellSpec("GRU")
TIME, FEATURES = 6, 3


def read_run(log_dir, run):
    """Every tensor summary of a run: {tag: [(step, np.ndarray)]}."""
    acc = ea.EventAccumulator(
        os.path.join(log_dir, run),
        size_guidance={ea.TENSORS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0},
    )
    acc.Reload()
    import tensorflow as tf

    return {
        tag: [
            (e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)
        ]
        for tag in acc.Tags()["tensors"]
    }


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, TIME, FEATURES)).astype("float32")
    x[: n // 2, TIME - 2 :] = 0.0  # right padding, masked below
    y = rng.standard_normal((n, 1)).astype("float32")
    return x, y


def mask_of(x):
    return np.any(x != 0.0, axis=-1)


def model_with_stock_and_gates_layers(jit_compile=False):
    """Masking -> stock LSTM(4) "lstm" -> keras-gates GRU(3) "gru" ->
    Dense(1) "out"."""
    inputs = keras.Input((TIME, FEATURES))
    h = keras.layers.Masking()(inputs)
    h = keras.layers.LSTM(4, return_sequences=True, name="lstm")(h)
    h = keras_gates.GRU(3, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(h))
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


def weights_of(model):
    """{layer name: weights} of the model above."""
    return {
        name: model.get_layer(name).get_weights()
        for name in ("lstm", "gru", "out")
    }


def numpy_lstm(weights, x, mask):
    """The LSTM's gates, and its outputs as the GRU reads them: hidden
    states, carried over masked steps."""
    _, gates = numpy_rnn(LSTM, weights["lstm"], x, mask)
    hidden = gates["hidden"]
    carried = np.zeros_like(hidden)
    for t in range(hidden.shape[1]):
        previous = carried[:, t - 1] if t else 0.0
        carried[:, t] = np.where(mask[:, t, None], hidden[:, t], previous)
    return gates, carried


def numpy_gru(weights, sequence, mask):
    """The GRU's gates on the LSTM's outputs, and the model's output."""
    (last,), gates = numpy_rnn(GRU, weights["gru"], sequence, mask)
    kernel, bias = weights["out"]
    return gates, last @ kernel + bias


def expected_gates(model, x):
    """NumPy gates of the two layers from the model's current weights."""
    mask, weights = mask_of(x), weights_of(model)
    lstm_gates, carried = numpy_lstm(weights, x, mask)
    gru_gates, _ = numpy_gru(weights, carried, mask)
    return {"lstm": lstm_gates, "gru": gru_gates}, mask
