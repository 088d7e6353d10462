"""The time loop every keras-gates layer runs, one implementation per backend.

`scan` walks the leading (time) axis of a few time-major tensors, threading a
carry through `step` and stacking what each step returns. The trip count is
the static length of the time axis whenever it is known, so XLA compiles a
loop with no host round trip per step (tensorflow#55811).

On TensorFlow the loop has its own backward pass (`_scan_tf`): TensorFlow's
gradient of a `tf.while_loop` that writes per-step outputs hands the
gradient of those outputs to the backward loop as a list that it clears slot
by slot, and XLA copies that whole (time, batch, units) buffer at every step
(found in an XLA dump, docs/speed.md), so a training step grew with the
square of the sequence length. JAX's `lax.scan` reads them as slices.
"""

import keras

SUPPORTED_BACKENDS = ("tensorflow", "jax")


def check_backend(owner):
    """Raise a clear error when the active Keras backend has no time loop."""
    name = keras.backend.backend()
    if name not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"{owner} runs on the Keras backends {SUPPORTED_BACKENDS}; the "
            f"active backend is {name!r}. Set KERAS_BACKEND to one of them."
        )


def scan(step, carry, xs, params, unroll=False, gradient=True):
    """Run `step(carry, x_t, params) -> (carry, y_t)` over axis 0 of `xs`.

    Args:
        step: function of the carry (a tuple of tensors), a dict holding
            one time slice of each tensor in `xs`, and `params`; returns
            the new carry and `y_t`, a tuple of tensors (may be empty).
        carry: tuple of tensors, the loop state.
        xs: dict of time-major tensors with the same leading length.
        params: tuple of tensors the step reads at every step (the weights);
            gradients reach them only through this argument.
        unroll: unroll the loop in the traced program (short sequences).
        gradient: False when no gradient of the result will be asked for
            (a probe): on TensorFlow the loop then neither keeps the carry
            of every step nor is wrapped for its own backward pass, which
            a graph without XLA would run and trace for nothing.

    Returns:
        `(carry, ys)`: the final carry and a tuple with every `y_t` tensor
        stacked on a new leading (time) axis.
    """
    carry, params, names = tuple(carry), tuple(params), tuple(xs)

    def by_name(c, x_t, p):
        return step(c, dict(zip(names, x_t)), p)

    arrays = [xs[name] for name in names]
    if keras.backend.backend() == "jax":
        return _scan_jax(by_name, carry, arrays, params, unroll)
    if unroll:
        return _unrolled_tf(by_name, carry, arrays, params)
    if not gradient:
        final, ys, _ = _forward_tf(by_name, carry, arrays, params, False)
        return final, ys
    return _scan_tf(by_name, carry, arrays, params)


def hoist_input_projection():
    """Whether to project every step's input before the loop.

    Measured on CPU (docs/speed.md): projecting inside the loop is faster
    on both backends (hoisting cost 1.5x under XLA on TensorFlow and 1.3-1.9x
    on JAX). On GPUs one large matmul before the loop is the known win
    (cuDNN does it); that branch is taken on faith, not yet measured here.
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() == "gpu"
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _scan_jax(step, carry, xs, params, unroll):
    import jax

    def body(c, x_t):
        return step(c, list(x_t), params)

    return jax.lax.scan(body, carry, tuple(xs), unroll=bool(unroll))


def _unrolled_tf(step, carry, xs, params):
    import tensorflow as tf

    steps = xs[0].shape[0]
    if steps is None:
        raise ValueError(
            "unroll=True needs a static number of timesteps; give the "
            "Input a fixed time dimension."
        )
    ys = []
    for t in range(steps):
        carry, y = step(carry, [x[t] for x in xs], params)
        ys.append(y)
    return carry, tuple(tf.stack(seq) for seq in zip(*ys))


def _forward_tf(step, carry, xs, params, keep=True):
    """The loop itself: returns (final carry, ys, carry before every step),
    the last None unless `keep`."""
    import tensorflow as tf

    steps = xs[0].shape[0]
    length = steps if steps is not None else tf.shape(xs[0])[0]
    # The shapes of y_t, from a trace of one step outside the loop (XLA
    # prunes it: nothing uses its result).
    _, y0 = step(carry, [x[0] for x in xs], params)

    def arrays(like):
        return tuple(
            tf.TensorArray(v.dtype, size=length, element_shape=v.shape)
            for v in like
        )

    def body(t, c, ys, history):
        x_t = [x[t] for x in xs]
        if keep:
            history = tuple(ta.write(t, v) for ta, v in zip(history, c))
        c, y = step(c, x_t, params)
        ys = tuple(ta.write(t, v) for ta, v in zip(ys, y))
        return t + 1, tuple(c), ys, history

    _, final, ys, history = tf.while_loop(
        lambda t, *_: t < length,
        body,
        (tf.constant(0), carry, arrays(y0), arrays(carry) if keep else ()),
        maximum_iterations=length,
    )
    stack = lambda arrays: tuple(ta.stack() for ta in arrays)  # noqa: E731
    return final, stack(ys), stack(history) if keep else None


def _backward_tf(step, xs, params, history, d_final, d_ys):
    """Gradients of (carry, xs, params), one step at a time backwards.

    Each step is traced again under a tape from the carry it started from
    (`history`); the gradients of the outputs are read as slices.
    """
    import tensorflow as tf

    length = tf.shape(history[0])[0]
    wanted = [x.dtype.is_floating for x in xs]

    def body(t, d_carry, d_params, d_xs):
        i = length - 1 - t
        before = tuple(h[i] for h in history)
        x_i = [x[i] for x in xs]
        sources_x = [x for x, w in zip(x_i, wanted) if w]
        with tf.GradientTape() as tape:
            tape.watch([before, sources_x, params])
            after, y = step(before, x_i, params)
        grads = tape.gradient(
            [tuple(after), tuple(y)],
            [before, sources_x, params],
            output_gradients=[d_carry, tuple(d[i] for d in d_ys)],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        d_before, d_x, d_p = grads
        d_params = tuple(a + g for a, g in zip(d_params, d_p))
        d_xs = tuple(ta.write(i, g) for ta, g in zip(d_xs, d_x))
        return t + 1, tuple(d_before), d_params, d_xs

    d_xs = tuple(
        tf.TensorArray(x.dtype, size=length, element_shape=x.shape[1:])
        for x, w in zip(xs, wanted)
        if w
    )
    _, d_carry, d_params, d_xs = tf.while_loop(
        lambda t, *_: t < length,
        body,
        (
            tf.constant(0),
            tuple(d_final),
            tuple(tf.zeros_like(p) for p in params),
            d_xs,
        ),
        maximum_iterations=length,
    )
    stacked = iter(ta.stack() for ta in d_xs)
    d_xs = [next(stacked) if w else None for w in wanted]
    return (*d_carry, *d_xs, *d_params)


def _scan_tf(step, carry, xs, params):
    import tensorflow as tf

    sizes = (len(carry), len(xs))

    @tf.custom_gradient
    def run(*flat):
        c0, x, p = (
            flat[: sizes[0]],
            flat[sizes[0] : sum(sizes)],
            flat[sum(sizes) :],
        )
        final, ys, history = _forward_tf(step, c0, list(x), p)

        def grad(*upstream):
            d_final, d_ys = upstream[: sizes[0]], upstream[sizes[0] :]
            return _backward_tf(step, list(x), p, history, d_final, d_ys)

        return (*final, *ys), grad

    out = run(*carry, *xs, *params)
    return tuple(out[: sizes[0]]), tuple(out[sizes[0] :])
