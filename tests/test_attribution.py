"""`keras_gates.attribution`: which input steps move a gate unit or an output.

Hand-built models make one target depend on the input at one known step
only (each output column at its own step); every method must put its
largest value there. Saliency, gradient x input and Grad-CAM are checked
against tf.GradientTape gradients of the TensorFlow recurrence of
`reference.py` (no keras_gates code), for several targets asked for in turn
through the same model; SmoothGrad against Gaussian integrals.
"""

import keras
import numpy as np
import pytest
from conftest import (
    FEATURES,
    UNITS,
    assert_close,
    assert_not_close,
    jax_only,
    randomize_weights,
    tf_only,
)
from keras import ops
from reference import tf_gates

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


def _two_column_model():
    """SimpleRNN (no recurrent weights, no bias, unit u reads feature u)
    -> Flatten -> Dense(2): output 0 reads unit 0 at `STEP` only, output 1
    reads unit 1 at the last step only, so each output depends on the
    input at one step (and one feature) of its own."""
    rnn = keras_gates.SimpleRNN(UNITS, return_sequences=True, name="rnn")
    dense = keras.layers.Dense(2, name="dense")
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), rnn, keras.layers.Flatten(), dense]
    )
    rnn.set_weights(
        [
            np.eye(FEATURES, UNITS, dtype="float32"),
            np.zeros((UNITS, UNITS), "float32"),
            np.zeros(UNITS, "float32"),
        ]
    )
    kernel = np.zeros((TIME, UNITS, 2), "float32")
    kernel[STEP, 0, 0] = kernel[TIME - 1, 1, 1] = 1.0
    dense.set_weights([kernel.reshape(TIME * UNITS, 2), np.zeros(2)])
    return model


@pytest.fixture(scope="module")
def two_columns():
    return _two_column_model()


@tf_only
@pytest.mark.parametrize("method", METHODS)
def test_each_output_column_peaks_at_its_own_step(method, two_columns):
    x = _peaked_inputs()
    x[:, STEP] = 0.0
    x[:, STEP, 0] = 1.0  # what output 0 reads
    x[:, TIME - 1, 1] = 1.0  # what output 1 reads
    for output, peak in [(0, STEP), (1, TIME - 1), (0, STEP)]:
        where = keras_gates.attribution(
            two_columns, x, output=output, method=method, seed=0
        )
        assert np.all(np.argmax(where, axis=1) == peak), (output, where)
        if method != "gradcam":  # Grad-CAM weighs every step's features
            assert np.all(np.delete(where, peak, axis=1) == 0), output


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


# ------------------------------------------- against independent gradients


def _four_layer_model():
    """Dense "proj" per step -> Bidirectional(keras-gates LSTM) -> stock
    GRU -> Dense(2), random weights."""
    inputs = keras.Input((TIME, FEATURES))
    h = keras.layers.Dense(FEATURES, name="proj")(inputs)
    h = keras.layers.Bidirectional(
        keras_gates.LSTM(UNITS, return_sequences=True), name="bi"
    )(h)
    h = keras.layers.GRU(UNITS, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h))
    for seed, weights in enumerate(model.weights):
        rng = np.random.default_rng(seed)
        weights.assign(rng.normal(size=weights.shape).astype("float32"))
    return model


def _independent(model, x):
    """Every tensor of `_four_layer_model` on `x` (a tf tensor) computed
    with `reference.tf_gates` and the Dense weights: {"proj", "bi/forward",
    "bi/backward", "gru" (gates, processing order), "between" (the GRU's
    input), "out"}."""
    import tensorflow as tf

    def dense(name, v):
        kernel, bias = model.get_layer(name).get_weights()
        return v @ kernel + bias

    bi = model.get_layer("bi")
    found = {"proj": dense("proj", x)}
    found["bi/forward"] = tf_gates(bi.forward_layer, found["proj"])
    found["bi/backward"] = tf_gates(bi.backward_layer, found["proj"])
    found["between"] = tf.concat(
        [
            found["bi/forward"]["hidden"],
            tf.reverse(found["bi/backward"]["hidden"], [1]),
        ],
        axis=-1,
    )
    found["gru"] = tf_gates(model.get_layer("gru"), found["between"])
    found["out"] = dense("out", found["gru"]["hidden"][:, -1])
    return found


def _score(found, target):
    """The (batch,) score of `target` (attribution's keyword arguments):
    an output column, or a gate unit at a step (input order) or its mean
    over the steps."""
    if "output" in target:
        return found["out"][:, target["output"]]
    values = found[target["layer"]][target["gate"]][..., target["unit"]]
    if target["layer"] == "bi/backward":  # processing order -> input order
        values = values[:, ::-1]
    step = target.get("step")
    if step is None:
        return ops.mean(values, axis=1)
    return values[:, step]


def _tape(model, x, target, at="x"):
    """(gradient of the summed score with respect to `at` ("x" or a key of
    `_independent`), that tensor), through `_independent`."""
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        found = _independent(model, x)
        score = tf.reduce_sum(_score(found, target))
    source = x if at == "x" else found[at]
    return tape.gradient(score, source).numpy(), source.numpy()


@pytest.fixture(scope="module")
def four_layers():
    model = _four_layer_model()
    x = np.random.default_rng(5).normal(size=(2, TIME, FEATURES))
    return model, x.astype("float32")


# Output columns, gates, units and steps of two layers, asked for in turn:
# those of one layer share one compiled trace, so a target left over from
# the call before would show.
TARGETS = [
    dict(output=0),
    dict(layer="bi/backward", gate="forget", unit=0, step=1),
    dict(output=1),
    dict(layer="gru", gate="update", unit=1, step=4),
    dict(layer="bi/backward", gate="input", unit=2),
    dict(layer="gru", gate="reset", unit=0),
    dict(layer="bi/backward", gate="forget", unit=1, step=6),
    dict(output=0),
]


@tf_only
def test_the_reference_recurrence_is_the_model(four_layers):
    model, x = four_layers
    found = _independent(model, x)
    assert_close(found["out"], model(x), atol=1e-5)
    probed = keras_gates.gates(model, x)
    for layer in ("bi/forward", "bi/backward", "gru"):
        for gate, values in probed[layer].items():
            assert_close(found[layer][gate], values, atol=1e-5, msg=gate)


@tf_only
@pytest.mark.parametrize("method", ["saliency", "gradient_x_input"])
def test_targets_in_turn_equal_independent_gradients(method, four_layers):
    model, x = four_layers
    for target in TARGETS:
        grads, _ = _tape(model, x, target)
        if method == "saliency":
            expected = np.linalg.norm(grads, axis=-1)
        else:
            expected = np.sum(grads * x, axis=-1)
        assert np.abs(expected).max() > 1e-3, target
        got = keras_gates.attribution(model, x, method=method, **target)
        assert_close(got, expected, atol=1e-5, rtol=1e-4, msg=str(target))
    # Two outputs that differ: a column mix-up could not pass the above.
    first, _ = _tape(model, x, TARGETS[0])
    second, _ = _tape(model, x, TARGETS[2])
    assert_not_close(first, second, atol=1e-2)


@tf_only
def test_smoothgrad_is_the_mean_over_noisy_copies(two_columns):
    """Output 0 of `_two_column_model` is tanh(x[STEP, 0]): its gradient
    is (1 - tanh^2) at that one input, so SmoothGrad^2 there is the mean
    of s = (1 - tanh^2(x[STEP, 0] + noise))^2 over the copies, with noise
    of standard deviation `smooth_noise` times each sequence's range. Its
    expectation and variance are Gaussian integrals (computed here by
    Gauss-Hermite quadrature), so the mean of n copies, whatever noise
    generator drew them, lies within a few standard errors sqrt(var / n):
    5 per sequence, and 5 for the sum of the 8 sequences' deviations (a
    mean of norms instead of squares biases every sequence one way).
    No noise, noise not scaled by the range, or twice or half as much
    noise fall 8 to 30 standard errors off (median of simulations)."""
    from numpy.polynomial.hermite_e import hermegauss

    samples, noise = 128, 0.5
    x = np.random.default_rng(2).uniform(-0.1, 0.1, (8, TIME, FEATURES))
    x[:, STEP, 0] = [0.0, 0.5, 1.0, -0.3, 0.0, 1.5, -1.0, 0.2]
    x[:, 0, 1] = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 6.0]  # the ranges
    x = x.astype("float32")
    got = keras_gates.attribution(
        two_columns,
        x,
        output=0,
        method="smoothgrad",
        smooth_samples=samples,
        smooth_noise=noise,
        seed=7,
    )
    assert np.all(np.delete(got, STEP, axis=1) == 0)
    sigma = noise * (x.max(axis=(1, 2)) - x.min(axis=(1, 2)))
    nodes, weights = hermegauss(80)  # for a standard normal variable
    z = x[:, STEP, 0, None] + sigma[:, None] * nodes
    s = (1.0 - np.tanh(z) ** 2) ** 2
    weights = weights / weights.sum()
    mean = s @ weights
    error = np.sqrt(((s - mean[:, None]) ** 2 @ weights) / samples)
    deviation = (got[:, STEP] ** 2 - mean) / error
    assert np.all(np.abs(deviation) < 5), deviation
    assert abs(deviation.sum()) / np.sqrt(len(x)) < 5, deviation


@tf_only
@pytest.mark.parametrize(
    "target, features, at",
    [
        # An output, after a GRU that returns no sequence: the GRU's input.
        (TARGETS[2], None, "between"),
        # A gate: the sequence its layer reads.
        (TARGETS[3], None, "between"),
        (TARGETS[1], None, "proj"),
        (TARGETS[0], "proj", "proj"),
    ],
    ids=["output", "gru-gate", "backward-gate", "feature_layer"],
)
def test_gradcam_equals_weighted_features(four_layers, target, features, at):
    """relu(sum_c mean_t(d score / d A_tc) A_tc) over the features A."""
    model, x = four_layers
    grads, values = _tape(model, x, target, at=at)
    weights = grads.mean(axis=1, keepdims=True)
    expected = np.maximum(np.sum(weights * values, axis=-1), 0.0)
    assert expected.max() > 1e-3
    got = keras_gates.attribution(
        model, x, method="gradcam", feature_layer=features, **target
    )
    assert_close(got, expected, atol=1e-5, rtol=1e-4)


@tf_only
@pytest.mark.parametrize("seed", [None, 4])
def test_the_global_numpy_random_state_is_left_alone(seed, four_layers):
    model, x = four_layers
    np.random.seed(123)
    before = np.random.get_state()
    keras_gates.attribution(
        model, x, output=1, method="smoothgrad", smooth_samples=2, seed=seed
    )
    after = np.random.get_state()
    assert before[0] == after[0] and before[2:] == after[2:]
    np.testing.assert_array_equal(before[1], after[1])


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
