"""The time loop every keras-gates layer runs, one implementation per backend.

`scan` walks the leading (time) axis of a few time-major tensors, threading a
carry through `step` and stacking what each step returns. The trip count is
the static length of the time axis whenever it is known, so XLA compiles a
loop with no host round trip per step (tensorflow#55811).
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


def scan(step, carry, xs, num_outputs, unroll=False):
    """Run `step(carry, x_t) -> (carry, y_t)` over axis 0 of every tensor in xs.

    Args:
        step: function of the carry (a tuple of tensors) and a list holding
            one time slice of each tensor in `xs`; `y_t` is a tuple of
            `num_outputs` tensors, each in the dtype of the carry.
        carry: tuple of tensors, the loop state.
        xs: list of time-major tensors with the same leading length.
        num_outputs: how many tensors `step` returns in `y_t` (may be 0).
        unroll: unroll the loop in the traced program (short sequences).

    Returns:
        `(carry, ys)`: the final carry and a tuple with every `y_t` tensor
        stacked on a new leading (time) axis.
    """
    if keras.backend.backend() == "jax":
        return _scan_jax(step, carry, xs, unroll)
    return _scan_tf(step, carry, xs, num_outputs, unroll)


def _scan_jax(step, carry, xs, unroll):
    import jax

    def body(c, x_t):
        return step(c, list(x_t))

    return jax.lax.scan(body, carry, tuple(xs), unroll=bool(unroll))


def _scan_tf(step, carry, xs, num_outputs, unroll):
    import tensorflow as tf

    steps = xs[0].shape[0]
    if unroll:
        if steps is None:
            raise ValueError(
                "unroll=True needs a static number of timesteps; give the "
                "Input a fixed time dimension."
            )
        ys = []
        for t in range(steps):
            carry, y = step(carry, [x[t] for x in xs])
            ys.append(y)
        return carry, tuple(tf.stack(seq) for seq in zip(*ys))

    length = steps if steps is not None else tf.shape(xs[0])[0]
    # TensorArrays give the reads and writes cheap gradients (a plain x[t]
    # would build a full-size gradient tensor at every step).
    inputs = [
        tf.TensorArray(x.dtype, size=length, element_shape=x.shape[1:]).unstack(
            x
        )
        for x in xs
    ]
    dtype = tf.nest.flatten(carry)[0].dtype
    out = tuple(tf.TensorArray(dtype, size=length) for _ in range(num_outputs))

    def body(t, c, out):
        c, y = step(c, [ta.read(t) for ta in inputs])
        out = tuple(ta.write(t, v) for ta, v in zip(out, y))
        return t + 1, c, out

    _, carry, out = tf.while_loop(
        lambda t, *_: t < length,
        body,
        (tf.constant(0), carry, out),
        maximum_iterations=length,
    )
    return carry, tuple(ta.stack() for ta in out)


def detach(values):
    """Mark gate values written inside the loop as carrying no gradient.

    On TensorFlow, a loop output that receives no gradient still gets a zero
    gradient tensor at every step of the backward loop, which XLA on CPU
    made 4-7x slower per training step (scripts/bench_layers.py). Gates are
    therefore written without a gradient path and given one back by
    `reattach`. JAX skips zero cotangents by itself: values pass through.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.stop_gradient(values)
    return values


def reattach(values, recompute, inputs):
    """`values`, differentiated as if they were `recompute(*inputs)`.

    `recompute` must give the same values in parallel over time (no loop)
    from the tensors `inputs` alone (weights included, so that their
    gradient flows back through however they were read). It runs only in
    the backward pass, and only when a loss depends on `values`. On JAX
    (see `detach`) the values are returned unchanged.
    """
    if keras.backend.backend() != "tensorflow":
        return values
    import tensorflow as tf

    @tf.custom_gradient
    def attached(*tensors):
        def grad(upstream):
            with tf.GradientTape() as tape:
                tape.watch(tensors)
                again = recompute(*tensors)
            return tape.gradient(again, tensors, output_gradients=upstream)

        return tf.identity(values), grad

    return attached(*inputs)
