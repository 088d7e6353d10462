"""Transparent GRU: the Keras GRU that also returns its gates."""

import keras
from keras import ops

from keras_gates.layers.base import GatedRNN
from keras_gates.layers.cell import GateCell, keep, masked_matmul
from keras_gates.layers.kind import CellKind, Gate

KIND = CellKind(
    name="GRU",
    stock_cell=keras.layers.GRUCell,
    gates=(
        Gate("update", "gate", (0.0, 1.0)),
        Gate("reset", "gate", (0.0, 1.0)),
        Gate("candidate", "layer", (-1.0, 1.0)),
        Gate("hidden", "state", (-1.0, 1.0)),
    ),
    states=("hidden",),
    layers=(
        ("update gate", "recurrent_activation"),
        ("reset gate", "recurrent_activation"),
        ("candidate", "activation"),
    ),
    operators=(
        "reset * h_{t-1} (inside the candidate layer)",
        "1 - update",
        "update * h_{t-1}",
        "(1 - update) * candidate",
        "h_t = update * h_{t-1} + (1 - update) * candidate",
    ),
    figures=("lstm_vs_gru",),
    compared_with="LSTM",
)

_GATE_EQUATIONS = """
    With `W`, `U` the column blocks of `kernel` and `recurrent_kernel`
    (Keras order z, r, h), `b` the input bias and `b'` the recurrent bias
    (rows 0 and 1 of `bias` when `reset_after=True`), `sigma` the
    `recurrent_activation` and `act` the `activation`:

    ```
    update    = sigma(x_t W_z + h_{t-1} U_z + b_z + b'_z)
    reset     = sigma(x_t W_r + h_{t-1} U_r + b_r + b'_r)
    candidate = act(x_t W_h + reset * (h_{t-1} U_h + b'_h) + b_h)
                # reset_after=False: act(x_t W_h + (reset * h_{t-1}) U_h + b_h)
    hidden    = update * h_{t-1} + (1 - update) * candidate   # h_t
    ```

    The update gate merges LSTM's forget and input gates through the
    "1 -" operator, the reset gate acts on the prior state, and there is no
    output gate: three neural-network layers to LSTM's four.
"""


@keras.saving.register_keras_serializable(package="keras_gates")
class GRUCell(GateCell, keras.layers.GRUCell):
    __doc__ = f"""One GRU step that can also report its gates.

    A drop-in replacement for `keras.layers.GRUCell`: same arguments, same
    weights, same outputs; `step_with_gates` also returns the gates.
    {_GATE_EQUATIONS}
    Args:
        units: positive int, size of `h`.
        **kwargs: every argument of `keras.layers.GRUCell`, with its
            default (`activation="tanh"`, `recurrent_activation="sigmoid"`,
            `use_bias=True`, `reset_after=True`, `dropout=0.0`,
            `recurrent_dropout=0.0`, initializers, regularizers,
            constraints, `seed=None`).

    Call arguments:
        inputs: (batch, features) tensor.
        states: `[h_{{t-1}}]` (or the bare tensor), (batch, units).
        training: whether dropout is active.

    Returns:
        `(h_t, [h_t])`, as the Keras cell; `step_with_gates` returns
        `(h_t, [h_t], gates)` with the keys of `gate_names`.

    Example:

    >>> import numpy as np
    >>> cell = GRUCell(3)
    >>> cell.build((2, 4))
    >>> h, states, gates = cell.step_with_gates(
    ...     np.ones((2, 4), "float32"), [np.zeros((2, 3), "float32")])
    >>> list(gates)
    ['update', 'reset', 'candidate', 'hidden']
    """

    kind = KIND

    def input_bias(self, weights):
        bias = weights.get("bias")
        if bias is None or not self.reset_after:
            return bias
        return bias[0]

    def recur(self, z, states, weights, recurrent_mask=None, edit=keep):
        h = states[0]
        z_z, z_r, z_h = ops.split(z, 3, axis=-1)
        sigma, act = self.recurrent_activation, self.activation
        kernel = weights["recurrent_kernel"]
        if self.reset_after:
            rec = masked_matmul(h, kernel, recurrent_mask)
            if "bias" in weights:
                rec = rec + weights["bias"][1]
            rec_z, rec_r, rec_h = ops.split(rec, 3, axis=-1)
            update = edit("update", sigma(z_z + rec_z))
            reset = edit("reset", sigma(z_r + rec_r))
            candidate = edit("candidate", act(z_h + reset * rec_h))
        else:
            split = 2 * self.units
            gate_mask, candidate_mask = recurrent_mask, None
            if isinstance(recurrent_mask, (list, tuple)):
                gate_mask, candidate_mask = (
                    recurrent_mask[:2],
                    recurrent_mask[2],
                )
            rec = masked_matmul(h, kernel[:, :split], gate_mask)
            rec_z, rec_r = ops.split(rec, 2, axis=-1)
            update = edit("update", sigma(z_z + rec_z))
            reset = edit("reset", sigma(z_r + rec_r))
            candidate = edit(
                "candidate",
                act(
                    z_h
                    + masked_matmul(
                        reset * h, kernel[:, split:], candidate_mask
                    )
                ),
            )
        h = edit("hidden", update * h + (1.0 - update) * candidate)
        return [h], (update, reset, candidate, h)


@keras.saving.register_keras_serializable(package="keras_gates")
class GRU(GatedRNN):
    __doc__ = f"""Gated Recurrent Unit layer that can return every gate.

    A drop-in replacement for `keras.layers.GRU`: the same arguments, the
    same weights (`set_weights` and `.weights.h5` files move both ways) and
    the same outputs. It never uses cuDNN, so `jit_compile=True` keeps XLA.
    {_GATE_EQUATIONS}
    Args:
        units: positive int, size of the hidden state.
        return_gates: bool, default False. Also return a dict of per-step
            gate tensors as the last output.
        gate_dtype: dtype of the returned gates, default None (the compute
            dtype). "float16" or "bfloat16" under a float32 policy halves
            the bytes of the gates; states and outputs stay float32.
        use_cudnn: accepted for compatibility ("auto", True or False); it
            has no effect.
        **kwargs: every other argument of `keras.layers.GRU`, with the same
            defaults: `activation="tanh"`, `recurrent_activation="sigmoid"`,
            `use_bias=True`, initializers, regularizers (also
            `activity_regularizer`), constraints, `dropout=0.0`,
            `recurrent_dropout=0.0`, `seed=None`, `return_sequences=False`,
            `return_state=False`, `go_backwards=False`, `stateful=False`,
            `unroll=False`, `reset_after=True`.

    Call arguments:
        sequences: float tensor (batch, time, features).
        initial_state: optional `[h_0]`, (batch, units).
        mask: optional bool (batch, time); False marks padding steps.
        training: whether dropout is active.

    Returns:
        As `keras.layers.GRU` (`output`, then `h` with `return_state`),
        followed, with `return_gates=True`, by a dict with keys `update`,
        `reset`, `candidate`, `hidden`, each (batch, time, units) whatever
        `return_sequences` is, in processing order (reversed under
        `go_backwards`), zero at masked steps.

    Example:

    >>> import numpy as np
    >>> layer = GRU(3, return_sequences=True, return_gates=True)
    >>> output, gates = layer(np.ones((2, 5, 4), "float32"))
    >>> tuple(output.shape), tuple(gates["update"].shape)
    ((2, 5, 3), (2, 5, 3))
    """

    cell_class = GRUCell
    cell_name = "gru_cell"
