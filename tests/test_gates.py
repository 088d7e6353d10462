"""The gates returned with `return_gates=True`.

Values are checked against an independent NumPy recomputation from the
layer's weights, against the cell stepped by hand, and for gradients,
serialization and mixed precision.
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
    assert_close,
    assert_not_close,
    build_pair,
    jax_only,
    make_mask,
    random_inputs,
    random_states,
    randomize_weights,
    tf_only,
    to_numpy,
)
from reference import numpy_rnn

SHAPE = (BATCH, TIME, FEATURES)


def _gated_layer(spec, weight_seed=0, **kwargs):
    """A built keras-gates layer with `return_gates=True`, random weights."""
    layer = spec.gates(return_gates=True, **kwargs)
    layer.build(SHAPE)
    randomize_weights(layer, weight_seed)
    return layer


# -------------------------------------------------------------- values


@pytest.mark.parametrize("with_initial_state", [False, True], ids=["", "init"])
@pytest.mark.parametrize("padding", [None, "right", "left", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_gates_match_numpy(cell, go_backwards, padding, with_initial_state):
    layer = _gated_layer(cell, go_backwards=go_backwards, return_state=True)
    x = random_inputs(SHAPE)
    mask = None if padding is None else make_mask(padding)
    states = random_states(cell) if with_initial_state else None
    output, *final, gates = layer(x, mask=mask, initial_state=states)
    expected_final, expected_gates = numpy_rnn(
        cell, layer.get_weights(), x, mask, go_backwards, states
    )
    assert_close(gates, expected_gates)
    assert_close(final, expected_final)
    for name in cell.gate_names:
        assert tuple(gates[name].shape) == (BATCH, TIME, UNITS)
        assert keras.backend.standardize_dtype(gates[name].dtype) == "float32"


@pytest.mark.parametrize("returns_gates", [False, True], ids=["", "gates"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["", "seq"])
def test_gates_of_the_first_rows_for_training_statistics(
    cell, return_sequences, returns_gates
):
    # What GateMonitor(track_training=True) listens to: the gates of the
    # first rows of a batch, taken from the layer's own loop, while the
    # layer returns what it always returns.
    from keras_gates.listen import Ear, listening

    layer = _gated_layer(
        cell, go_backwards=True, return_sequences=return_sequences
    )
    layer.return_gates = returns_gates
    x, mask = random_inputs(SHAPE), make_mask("holes")
    plain = layer(x, mask=mask)
    seen = []
    ear = Ear.of(layer.name, layer)
    with listening(ear, lambda *args: seen.append(args), rows=BATCH - 1):
        listened = layer(x, mask=mask, training=True)
    assert_close(listened, plain, atol=0.0)
    ((gates, valid, training),) = seen
    assert training
    _, expected = numpy_rnn(
        cell, layer.get_weights(), x[:-1], mask[:-1], go_backwards=True
    )
    assert_close(gates, expected)
    np.testing.assert_array_equal(to_numpy(valid), mask[:-1, ::-1])


def test_gates_without_bias_match_numpy(cell):
    layer = _gated_layer(cell, use_bias=False, go_backwards=True)
    assert len(layer.get_weights()) == 2
    x = random_inputs(SHAPE)
    mask = make_mask("holes")
    _, gates = layer(x, mask=mask)
    _, expected = numpy_rnn(cell, layer.get_weights(), x, mask, True)
    assert_close(gates, expected)


@pytest.mark.parametrize("return_sequences", [False, True], ids=["", "seq"])
def test_gate_keys_shapes_and_consistency(cell, return_sequences):
    layer = _gated_layer(
        cell, return_sequences=return_sequences, return_state=True
    )
    assert tuple(layer.gate_names) == cell.gate_names
    assert tuple(layer.cell.gate_names) == cell.gate_names
    x = random_inputs(SHAPE)
    output, *states, gates = layer(x)
    assert list(gates) == list(cell.gate_names)
    for name in cell.gate_names:
        # (batch, time, units) whatever return_sequences is.
        assert tuple(gates[name].shape) == (BATCH, TIME, UNITS)
    hidden = to_numpy(gates["hidden"])
    if return_sequences:
        assert_close(output, hidden)
    else:
        assert_close(output, hidden[:, -1])
    assert_close(states[0], hidden[:, -1])
    if cell.name == "LSTM":
        assert_close(states[1], gates["cell"][:, -1])
    # Sigmoid gates lie in [0, 1]; tanh ones and the hidden state in
    # [-1, 1]. The LSTM cell state is unbounded.
    for name in cell.gate_names:
        values = to_numpy(gates[name])
        if name in ("input", "forget", "output", "update", "reset"):
            assert np.all((values >= 0.0) & (values <= 1.0)), name
        elif name != "cell":
            assert np.all(np.abs(values) <= 1.0), name


def test_gates_go_backwards_are_in_processing_order(cell):
    forward = _gated_layer(cell)
    backward = _gated_layer(cell, go_backwards=True)
    x = random_inputs(SHAPE)
    _, gates_backward = backward(x)
    # Processing x backwards is processing the reversed x forwards.
    _, gates_reversed = forward(x[:, ::-1])
    assert_close(gates_backward, gates_reversed)
    _, gates_forward = forward(x)
    assert_not_close(gates_backward["hidden"], gates_forward["hidden"])


@pytest.mark.parametrize("padding", ["right", "left", "holes"])
def test_masked_steps_have_zero_gates_and_carry_states(cell, padding):
    layer = _gated_layer(cell, return_state=True)
    x = random_inputs(SHAPE)
    mask = make_mask(padding)
    _, *final, gates = layer(x, mask=mask)
    for name in cell.gate_names:
        values = to_numpy(gates[name])
        assert not np.any(values[~mask]), name
        assert np.all(values[mask] != 0.0), name
    # A masked step leaves no trace: each sample gives the gates and final
    # states of the same sequence with its masked steps removed.
    for b in range(BATCH):
        kept = x[b : b + 1, mask[b]]
        _, *final_b, gates_b = layer(kept)
        for name in cell.gate_names:
            assert_close(to_numpy(gates[name])[b, mask[b]], gates_b[name][0])
        assert_close([to_numpy(s)[b : b + 1] for s in final], final_b)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_step_with_gates_matches_layer(cell, go_backwards):
    layer = _gated_layer(cell, go_backwards=go_backwards, return_state=True)
    x = random_inputs(SHAPE)
    states = random_states(cell)
    _, *final, gates = layer(x, initial_state=states)
    steps = range(TIME - 1, -1, -1) if go_backwards else range(TIME)
    for position, t in enumerate(steps):
        output, states, step_gates = layer.cell.step_with_gates(x[:, t], states)
        assert list(step_gates) == list(cell.gate_names)
        for name in cell.gate_names:
            assert_close(step_gates[name], gates[name][:, position])
        assert_close(output, step_gates["hidden"])
    assert_close(states, final)


def test_cell_call_matches_step_with_gates(cell):
    layer = _gated_layer(cell)
    x_t = random_inputs((BATCH, FEATURES))
    states = random_states(cell)
    output, new_states = layer.cell(x_t, states)
    expected_output, expected_states, _ = layer.cell.step_with_gates(
        x_t, states
    )
    assert_close(output, expected_output)
    assert_close(new_states, expected_states)


# ----------------------------------------------------------- gradients


def _gate_loss(gates, names):
    """A loss that weighs every gate and unit differently."""
    total = 0.0
    for i, name in enumerate(names):
        g = gates[name]
        ramp = keras.ops.arange(1, g.shape[-1] + 1, dtype=g.dtype) * (i + 1)
        total = total + keras.ops.sum(keras.ops.sin(g) * ramp)
    return total


def _hand_stepped_gates(layer, x, mask, states):
    """The layer's gates recomputed by stepping its cell in Python."""
    ops = keras.ops
    names = layer.gate_names
    seqs = {name: [] for name in names}
    steps = range(x.shape[1])
    if layer.go_backwards:
        steps = reversed(steps)
    for t in steps:
        _, new_states, step_gates = layer.cell.step_with_gates(x[:, t], states)
        keep = None if mask is None else ops.expand_dims(mask[:, t], -1)
        if keep is not None:
            new_states = [
                ops.where(keep, n, s) for n, s in zip(new_states, states)
            ]
            step_gates = {
                k: ops.where(keep, v, 0.0) for k, v in step_gates.items()
            }
        states = list(new_states)
        for name in names:
            seqs[name].append(step_gates[name])
    return {name: ops.stack(v, axis=1) for name, v in seqs.items()}


GATE_GRADIENT_CASES = [
    pytest.param(None, False, id="plain"),
    pytest.param("holes", True, id="holes-bwd"),
]


@tf_only
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("padding, go_backwards", GATE_GRADIENT_CASES)
def test_gate_gradients_match_hand_stepped_cell_tf(
    cell, padding, go_backwards, jit
):
    import tensorflow as tf

    layer = _gated_layer(cell, go_backwards=go_backwards)
    x = tf.constant(random_inputs(SHAPE))
    mask = None if padding is None else tf.constant(make_mask(padding))
    states = [tf.constant(s) for s in random_states(cell)]
    names = layer.gate_names

    def gradients(gates_fn):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            loss = _gate_loss(gates_fn(), names)
        sources = [x, *states, *layer.trainable_variables]
        return loss, tape.gradient(loss, sources)

    @tf.function(jit_compile=jit)
    def through_layer():
        return gradients(lambda: layer(x, mask=mask, initial_state=states)[1])

    @tf.function(jit_compile=jit)
    def through_cell():
        return gradients(lambda: _hand_stepped_gates(layer, x, mask, states))

    loss, grads = through_layer()
    expected_loss, expected = through_cell()
    assert all(g is not None for g in grads)
    assert_close(loss, expected_loss)
    assert_close(grads, expected, atol=1e-5, rtol=1e-4)
    for g in grads:
        assert np.any(to_numpy(g))


@jax_only
@pytest.mark.parametrize("padding, go_backwards", GATE_GRADIENT_CASES)
def test_gate_gradients_match_hand_stepped_cell_jax(
    cell, padding, go_backwards
):
    import jax

    layer = _gated_layer(cell, go_backwards=go_backwards)
    x = random_inputs(SHAPE)
    mask = None if padding is None else make_mask(padding)
    states = random_states(cell)
    names = layer.gate_names
    variables = layer.trainable_variables
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def through_layer(trainable, x, states):
        (_, gates), _ = layer.stateless_call(
            trainable, non_trainable, x, mask=mask, initial_state=states
        )
        return _gate_loss(gates, names)

    def through_cell(trainable, x, states):
        with keras.StatelessScope(
            state_mapping=list(zip(variables, trainable))
        ):
            gates = _hand_stepped_gates(layer, x, mask, states)
        return _gate_loss(gates, names)

    trainable = [v.value for v in variables]
    args = (trainable, x, states)
    loss, grads = jax.jit(jax.value_and_grad(through_layer, (0, 1, 2)))(*args)
    expected_loss, expected = jax.jit(
        jax.value_and_grad(through_cell, (0, 1, 2))
    )(*args)
    assert_close(loss, expected_loss)
    grads, expected = jax.tree.leaves(grads), jax.tree.leaves(expected)
    assert len(grads) == len(variables) + 1 + cell.num_states
    assert_close(grads, expected, atol=1e-5, rtol=1e-4)


# ------------------------------------------------- models and saving


@pytest.mark.parametrize("masked", [False, True], ids=["", "masked"])
def test_gates_in_functional_model_survive_keras_save(cell, masked, tmp_path):
    first_gate = cell.gate_names[1 if cell.name == "LSTM" else 0]
    inputs = keras.Input((TIME, FEATURES))
    hidden = keras.layers.Masking()(inputs) if masked else inputs
    output, gates = cell.gates(return_gates=True)(hidden)
    model = keras.Model(inputs, [output, gates[first_gate]])
    randomize_weights(model)
    x = random_inputs(SHAPE)
    mask = make_mask("right")
    if masked:
        x = np.where(mask[..., None], x, 0.0).astype("float32")
    before = model.predict(x, verbose=0)
    assert before[1].shape == (BATCH, TIME, UNITS)
    if masked:
        assert not np.any(before[1][~mask])

    path = str(tmp_path / "gates.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    (layer,) = [
        layer for layer in loaded.layers if isinstance(layer, cell.gates_class)
    ]
    assert layer.return_gates
    assert_close(loaded.predict(x, verbose=0), before, atol=1e-6)
    assert_close(loaded(x), model(x))


# --------------------------------------------------- mixed precision

# Tolerances from each compute dtype's unit roundoff u (half its eps):
# 2**-11 for float16 (10 mantissa bits), 2**-8 for bfloat16 (7 bits). A
# gate's pre-activation sums n = FEATURES + UNITS + 1 = 8 products of
# rounded inputs and weights of order one; a sum of n terms computed in
# floating point errs by up to n u times the sum of their magnitudes, and
# rounding the inputs and the result adds about 2 u. With activations of
# slope at most one, we allow (n + 2) u = 10 u absolutely on values in
# [-1, 1] (5e-3 for float16, 4e-2 for bfloat16; measured up to 2 u) and u
# relatively for the LSTM cell state's larger values. Gradients sum such
# terms over samples and steps, with cancellations that make single
# entries small: the same 10 u bounds their error relative to the norm of
# the whole tensor (measured up to 5 u), not to its largest entry.
ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}
SUMMED = FEATURES + UNITS + 1
POLICIES = {
    # policy: (compute dtype, its tolerance in units of ROUNDOFF)
    "mixed_float16": ("float16", (SUMMED + 2) * ROUNDOFF["float16"]),
    "mixed_bfloat16": ("bfloat16", (SUMMED + 2) * ROUNDOFF["bfloat16"]),
}


def _assert_mixed_close(actual, expected, policy):
    dtype, tolerance = POLICIES[policy]
    assert_close(actual, expected, atol=tolerance, rtol=ROUNDOFF[dtype])


@pytest.mark.parametrize("policy", list(POLICIES))
def test_gates_under_mixed_precision(cell, policy, dtype_policy):
    compute_dtype, _ = POLICIES[policy]
    x = random_inputs(SHAPE)
    reference = _gated_layer(cell, return_state=True, return_sequences=True)
    _, *_, reference_gates = reference(x)

    keras.config.set_dtype_policy(policy)
    options = dict(return_sequences=True, return_state=True)
    stock = cell.stock(**options)
    stock.build(SHAPE)
    gated = cell.gates(return_gates=True, **options)
    gated.build(SHAPE)
    gated.set_weights(reference.get_weights())
    stock.set_weights(reference.get_weights())
    *outputs, gates = gated(x)
    expected = stock(x)
    assert [keras.backend.standardize_dtype(o.dtype) for o in outputs] == [
        keras.backend.standardize_dtype(e.dtype) for e in expected
    ]
    assert keras.backend.standardize_dtype(outputs[0].dtype) == compute_dtype
    for w in gated.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32"
    for name in cell.gate_names:
        dtype = keras.backend.standardize_dtype(gates[name].dtype)
        assert dtype == compute_dtype, name
    _assert_mixed_close(outputs, expected, policy)
    _assert_mixed_close(gates, reference_gates, policy)


def _gate_loss_gradients(layer, x):
    """Gradient of a gate loss w.r.t. the input and the weights."""
    names = layer.gate_names
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = _gate_loss(layer(x)[1], names)
            loss = tf.cast(loss, "float32")
        return tape.gradient(loss, [x, *layer.trainable_variables])
    import jax

    variables = layer.trainable_variables

    def loss_fn(trainable, x):
        # Call the layer (not `stateless_call`, see the test below) so that
        # Keras autocasts the float32 weights to the compute dtype.
        with keras.StatelessScope(
            state_mapping=list(zip(variables, trainable))
        ):
            gates = layer(x)[1]
        return keras.ops.cast(_gate_loss(gates, names), "float32")

    trainable = [v.value for v in variables]
    grad_weights, grad_x = jax.grad(loss_fn, (0, 1))(trainable, x)
    return [grad_x, *grad_weights]


@pytest.mark.parametrize("policy", list(POLICIES))
def test_gate_gradients_under_mixed_precision(cell, policy, dtype_policy):
    _, tolerance = POLICIES[policy]
    x = random_inputs(SHAPE)
    reference = _gated_layer(cell)
    expected = _gate_loss_gradients(reference, x)
    keras.config.set_dtype_policy(policy)
    layer = cell.gates(return_gates=True)
    layer.build(SHAPE)
    layer.set_weights(reference.get_weights())
    grads = _gate_loss_gradients(layer, x)
    assert len(grads) == len(expected)
    for g, e in zip(grads, expected):
        g = np.asarray(to_numpy(g), "float64")
        e = np.asarray(to_numpy(e), "float64")
        assert np.all(np.isfinite(g))
        error = np.linalg.norm(g - e) / np.linalg.norm(e)
        assert error <= tolerance, (error, tolerance)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_stateless_call_under_mixed_precision(cell, policy, dtype_policy):
    # `Layer.stateless_call` runs `call` without the autocast scope that
    # `__call__` opens; the stock layers still compute in the compute dtype
    # (their cell is called through `__call__`).
    compute_dtype, _ = POLICIES[policy]
    keras.config.set_dtype_policy(policy)
    options = dict(return_sequences=True, return_state=True)
    stock = cell.stock(**options)
    gated = cell.gates(return_gates=True, **options)
    build_pair(stock, gated, SHAPE)
    x = random_inputs(SHAPE)

    def stateless(layer):
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        outputs, _ = layer.stateless_call(trainable, non_trainable, x)
        return outputs

    # The reference is the stock layer's ordinary call: on JAX the stock GRU
    # itself fails under stateless_call with a mixed policy (its scan
    # carry changes dtype), a Keras bug outside this package.
    expected = stock(x)
    *outputs, gates = stateless(gated)
    for out in [*outputs, *gates.values()]:
        assert keras.backend.standardize_dtype(out.dtype) == compute_dtype
    _assert_mixed_close(outputs, expected, policy)
    _assert_mixed_close(outputs, gated(x)[:-1], policy)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_input_projection_before_the_loop_gives_the_same_results(
    cell, go_backwards, monkeypatch
):
    # On GPUs the layers project all steps' inputs before the loop; CI has
    # no GPU, so force that path and compare it with stock Keras and NumPy.
    import keras_gates.layers.base as base

    monkeypatch.setattr(base, "hoist_input_projection", lambda: True)
    options = dict(return_sequences=True, go_backwards=go_backwards)
    stock, gated = build_pair(
        cell.stock(**options),
        cell.gates(return_gates=True, **options),
        SHAPE,
    )
    x, mask = random_inputs(SHAPE), make_mask("holes")
    output, gates = gated(x, mask=mask)
    assert_close(output, stock(x, mask=mask))
    _, expected = numpy_rnn(
        cell, stock.get_weights(), x, mask, go_backwards=go_backwards
    )
    for name in cell.gate_names:
        assert_close(gates[name], expected[name], atol=1e-5)
