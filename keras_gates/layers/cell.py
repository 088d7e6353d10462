"""What every keras-gates cell adds to its Keras cell: gates out of one step.

A keras-gates cell subclasses the Keras cell of the same name, so it creates
the same weights (`kernel`, `recurrent_kernel`, `bias`, in that order, with
the same shapes and gate column order) and has the same config. Its step
is split into two parts that the layers' time loop reuses, each taking the
weights as an argument (a dict from `weight_values()`):

- `project_inputs(x, weights)`: the input half of every gate
  pre-activation, `x W + b`, for one step or a whole time-major sequence;
- `recur(z, states, weights, edit=...)`: the recurrent half, `h_{t-1} U`,
  and the point-wise gate math; returns the new states and every gate, in
  the order of the kind's gate names. `edit(name, value)` may change each
  gate where it is computed (see `keras_gates.layers.edit`).
"""

import inspect
import numbers

import keras
from keras import ops


def check_cell_args(owner, keras_cell, args, kwargs):
    """Validate a cell's constructor arguments, naming `owner` in errors.

    Keras reports these as generic messages (or not at all); a user of a
    model with several RNN layers needs to know which one was wrong.
    """
    bound = inspect.signature(keras_cell.__init__).bind(None, *args, **kwargs)
    values = bound.arguments
    units = values.get("units")
    if isinstance(units, bool) or not isinstance(units, numbers.Integral):
        raise TypeError(
            f"{owner}: argument `units` must be a positive integer, got "
            f"{units!r} of type {type(units).__name__}."
        )
    if units <= 0:
        raise ValueError(
            f"{owner}: argument `units` must be a positive integer, got "
            f"{units}."
        )
    for name in ("activation", "recurrent_activation"):
        value = values.get(name)
        if value is None or callable(value):
            continue
        try:
            keras.activations.get(value)
        except (ValueError, TypeError):
            raise ValueError(
                f"{owner}: argument `{name}` must be a Keras activation name "
                f"(such as 'tanh' or 'sigmoid') or a callable, got {value!r}."
            ) from None


def masked_matmul(x, kernel, mask):
    """`x @ kernel` with dropout: one mask for all columns or one per block.

    Keras cells use one mask for the whole kernel, or (with recurrent
    dropout) a list with one mask per gate, each applied to that gate's
    column block.
    """
    if isinstance(mask, (list, tuple)):
        blocks = ops.split(kernel, len(mask), axis=1)
        return ops.concatenate(
            [ops.matmul(x * m, k) for m, k in zip(mask, blocks)], axis=-1
        )
    if mask is not None:
        x = x * mask
    return ops.matmul(x, kernel)


def keep(name, value):
    """The edit that changes nothing."""
    return value


class GateCell:
    """Mixin for keras-gates cells; put it before the Keras cell class.

    Subclasses set `kind` (their `CellKind`) and define `recur()`, and may
    override `input_bias()`. `gate_names` and `sigmoid_gates` come from the
    kind: the sigmoid gates are computed by `recurrent_activation` (sigmoid
    by default) and used as multipliers.
    """

    kind = None
    # Keras's LSTM and GRU cells skip dropout at a rate of 1; its
    # SimpleRNN cell applies it (all zeros).
    drops_everything_at_rate_one = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind is not None:
            cls.gate_names = cls.kind.gate_names
            cls.sigmoid_gates = cls.kind.sigmoid_gates

    def __init__(self, units, *args, **kwargs):
        check_cell_args(
            type(self).__name__, self.keras_cell(), (units, *args), kwargs
        )
        super().__init__(int(units), *args, **kwargs)

    @classmethod
    def keras_cell(cls):
        """The Keras cell class this cell extends."""
        return cls.__mro__[cls.__mro__.index(GateCell) + 1]

    @classmethod
    def argument_names(cls):
        """The names of the Keras cell's constructor arguments."""
        params = inspect.signature(cls.keras_cell().__init__).parameters
        return [
            name
            for name, p in params.items()
            if name != "self" and p.kind is not p.VAR_KEYWORD
        ]

    def weight_values(self):
        """`{name: tensor}` of the weights the cell has (`kernel`,
        `recurrent_kernel`, `bias`), in the compute dtype.

        Keras casts weights only inside a layer's `__call__`; the layers
        also run this math from `stateless_call`, and read the weights once
        per call rather than at every step.
        """
        names = ("kernel", "recurrent_kernel", "bias")
        return {
            name: ops.cast(getattr(self, name), self.compute_dtype)
            for name in names
            if getattr(self, name) is not None
        }

    def input_bias(self, weights):
        """The bias added to the input projection, or None."""
        return weights.get("bias")

    def project_inputs(self, x, weights, dropout_mask=None):
        """`x W + b` for inputs of shape (..., D); returns (..., G*units)."""
        z = masked_matmul(x, weights["kernel"], dropout_mask)
        bias = self.input_bias(weights)
        return z if bias is None else z + bias

    def recur(self, z, states, weights, recurrent_mask=None, edit=keep):
        """One step from its input projection `z`: `(new states, gates)`,
        the gates a tuple in the order of `gate_names`."""
        raise NotImplementedError

    def step_masks(self, batch_input, state, training):
        """The dropout masks of one call: (input mask, recurrent mask).

        Masks are drawn once per call and reused at every step, as in Keras.
        Like the Keras layers, they are drawn whenever a rate is positive
        and used only in training, so that equal seeds give equal masks.
        Either is None when unused.
        """
        dropout = recurrent = None
        if self.dropout > 0:
            dropout = self.get_dropout_mask(batch_input)
        if self.recurrent_dropout > 0:
            recurrent = self.get_recurrent_dropout_mask(state)
        if not training:
            return None, None
        applies = self.drops_everything_at_rate_one
        return (
            dropout if applies or self.dropout < 1 else None,
            recurrent if applies or self.recurrent_dropout < 1 else None,
        )

    def step_with_gates(self, inputs, states, training: bool = False):
        """One step: returns `(output, new_states, gates)`.

        `gates` maps each name of `gate_names` to a (batch, units) tensor.
        """
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        dropout, recurrent = self.step_masks(inputs, states[0], training)
        weights = self.weight_values()
        z = self.project_inputs(inputs, weights, dropout)
        new_states, gates = self.recur(z, states, weights, recurrent)
        return new_states[0], new_states, dict(zip(self.gate_names, gates))

    def call(self, inputs, states, training=False):
        output, new_states, _ = self.step_with_gates(inputs, states, training)
        if not isinstance(states, (list, tuple)):
            return output, new_states[0]
        return output, new_states
