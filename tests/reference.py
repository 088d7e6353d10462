"""A NumPy recurrence to check gates against, written from the equations
(and the same in TensorFlow, to differentiate: `tf_gates`).

`spec` is a `conftest.CellSpec`; weights come from `layer.get_weights()`.
"""

import functools

import numpy as np


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _keep(name, value):
    return value


def _numpy_step(spec, weights, x_t, states, edit=_keep):
    """One step with the default activations; returns (states, gates).

    Keras column order: LSTM i, f, c, o; GRU z, r, h. GRU with
    reset_after=True has a (2, 3H) bias: row 0 input, row 1 recurrent.
    `edit(name, value)` may change each gate where it is computed; what
    follows in the step uses the changed value.
    """
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) == 3 else None
    h = states[0]
    if spec.name == "LSTM":
        c = states[1]
        z = x_t @ kernel + h @ recurrent
        if bias is not None:
            z = z + bias
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        i = edit("input", _sigmoid(z_i))
        f = edit("forget", _sigmoid(z_f))
        g = edit("candidate", np.tanh(z_c))
        o = edit("output", _sigmoid(z_o))
        c = edit("cell", f * c + i * g)
        h = edit("hidden", o * np.tanh(c))
        gates = dict(input=i, forget=f, candidate=g, output=o, cell=c, hidden=h)
        return [h, c], gates
    if spec.name == "GRU":
        units = h.shape[-1]
        x_z, x_r, x_h = np.split(x_t @ kernel, 3, axis=-1)
        if spec.reset_after:
            assert bias is None or bias.shape == (2, 3 * units)
            rec = h @ recurrent
            if bias is not None:
                x_z, x_r, x_h = (
                    v + b for v, b in zip((x_z, x_r, x_h), np.split(bias[0], 3))
                )
                rec = rec + bias[1]
            r_z, r_r, r_h = np.split(rec, 3, axis=-1)
            update = edit("update", _sigmoid(x_z + r_z))
            reset = edit("reset", _sigmoid(x_r + r_r))
            candidate = edit("candidate", np.tanh(x_h + reset * r_h))
        else:
            assert bias is None or bias.shape == (3 * units,)
            if bias is not None:
                x_z, x_r, x_h = (
                    v + b for v, b in zip((x_z, x_r, x_h), np.split(bias, 3))
                )
            update = edit("update", _sigmoid(x_z + h @ recurrent[:, :units]))
            reset = edit(
                "reset", _sigmoid(x_r + h @ recurrent[:, units : 2 * units])
            )
            candidate = edit(
                "candidate",
                np.tanh(x_h + (reset * h) @ recurrent[:, 2 * units :]),
            )
        h = edit("hidden", update * h + (1.0 - update) * candidate)
        return [h], dict(
            update=update, reset=reset, candidate=candidate, hidden=h
        )
    z = x_t @ kernel + h @ recurrent
    if bias is not None:
        z = z + bias
    h = edit("hidden", np.tanh(z))
    return [h], dict(hidden=h)


def numpy_rnn(
    spec, weights, x, mask=None, go_backwards=False, states=None, edit=None
):
    """Run the recurrence in float64; returns (final states, gates).

    Gates are (batch, time, units) in processing order, zero at masked
    steps; at masked steps the states are carried over unchanged. With
    `edit(step, name, value)`, each gate of each step (counted in
    processing order) is changed where it is computed.
    """
    weights = [np.asarray(w, "float64") for w in weights]
    batch, time, _ = x.shape
    units = weights[1].shape[0]
    if states is None:
        states = [np.zeros((batch, units))] * spec.num_states
    states = [np.asarray(s, "float64") for s in states]
    if mask is None:
        mask = np.ones((batch, time), bool)
    order = range(time - 1, -1, -1) if go_backwards else range(time)
    gates = {name: [] for name in spec.gate_names}
    for step, t in enumerate(order):
        keep = mask[:, t, None]
        change = _keep if edit is None else functools.partial(edit, step)
        new_states, step_gates = _numpy_step(
            spec, weights, np.asarray(x[:, t], "float64"), states, change
        )
        states = [np.where(keep, n, s) for n, s in zip(new_states, states)]
        for name in spec.gate_names:
            gates[name].append(np.where(keep, step_gates[name], 0.0))
    return states, {k: np.stack(v, axis=1) for k, v in gates.items()}


def tf_gates(layer, x):
    """The gates of a stock or keras-gates LSTM or GRU (reset_after=True,
    default activations) on `x` (batch, time, features), by a recurrence
    written here in TensorFlow from `layer.get_weights()`, differentiable
    and independent of keras_gates: {gate: (batch, time, units)} in the
    order the layer processes the steps."""
    import tensorflow as tf

    kernel, recurrent, bias = (tf.constant(w) for w in layer.get_weights())
    units = recurrent.shape[0]
    h = c = tf.zeros((x.shape[0], units))
    steps = range(x.shape[1])
    gates = {}
    for t in reversed(steps) if layer.go_backwards else steps:
        x_t = x[:, t]
        if kernel.shape[1] == 4 * units:  # LSTM: i, f, c, o
            z = tf.split(x_t @ kernel + h @ recurrent + bias, 4, axis=-1)
            i, f, o = (tf.sigmoid(z[k]) for k in (0, 1, 3))
            g = tf.tanh(z[2])
            c = f * c + i * g
            h = o * tf.tanh(c)
            step = dict(input=i, forget=f, candidate=g, output=o, cell=c)
        else:  # GRU, reset_after: z, r, h; bias rows input and recurrent
            x_z, x_r, x_h = tf.split(x_t @ kernel + bias[0], 3, axis=-1)
            r_z, r_r, r_h = tf.split(h @ recurrent + bias[1], 3, axis=-1)
            update, reset = tf.sigmoid(x_z + r_z), tf.sigmoid(x_r + r_r)
            g = tf.tanh(x_h + reset * r_h)
            h = update * h + (1.0 - update) * g
            step = dict(update=update, reset=reset, candidate=g)
        for name, value in {**step, "hidden": h}.items():
            gates.setdefault(name, []).append(value)
    return {name: tf.stack(v, axis=1) for name, v in gates.items()}
