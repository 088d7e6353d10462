"""Gates kept in 16 bits under a float32 policy (`gate_dtype`).

Each 16-bit gate is checked against the same layer's float32 gates within
that dtype's precision, and the outputs and states must not change at all.
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

SHAPE = (BATCH, TIME, FEATURES)
# Relative precision of each dtype (10 and 7 mantissa bits), with room for
# rounding the float32 value once.
TOLERANCE = {"float16": 1e-3, "bfloat16": 8e-3}


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


def _gradients(layer, x, mask):
    """Gradients of a loss on every gate, for the inputs and weights."""
    names = layer.gate_names

    def loss_of(gates):
        return sum(
            keras.ops.sum(keras.ops.sin(keras.ops.cast(gates[n], "float32")))
            * (i + 1)
            for i, n in enumerate(names)
        )

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
        rtol = TOLERANCE[gate_dtype]
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("gate_dtype", ["float16", "bfloat16"])
def test_16_bit_gate_gradients_match_float32(cell, gate_dtype):
    wide, narrow = _pair(cell, gate_dtype, return_sequences=True)
    x = random_inputs(SHAPE)
    mask = make_mask("right")
    expected = _gradients(wide, x, mask)
    actual = _gradients(narrow, x, mask)
    assert all(g is not None for g in actual)
    # Each gate's gradient is rounded to 16 bits on its way back.
    rtol = 20 * TOLERANCE[gate_dtype]
    for a, e in zip(actual, expected):
        scale = np.max(np.abs(to_numpy(e)))
        assert_close(a, e, atol=rtol * scale, rtol=rtol)


def test_16_bit_gates_in_a_functional_model(cell):
    inputs = keras.Input((TIME, FEATURES))
    layer = cell.gates(return_gates=True, gate_dtype="float16")
    output, gates = layer(inputs)
    assert gates[cell.gate_names[0]].dtype == "float16"
    model = keras.Model(inputs, [output, gates])
    _, values = model(random_inputs(SHAPE))
    assert keras.backend.standardize_dtype(
        values[cell.gate_names[0]].dtype
    ) == ("float16")


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
