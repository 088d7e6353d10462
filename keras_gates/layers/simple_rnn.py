"""Transparent SimpleRNN: the Keras SimpleRNN that also returns its states."""

import keras

from keras_gates.layers.base import GatedRNN
from keras_gates.layers.cell import GateCell, keep, masked_matmul
from keras_gates.layers.kind import CellKind, Gate

KIND = CellKind(
    name="SimpleRNN",
    stock_cell=keras.layers.SimpleRNNCell,
    gates=(Gate("hidden", "state", (-1.0, 1.0)),),
    states=("hidden",),
    layers=(("hidden", "activation"),),
    operators=(),
    figures=("rnn_cell",),
)

_GATE_EQUATIONS = """
    With `act` the `activation` (one neural-network layer, (D_x + units) ->
    units, and no gate):

    ```
    hidden = act(x_t W + h_{t-1} U + b)   # h_t
    ```
"""


@keras.saving.register_keras_serializable(package="keras_gates")
class SimpleRNNCell(GateCell, keras.layers.SimpleRNNCell):
    __doc__ = f"""One SimpleRNN step that can also report its hidden state.

    A drop-in replacement for `keras.layers.SimpleRNNCell`.
    {_GATE_EQUATIONS}
    Args:
        units: positive int, size of `h`.
        **kwargs: every argument of `keras.layers.SimpleRNNCell`, with its
            default (`activation="tanh"`, `use_bias=True`, `dropout=0.0`,
            `recurrent_dropout=0.0`, initializers, regularizers,
            constraints, `seed=None`).

    Call arguments:
        inputs: (batch, features) tensor.
        states: `[h_{{t-1}}]` (or the bare tensor), (batch, units).
        training: whether dropout is active.

    Returns:
        `(h_t, [h_t])`; `step_with_gates` adds `{{"hidden": h_t}}`.

    Example:

    >>> import numpy as np
    >>> cell = SimpleRNNCell(3)
    >>> cell.build((2, 4))
    >>> h, states, gates = cell.step_with_gates(
    ...     np.ones((2, 4), "float32"), [np.zeros((2, 3), "float32")])
    >>> list(gates)
    ['hidden']
    """

    kind = KIND
    drops_everything_at_rate_one = True

    def recur(self, z, states, weights, recurrent_mask=None, edit=keep):
        rec = masked_matmul(
            states[0], weights["recurrent_kernel"], recurrent_mask
        )
        h = edit("hidden", self.activation(z + rec))
        return [h], (h,)


@keras.saving.register_keras_serializable(package="keras_gates")
class SimpleRNN(GatedRNN):
    __doc__ = f"""Fully connected RNN layer that can return its hidden states.

    A drop-in replacement for `keras.layers.SimpleRNN` with the same
    arguments, weights and outputs.
    {_GATE_EQUATIONS}
    Args:
        units: positive int, size of the hidden state.
        return_gates: bool, default False. Also return `{{"hidden": h}}`
            with h of shape (batch, time, units) as the last output.
        gate_dtype: dtype of the returned gates, default None (the compute
            dtype). "float16" or "bfloat16" under a float32 policy halves
            the bytes of the gates; states and outputs stay float32.
        **kwargs: every other argument of `keras.layers.SimpleRNN`, with
            the same defaults: `activation="tanh"`, `use_bias=True`,
            initializers, regularizers (also `activity_regularizer`),
            constraints, `dropout=0.0`, `recurrent_dropout=0.0`,
            `seed=None`, `return_sequences=False`, `return_state=False`,
            `go_backwards=False`, `stateful=False`, `unroll=False`.

    Call arguments:
        sequences: float tensor (batch, time, features).
        initial_state: optional `[h_0]`, (batch, units).
        mask: optional bool (batch, time); False marks padding steps.
        training: whether dropout is active.

    Returns:
        As `keras.layers.SimpleRNN`, followed, with `return_gates=True`, by
        `{{"hidden": (batch, time, units)}}` in processing order, zero at
        masked steps.

    Example:

    >>> import numpy as np
    >>> layer = SimpleRNN(3, return_gates=True)
    >>> output, gates = layer(np.ones((2, 5, 4), "float32"))
    >>> tuple(gates["hidden"].shape)
    (2, 5, 3)
    """

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
    takes_cudnn = False
