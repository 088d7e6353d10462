"""`keras_gates.attribution`: which input steps move a gate unit or an output.

Hand-built models make one target depend on the input at one known step
only; every method must put its largest value there. Saliency and
gradient x input are also checked against gradients of `gate_model` taken
by TensorFlow directly.
"""

import keras
import numpy as np
import pytest
from conftest import (
    FEATURES,
    UNITS,
    assert_close,
    jax_only,
    randomize_weights,
    tf_only,
)

import keras_gates
from keras_gates.attribution import METHODS

TIME, STEP, UNIT = 8, 5, 1


def _peaked_inputs(batch=3):
    """Small random inputs, with the known step set to ones."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.1, 0.1, (batch, TIME, FEATURES)).astype("float32")
    x[:, STEP] = 1.0
    return x


def _isolate(cell, gate_index, unit):
    """Make one gate unit read only the current input: its recurrent
    weights are zero, its input weights one."""
    column = gate_index * cell.units + unit
    recurrent = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    recurrent[:, column] = 0.0
    cell.recurrent_kernel.assign(recurrent)
    kernel = keras.ops.convert_to_numpy(cell.kernel)
    kernel[:, column] = 1.0
    cell.kernel.assign(kernel)


CASES = [
    # (layer class, gate, its column block in the kernel, bidirectional)
    (keras.layers.LSTM, "forget", 1, False),
    (keras_gates.LSTM, "forget", 1, False),
    (keras_gates.GRU, "update", 0, False),
    (keras.layers.GRU, "reset", 1, True),
]


@tf_only
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("make, gate, block, both", CASES)
def test_gate_target_peaks_at_its_step(method, make, gate, block, both):
    layer = make(UNITS, return_sequences=True, name="rnn")
    inputs = keras.Input((TIME, FEATURES))
    wrapped = keras.layers.Bidirectional(layer, name="bi") if both else layer
    model = keras.Model(inputs, keras.layers.Dense(1)(wrapped(inputs)))
    half = model.get_layer("bi").backward_layer if both else layer
    randomize_weights(half)
    _isolate(half.cell, block, UNIT)
    name = "bi/backward" if both else "rnn"
    where = keras_gates.attribution(
        model,
        _peaked_inputs(),
        layer=name,
        gate=gate,
        unit=UNIT,
        step=STEP,
        method=method,
        seed=0,
    )
    assert where.shape == (3, TIME)
    assert np.all(np.argmax(where, axis=1) == STEP), where
    if method != "gradcam":  # Grad-CAM weighs every step's features
        others = np.delete(where, STEP, axis=1)
        assert np.all(others == 0)


@tf_only
@pytest.mark.parametrize("method", METHODS)
def test_output_target_peaks_at_the_last_step(method):
    """A SimpleRNN without recurrent weights: its last output reads the
    last input only."""
    rnn = keras_gates.SimpleRNN(UNITS, name="rnn")
    dense = keras.layers.Dense(2, kernel_initializer="ones")
    model = keras.Sequential([keras.Input((TIME, FEATURES)), rnn, dense])
    randomize_weights(rnn)
    rnn.cell.recurrent_kernel.assign(np.zeros((UNITS, UNITS), "float32"))
    rnn.cell.kernel.assign(np.ones((FEATURES, UNITS), "float32"))
    x = _peaked_inputs()
    x[:, STEP] = 0.1
    x[:, -1] = 1.0
    where = keras_gates.attribution(model, x, output=1, method=method)
    assert np.all(np.argmax(where, axis=1) == TIME - 1), where


@tf_only
def test_saliency_and_gradient_x_input_equal_direct_gradients():
    import tensorflow as tf

    layer = keras_gates.LSTM(UNITS, return_sequences=True, name="rnn")
    model = keras.Sequential([keras.Input((TIME, FEATURES)), layer])
    randomize_weights(layer)
    x = np.random.default_rng(1).normal(size=(2, TIME, FEATURES))
    x = x.astype("float32")
    picked = keras_gates.gate_model(model, "rnn", "input", units=[2])
    seed = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(seed)
        mean = tf.reduce_sum(tf.reduce_mean(picked(seed)[..., 0], axis=1))
    grads = tape.gradient(mean, seed).numpy()
    target = dict(layer="rnn", gate="input", unit=2)
    saliency = keras_gates.attribution(model, x, **target)
    assert_close(saliency, np.linalg.norm(grads, axis=-1), atol=1e-6)
    times = keras_gates.attribution(
        model, x, method="gradient_x_input", **target
    )
    assert_close(times, np.sum(grads * x, axis=-1), atol=1e-6)
    smooth = keras_gates.attribution(
        model, x, method="smoothgrad", seed=3, **target
    )
    again = keras_gates.attribution(
        model, x, method="smoothgrad", seed=3, **target
    )
    assert_close(smooth, again, atol=0)
    assert not np.allclose(smooth, saliency, atol=1e-6)


def _text_model():
    inputs = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(12, 4, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=True), name="bi"
    )(x)
    x = keras_gates.GRU(UNITS, name="gru", return_sequences=True)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    for layer in model._flatten_layers():
        if layer.weights and not layer._layers:
            randomize_weights(layer, scale=1.0)
    return model


@pytest.fixture(scope="module")
def text_models(tmp_path_factory):
    """`_text_model()` and the same loaded from a `.keras` file, shared by
    the tests (attribution keeps one compiled function per model and
    layer, so later tests reuse the traces)."""
    model = _text_model()
    path = tmp_path_factory.mktemp("text") / "text.keras"
    model.save(path)
    return model, keras.saving.load_model(path)


TOKENS = np.array([[3, 4, 5, 6, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]])


@tf_only
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "target",
    [
        dict(output=2),
        dict(layer="bi/backward", gate="forget", unit=0),
        dict(layer="bi/forward", gate="input", unit=1, step=3),
        dict(layer="gru", gate="update", unit=1),
    ],
    ids=["output", "backward", "forward-step", "gru"],
)
def test_embedding_model_masked_steps_get_zero(method, target, text_models):
    # The loaded model once per target: its traces are its own.
    sources = text_models if method == "saliency" else text_models[:1]
    for source in sources:
        where = keras_gates.attribution(
            source, TOKENS, method=method, seed=0, **target
        )
        assert where.shape == TOKENS.shape
        assert np.all(where[0, 5:] == 0)  # padding
        if method == "gradcam":  # may clip every step to zero
            continue
        step = target.get("step")
        if step is None:
            assert np.all(where[1] != 0)
            assert np.all(where[0, :5] != 0)
        else:
            # Later tokens cannot move the forward gate at `step`.
            assert np.all(where[:, : step + 1] != 0)
            assert np.all(where[:, step + 1 :] == 0)


@tf_only
@pytest.mark.parametrize(
    "target, match",
    [
        (dict(layer="nope", gate="forget", unit=0), r"\['bi/forward', 'bi/b"),
        (dict(layer="gru", gate="forget", unit=0), r"gates are \['update'"),
        (dict(layer="gru", gate="update", unit=UNITS), r"`unit` must be"),
        (dict(layer="gru", gate="update"), r"give the `unit`"),
        (dict(layer="gru", gate="update", unit=0, step=TIME), r"\[0, 8\)"),
        (dict(), r"3 outputs per sample; pass `output=`"),
        (dict(output=3), r"`output` must be an index in \[0, 3\)"),
        (dict(output=0, step=2), r"`step` needs a sequence output"),
        (dict(output=0, layer="gru", gate="update", unit=0), "not both"),
        (dict(gate="update", unit=0), r"need `layer`"),
        (dict(output=0, method="lime"), r"one of \('saliency'"),
        (dict(output=0, method="gradcam", feature_layer="x"), "no layer"),
    ],
)
def test_bad_targets(target, match):
    with pytest.raises(ValueError, match=match):
        keras_gates.attribution(_text_model(), TOKENS, **target)


@tf_only
def test_bad_inputs():
    with pytest.raises(ValueError, match=r"attribution: x has shape"):
        keras_gates.attribution(_text_model(), TOKENS[:, :3, None], output=0)


@jax_only
def test_needs_tensorflow():
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), keras_gates.LSTM(2, name="rnn")]
    )
    with pytest.raises(RuntimeError, match="TensorFlow only"):
        keras_gates.attribution(model, _peaked_inputs(), output=0)
