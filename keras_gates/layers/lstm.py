"""Transparent LSTM: the Keras LSTM that also returns its gates."""

import keras
from keras import ops

from keras_gates.layers.base import GatedRNN
from keras_gates.layers.cell import GateCell, keep, masked_matmul
from keras_gates.layers.kind import CellKind, Gate

KIND = CellKind(
    name="LSTM",
    stock_cell=keras.layers.LSTMCell,
    gates=(
        Gate("input", "gate", (0.0, 1.0)),
        Gate("forget", "gate", (0.0, 1.0)),
        Gate("candidate", "layer", (-1.0, 1.0)),
        Gate("output", "gate", (0.0, 1.0)),
        Gate("cell", "state", None),
        Gate("hidden", "state", (-1.0, 1.0)),
    ),
    states=("hidden", "cell"),
    layers=(
        ("input gate", "recurrent_activation"),
        ("forget gate", "recurrent_activation"),
        ("candidate", "activation"),
        ("output gate", "recurrent_activation"),
    ),
    operators=(
        "forget * c_{t-1}",
        "input * candidate",
        "c_t = forget * c_{t-1} + input * candidate",
        "activation(c_t)",
        "h_t = output * activation(c_t)",
    ),
    figures=("lstm_gates", "lstm_dimensions", "lstm_vs_gru"),
)

_GATE_EQUATIONS = """
    With `W`, `U`, `b` the column blocks of `kernel`, `recurrent_kernel` and
    `bias` (Keras order i, f, c, o), `sigma` the `recurrent_activation` and
    `act` the `activation`:

    ```
    input     = sigma(x_t W_i + h_{t-1} U_i + b_i)  # gates the candidate
    forget    = sigma(x_t W_f + h_{t-1} U_f + b_f)  # gates c_{t-1}
    candidate = act(x_t W_c + h_{t-1} U_c + b_c)    # new information
    output    = sigma(x_t W_o + h_{t-1} U_o + b_o)  # gates the output
    cell      = forget * c_{t-1} + input * candidate        # c_t
    hidden    = output * act(cell)                          # h_t
    ```

    Four neural-network layers ((D_x + units) -> units each) and three
    multiplications; `act(cell)` is an operator with no weights.
"""


@keras.saving.register_keras_serializable(package="keras_gates")
class LSTMCell(GateCell, keras.layers.LSTMCell):
    __doc__ = f"""One LSTM step that can also report its gates.

    A drop-in replacement for `keras.layers.LSTMCell`: same arguments, same
    weights, same outputs; `step_with_gates` also returns the gates.
    {_GATE_EQUATIONS}
    Args:
        units: positive int, size of `h` and `c`.
        **kwargs: every argument of `keras.layers.LSTMCell`, with its
            default (`activation="tanh"`, `recurrent_activation="sigmoid"`,
            `use_bias=True`, `unit_forget_bias=True`, `dropout=0.0`,
            `recurrent_dropout=0.0`, initializers, regularizers,
            constraints, `seed=None`).

    Call arguments:
        inputs: (batch, features) tensor.
        states: `[h_{{t-1}}, c_{{t-1}}]`, each (batch, units).
        training: whether dropout is active.

    Returns:
        `(h_t, [h_t, c_t])`, as the Keras cell; `step_with_gates` returns
        `(h_t, [h_t, c_t], gates)` with the keys of `gate_names`.

    Example:

    >>> import numpy as np
    >>> cell = LSTMCell(3)
    >>> cell.build((2, 4))
    >>> h, states, gates = cell.step_with_gates(
    ...     np.ones((2, 4), "float32"), [np.zeros((2, 3), "float32")] * 2)
    >>> sorted(gates) == sorted(cell.gate_names)
    True
    """

    kind = KIND

    def recur(self, z, states, weights, recurrent_mask=None, edit=keep):
        h, c = states
        z = z + masked_matmul(h, weights["recurrent_kernel"], recurrent_mask)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        sigma, act = self.recurrent_activation, self.activation
        i = edit("input", sigma(z_i))
        f = edit("forget", sigma(z_f))
        g = edit("candidate", act(z_c))
        o = edit("output", sigma(z_o))
        c = edit("cell", f * c + i * g)
        h = edit("hidden", o * act(c))
        return [h, c], (i, f, g, o, c, h)


@keras.saving.register_keras_serializable(package="keras_gates")
class LSTM(GatedRNN):
    __doc__ = f"""Long Short-Term Memory layer that can return every gate.

    A drop-in replacement for `keras.layers.LSTM`: the same arguments, the
    same weights (`set_weights` and `.weights.h5` files move both ways) and
    the same outputs. It never uses cuDNN, so `jit_compile=True` keeps XLA.
    {_GATE_EQUATIONS}
    Args:
        units: positive int, size of the hidden and cell states.
        return_gates: bool, default False. Also return a dict of per-step
            gate tensors as the last output.
        gate_dtype: dtype of the returned gates, default None (the compute
            dtype). "float16" or "bfloat16" under a float32 policy halves
            the bytes of the gates; states and outputs stay float32.
        use_cudnn: accepted for compatibility ("auto", True or False); it
            has no effect.
        **kwargs: every other argument of `keras.layers.LSTM`, with the same
            defaults: `activation="tanh"`, `recurrent_activation="sigmoid"`,
            `use_bias=True`, initializers, `unit_forget_bias=True`,
            regularizers (also `activity_regularizer`), constraints,
            `dropout=0.0`, `recurrent_dropout=0.0`, `seed=None`,
            `return_sequences=False`, `return_state=False`,
            `go_backwards=False`, `stateful=False`, `unroll=False`.

    Call arguments:
        sequences: float tensor (batch, time, features).
        initial_state: optional `[h_0, c_0]`, each (batch, units).
        mask: optional bool (batch, time); False marks padding steps.
        training: whether dropout is active.

    Returns:
        As `keras.layers.LSTM` (`output`, then `h, c` with
        `return_state`), followed, with `return_gates=True`, by a dict with
        keys `input`, `forget`, `candidate`, `output`, `cell`, `hidden`,
        each (batch, time, units) whatever `return_sequences` is, in the
        order the steps were processed (reversed under `go_backwards`),
        zero at masked steps.

    Example:

    >>> import numpy as np
    >>> layer = LSTM(3, return_gates=True)
    >>> output, gates = layer(np.ones((2, 5, 4), "float32"))
    >>> tuple(output.shape), tuple(gates["forget"].shape)
    ((2, 3), (2, 5, 3))
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"
