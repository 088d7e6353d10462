"""`intervene`: gates changed inside the recurrence, on any model.

Every expected value comes from the NumPy recurrence of
`tests/reference.py` run with the same edit applied inside its loop, where
the gate is computed (`numpy_rnn(..., edit=...)`), not from the project's
layers. Runs on TensorFlow and on JAX (`KERAS_BACKEND=jax`).
"""

import keras
import numpy as np
import pytest
from conftest import (
    BATCH,
    CELLS,
    FEATURES,
    TIME,
    UNITS,
    assert_close,
    make_mask,
    random_inputs,
    randomize_weights,
    to_numpy,
    zero_padded,
)
from reference import numpy_rnn

import keras_gates


def numpy_edit(gate, kind, value, units=None, steps=None):
    """The `edit(step, name, value)` of `numpy_rnn` doing what
    `keras_gates.Set`/`Scale(value, units, steps)` does to `gate`.

    `value` broadcasts to (batch, len(steps), len(units)), as the edits'.
    """
    value = np.asarray(value, "float64")
    value = value.reshape((1,) * (3 - value.ndim) + value.shape)

    def edit(step, name, current):
        if name != gate or (steps is not None and step not in steps):
            return current
        cols = list(range(current.shape[1])) if units is None else units
        at = (
            0
            if value.shape[1] == 1
            else (step if steps is None else list(steps).index(step))
        )
        new = np.broadcast_to(value[:, at], (current.shape[0], len(cols)))
        changed = current.copy()
        if kind == "set":
            changed[:, cols] = new
        else:
            changed[:, cols] = current[:, cols] * new
        return changed

    return edit


def _edits(spec):
    """Per gate of `spec`, a Set on some units and steps (with a value per
    step and unit) and a Scale on every unit of some steps."""
    steps, units = [1, 3], [0, 2]
    values = np.array([[0.9, -0.3], [0.25, 1.5]], "float32")
    for gate in spec.gate_names:
        yield (
            gate,
            keras_gates.Set(values, units=units, steps=steps),
            numpy_edit(gate, "set", values, units, steps),
        )
        yield (
            gate,
            keras_gates.Scale(0.3, steps=[0, 2, 4]),
            numpy_edit(gate, "scale", 0.3, None, [0, 2, 4]),
        )


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_every_gate_of_a_keras_gates_layer_equals_numpy(spec):
    """A keras-gates layer returning its gates: every gate of the edited
    run (the edited gate and all that follow from it) equals NumPy."""
    inputs = keras.Input((TIME, FEATURES))
    layer = spec.gates(name="rnn", return_sequences=True, return_gates=True)
    _, gates = layer(inputs)
    model = keras.Model(inputs, gates)
    randomize_weights(layer)
    x = random_inputs()
    for gate, edit, reference in _edits(spec):
        got = keras_gates.intervene(model, {f"rnn/{gate}": edit})(x)
        _, expected = numpy_rnn(spec, layer.get_weights(), x, edit=reference)
        _, plain = numpy_rnn(spec, layer.get_weights(), x)
        assert not np.allclose(expected[gate], plain[gate])
        for name in spec.gate_names:
            assert_close(got[name], expected[name], atol=1e-5, msg=name)


def _together(references):
    """One `numpy_rnn` edit doing what several do, each on its gate."""

    def edit(step, name, value):
        for reference in references:
            value = reference(step, name, value)
        return value

    return edit


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_every_gate_of_a_stock_layer_equals_numpy(spec):
    """A stock layer with every gate edited at once (Sets, then Scales):
    the outputs (hidden state at every step, final states) follow the
    edits as NumPy's do."""
    inputs = keras.Input((TIME, FEATURES))
    layer = spec.stock(name="rnn", return_sequences=True, return_state=True)
    model = keras.Model(inputs, layer(inputs))
    randomize_weights(layer)
    x = random_inputs()
    edits = list(_edits(spec))
    for kind in (keras_gates.Set, keras_gates.Scale):
        chosen = [(g, e, r) for g, e, r in edits if isinstance(e, kind)]
        got = keras_gates.intervene(
            model, {f"rnn/{gate}": edit for gate, edit, _ in chosen}
        )(x)
        states, expected = numpy_rnn(
            spec,
            layer.get_weights(),
            x,
            edit=_together([r for _, _, r in chosen]),
        )
        assert_close(got[0], expected["hidden"], atol=1e-5, msg=kind)
        assert_close(list(got[1:]), states, atol=1e-5, msg=kind)


def _lstm_model(**kwargs):
    inputs = keras.Input((TIME, FEATURES))
    layer = keras.layers.LSTM(UNITS, name="lstm", **kwargs)
    outputs = keras.layers.Dense(2, name="out")(layer(inputs))
    model = keras.Model(inputs, outputs)
    randomize_weights(layer)
    randomize_weights(model.get_layer("out"), seed=1)
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.5))
    return model, layer


def _readout(model, hidden):
    """The Dense head of `_lstm_model` on hidden states, in NumPy."""
    kernel, bias = model.get_layer("out").get_weights()
    return hidden @ kernel + bias


def test_patching_from_another_input():
    """Activation patching: the forget gate of a clean run (from
    `keras_gates.gates`), set into a run on another input at some steps
    and units, sequence by sequence."""
    model, layer = _lstm_model()
    clean, corrupt = random_inputs(seed=3), random_inputs(seed=4)
    forget = keras_gates.gates(model, clean)["lstm"]["forget"]
    steps, units = [2, 3, 4], [1, 2]
    patch = forget[:, steps][:, :, units]
    edited = keras_gates.intervene(
        model, {"lstm/forget": keras_gates.Set(patch, units, steps)}
    )
    states, _ = numpy_rnn(
        CELLS[0],
        layer.get_weights(),
        corrupt,
        edit=numpy_edit("forget", "set", patch, units, steps),
    )
    expected = _readout(model, states[0])
    assert_close(edited(corrupt), expected, atol=1e-5)
    assert_close(
        edited.predict(corrupt, batch_size=BATCH, verbose=0),
        expected,
        atol=1e-5,
    )
    assert_not_equal(to_numpy(model(corrupt)), expected)
    # A value per sequence fits batches of that many sequences only: a
    # ValueError where the batch size is known when tracing (eager calls,
    # JAX), a check in the graph on TensorFlow.
    with pytest.raises(ValueError, match=f"batches of exactly {BATCH}"):
        edited(corrupt[:2])
    with pytest.raises(Exception, match=f"batches of exactly {BATCH}"):
        edited.predict(corrupt, batch_size=2, verbose=0)


def assert_not_equal(a, b, atol=1e-3):
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > atol


def test_backward_half_of_a_bidirectional():
    """`bi/backward/forget`: steps count in the backward layer's
    processing order; the forward half is untouched."""
    inputs = keras.Input((TIME, FEATURES))
    bi = keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=True), name="bi"
    )
    model = keras.Model(inputs, bi(inputs))
    randomize_weights(bi)
    x = random_inputs()
    edit = keras_gates.Set(1.0, units=[1], steps=[0, 1])
    got = to_numpy(
        keras_gates.intervene(model, {"bi/backward/forget": edit})(x)
    )
    spec = CELLS[0]
    _, forward = numpy_rnn(spec, bi.forward_layer.get_weights(), x)
    _, backward = numpy_rnn(
        spec,
        bi.backward_layer.get_weights(),
        x,
        go_backwards=True,
        edit=numpy_edit("forget", "set", 1.0, [1], [0, 1]),
    )
    expected = np.concatenate(
        [forward["hidden"], backward["hidden"][:, ::-1]], axis=-1
    )
    assert_close(got, expected, atol=1e-5)


@pytest.mark.parametrize("where", ["left", "holes"])
def test_masks(where):
    """Masked steps carry the state over, edited or not; steps still count
    every step, masked ones included."""
    spec = CELLS[1]  # GRU
    inputs = keras.Input((TIME, FEATURES))
    layer = spec.stock(name="rnn")
    model = keras.Model(inputs, layer(keras.layers.Masking()(inputs)))
    randomize_weights(layer)
    mask = make_mask(where)
    x = zero_padded(random_inputs(), mask)
    reference = numpy_edit("update", "set", 0.05, [0, 1], [1, 2, 3])
    edit = keras_gates.Set(0.05, units=[0, 1], steps=[1, 2, 3])
    states, _ = numpy_rnn(spec, layer.get_weights(), x, mask, edit=reference)
    got = keras_gates.intervene(model, {"rnn/update": edit})(x)
    assert_close(got, states[0], atol=1e-5)


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_scale_one_is_the_model(spec):
    """Every gate scaled by 1 at once computes what the model computes."""
    inputs = keras.Input((TIME, FEATURES))
    layer = spec.stock(name="rnn", return_sequences=True)
    model = keras.Model(inputs, layer(inputs))
    randomize_weights(layer)
    x = random_inputs()
    edits = {f"rnn/{g}": keras_gates.Scale(1.0) for g in spec.gate_names}
    assert_close(keras_gates.intervene(model, edits)(x), model(x), atol=1e-6)
    assert_close(keras_gates.intervene(model, {})(x), model(x), atol=0)


def test_compiled_as_the_model():
    """The edited model is compiled with the model's loss: `evaluate` and
    `predict` of Scale(1.0) are the model's (and no metric of the wrapped
    model hides the loss)."""
    model, _ = _lstm_model()
    x, y = random_inputs(), random_inputs((BATCH, 2), seed=2)
    edited = keras_gates.intervene(model, {"lstm/forget": keras_gates.Scale(1)})
    assert_close(
        edited.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    expected = np.mean((to_numpy(model(x)) - y) ** 2)
    loss = edited.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(expected, rel=1e-5)


def test_xla():
    """Under jit_compile (XLA on TensorFlow; JAX always compiles)."""
    model, layer = _lstm_model()
    edited = keras_gates.intervene(
        model, {"lstm/cell": keras_gates.Set(0.0, units=[0], steps=[2])}
    )
    edited.compile(loss="mse", jit_compile=True)
    x = random_inputs()
    states, _ = numpy_rnn(
        CELLS[0],
        layer.get_weights(),
        x,
        edit=numpy_edit("cell", "set", 0.0, [0], [2]),
    )
    got = edited.predict(x, verbose=0)
    assert_close(got, _readout(model, states[0]), atol=1e-5)


def test_original_untouched_and_training_moves_shared_weights():
    model, layer = _lstm_model()
    x, y = random_inputs(), random_inputs((BATCH, 2), seed=2)
    before = to_numpy(model(x))
    edited = keras_gates.intervene(
        model, {"lstm/forget": keras_gates.Set(1.0, units=[0, 1])}
    )
    assert_not_equal(edited(x), before)
    # The model computes what it did, its layers' calls are their own.
    assert_close(model(x), before, atol=0)
    assert "call" not in vars(layer)
    assert {id(v) for v in edited.trainable_variables} == {
        id(v) for v in model.trainable_variables
    }
    weights = [to_numpy(w) for w in model.get_weights()]
    edited.fit(x, y, epochs=2, batch_size=BATCH, verbose=0)
    moved = [
        np.abs(to_numpy(w) - old).max()
        for w, old in zip(model.get_weights(), weights)
    ]
    assert min(moved) > 0, moved  # every weight of the model moved
    # The edited model trained the model's own weights: its outputs are
    # the NumPy recurrence on the new weights, with the edit.
    states, _ = numpy_rnn(
        CELLS[0],
        layer.get_weights(),
        x,
        edit=numpy_edit("forget", "set", 1.0, [0, 1]),
    )
    assert_close(edited(x), _readout(model, states[0]), atol=1e-5)


def test_nested_sequential():
    """A Sequential inside a Functional model, a keras-gates layer."""
    inner = keras.Sequential(
        [keras.Input((TIME, FEATURES)), keras_gates.GRU(UNITS, name="g")],
        name="inner",
    )
    inputs = keras.Input((TIME, FEATURES))
    model = keras.Model(inputs, keras.layers.Dense(1)(inner(inputs)))
    randomize_weights(inner.get_layer("g"))
    x = random_inputs()
    edit = keras_gates.Scale(0.0, units=[2])
    states, _ = numpy_rnn(
        CELLS[1],
        inner.get_layer("g").get_weights(),
        x,
        edit=numpy_edit("reset", "scale", 0.0, [2]),
    )
    kernel, bias = model.layers[-1].get_weights()
    got = keras_gates.intervene(model, {"g/reset": edit})(x)
    assert_close(got, states[0] @ kernel + bias, atol=1e-5)


@pytest.mark.parametrize(
    "edits, message",
    [
        ({"lstmx/forget": keras_gates.Set(1.0)}, r"the model has \['lstm'\]"),
        ({"out/forget": keras_gates.Set(1.0)}, "no recurrent layer named"),
        ({"lstm/forgot": keras_gates.Set(1.0)}, "its gates are"),
        ({"lstm": keras_gates.Set(1.0)}, "keyed '<layer>/<gate>'"),
        ({"lstm/forget": keras_gates.Set(1.0, units=[3])}, r"in \[0, 3\)"),
        ({"lstm/forget": keras_gates.Set(1.0, steps=[5])}, "runs 5 steps"),
        (
            {"lstm/forget": keras_gates.Set(np.ones((4, 1)))},
            "1 or 5 .the layer's steps",
        ),
        (
            {"lstm/forget": keras_gates.Set(np.ones((1, 2)))},
            "1 or 3 .the layer's units",
        ),
    ],
)
def test_errors_name_what_exists(edits, message):
    model, _ = _lstm_model()
    with pytest.raises(ValueError, match=message):
        keras_gates.intervene(model, edits)


def test_error_types():
    model, _ = _lstm_model()
    with pytest.raises(TypeError, match="Set or keras_gates.Scale"):
        keras_gates.intervene(model, {"lstm/forget": 1.0})
    with pytest.raises(TypeError, match="`edits` must be a dict"):
        keras_gates.intervene(model, [keras_gates.Set(1.0)])
    with pytest.raises(ValueError, match="Functional or Sequential"):
        keras_gates.intervene(model.get_layer("lstm"), {})
