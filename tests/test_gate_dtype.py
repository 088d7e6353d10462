"""Gates kept in 16 bits under a float32 policy (`gate_dtype`).

Each 16-bit gate is checked against the same layer's float32 gates within
one rounding to that dtype, its gradients against those of the float32
gates rounded by the test, and the outputs and states must not change at
all.
"""

import keras
import numpy as np
import pytest
from conftest import (
    BACKEND,
    BATCH,
    FEATURES,
    TIME,
    assert_close,
    make_mask,
    random_inputs,
    randomize_weights,
    to_numpy,
)
from reference import numpy_rnn

SHAPE = (BATCH, TIME, FEATURES)
# A 16-bit gate is the float32 gate rounded once, to nearest: off by at
# most half a unit in the last place, relative 2**-11 for float16 (10
# mantissa bits, eps 2**-10) and 2**-8 for bfloat16 (7 bits, eps 2**-7).
# Below float16's smallest normal number (2**-14) its spacing is fixed
# (2**-24): half of it is the absolute error there; bfloat16 has float32's
# exponent range, so no absolute term. (rtol, atol) per dtype:
ROUNDING = {"float16": (2.0**-11, 2.0**-25), "bfloat16": (2.0**-8, 0.0)}


def _pair(spec, gate_dtype, **kwargs):
    """Two layers with the same random weights: float32 and 16-bit gates."""
    layers = [
        spec.gates(return_gates=True, gate_dtype=dtype, **kwargs)
        for dtype in (None, gate_dtype)
    ]
    for layer in layers:
        layer.build(SHAPE)
        randomize_weights(layer, 0)
    return layers


def _gradients(layer, x, mask, rounded_to=None):
    """Gradients of a loss on every gate, for the inputs and weights; with
    `rounded_to`, the loss first rounds the gates to that dtype itself."""
    names = layer.gate_names

    def loss_of(gates):
        total = 0.0
        for i, name in enumerate(names):
            gate = gates[name]
            if rounded_to is not None:
                gate = keras.ops.cast(gate, rounded_to)
            gate = keras.ops.cast(gate, "float32")
            total = total + keras.ops.sum(keras.ops.sin(gate)) * (i + 1)
        return total

    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_of(layer(x, mask=mask)[-1])
        return tape.gradient(loss, [x, *layer.trainable_variables])
    import jax

    fixed = [v.value for v in layer.non_trainable_variables]

    def loss_fn(trainable, x):
        outputs, _ = layer.stateless_call(trainable, fixed, x, mask=mask)
        return loss_of(outputs[-1])

    trainable = [v.value for v in layer.trainable_variables]
    grad_w, grad_x = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))(trainable, x)
    return [grad_x, *grad_w]


@pytest.mark.parametrize("gate_dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("padding", [None, "holes"])
def test_16_bit_gates_match_float32_gates(cell, gate_dtype, padding):
    wide, narrow = _pair(cell, gate_dtype, return_sequences=True)
    x = random_inputs(SHAPE)
    mask = None if padding is None else make_mask(padding)
    output, gates = wide(x, mask=mask)
    narrow_output, narrow_gates = narrow(x, mask=mask)
    assert narrow.gate_dtype == gate_dtype
    np.testing.assert_array_equal(to_numpy(narrow_output), to_numpy(output))
    for name in cell.gate_names:
        assert keras.backend.standardize_dtype(narrow_gates[name].dtype) == (
            gate_dtype
        )
        expected = to_numpy(gates[name])
        actual = to_numpy(keras.ops.cast(narrow_gates[name], "float32"))
        rtol, atol = ROUNDING[gate_dtype]
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("gate_dtype", ["float16", "bfloat16"])
def test_16_bit_gate_gradients_match_float32(cell, gate_dtype):
    wide, narrow = _pair(cell, gate_dtype, return_sequences=True)
    x = random_inputs(SHAPE)
    mask = make_mask("right")
    # The gradients of the float32 gates rounded to 16 bits by the loss
    # here: the same float32 computation on the same values, the gradient of
    # each gate rounded to 16 bits on its way back in both, so they are
    # equal. (The float32 layer's gradients are checked against the cell
    # stepped by hand in test_gates.py.)
    expected = _gradients(wide, x, mask, rounded_to=gate_dtype)
    actual = _gradients(narrow, x, mask)
    assert all(g is not None for g in actual)
    for a, e in zip(actual, expected):
        assert np.any(to_numpy(e) != 0)
        assert_close(a, e, atol=0, rtol=0)


def test_16_bit_gates_in_a_functional_model(cell):
    inputs = keras.Input((TIME, FEATURES))
    layer = cell.gates(return_gates=True, gate_dtype="float16")
    output, gates = layer(inputs)
    assert gates[cell.gate_names[0]].dtype == "float16"
    model = keras.Model(inputs, [output, gates])
    randomize_weights(layer, 0)
    x = random_inputs(SHAPE)
    _, values = model(x)
    _, expected = numpy_rnn(cell, layer.get_weights(), x)
    # One rounding to float16 (ROUNDING) of a float32 value that is itself
    # within 1e-5 of the float64 recurrence (test_gates's tolerance).
    rtol, atol = ROUNDING["float16"]
    for name in cell.gate_names:
        assert keras.backend.standardize_dtype(values[name].dtype) == "float16"
        actual = to_numpy(keras.ops.cast(values[name], "float32"))
        np.testing.assert_allclose(
            actual, expected[name], rtol=rtol, atol=atol + 1e-5
        )


def test_gate_dtype_in_config(cell):
    layer = cell.gates(return_gates=True, gate_dtype="bfloat16")
    config = layer.get_config()
    assert config["gate_dtype"] == "bfloat16"
    again = type(layer).from_config(config)
    assert again.gate_dtype == "bfloat16"
    assert cell.gates().get_config()["gate_dtype"] is None
    assert cell.gates().gate_dtype == "float32"


@pytest.mark.parametrize("bad", ["int8", "half-precision", 16])
def test_bad_gate_dtype_names_layer_and_argument(cell, bad):
    with pytest.raises(ValueError, match=rf"{cell.name}.*`gate_dtype`"):
        cell.gates(return_gates=True, gate_dtype=bad)
