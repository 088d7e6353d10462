"""`GatedRNN`: the layer half shared by keras-gates LSTM, GRU and SimpleRNN.

It subclasses `keras.layers.RNN` for the parts users rely on (stateful
state variables, `reset_state`, masks, `Bidirectional` support) and runs
its own time loop, `run`, so that every gate of every step can come out
and be changed where it is computed. `call` is `run` with the gates the
layer was asked for; listeners (`keras_gates.listen`) call `run` with
other arguments instead of setting anything on the layer.
"""

import typing

import keras
from keras import ops

from keras_gates.layers.cell import check_cell_args
from keras_gates.layers.edit import step_edit
from keras_gates.layers.inputs import (
    check_gate_dtype,
    check_sequences,
    initial_states,
)
from keras_gates.layers.kind import register
from keras_gates.layers.loop import check_backend, hoist_input_projection, scan


class Ran(typing.NamedTuple):
    """What one run of a layer's time loop gives.

    Attributes:
        output: the layer's output (the last one, or the sequence with
            `return_sequences`).
        states: the final states, a tuple.
        gates: dict gate name -> (batch, time, units) in the order the
            steps were processed, zero at masked steps; None when not
            asked for.
        valid: bool (batch, time) in the same order, False at masked steps.
    """

    output: typing.Any
    states: tuple
    gates: dict | None
    valid: typing.Any


def keep_states(layer, states):
    """A stateful recurrent layer's state variables take `states`."""
    if layer.stateful:
        for variable, value in zip(layer.states, states):
            variable.assign(value)


def _inside_bidirectional():
    """Whether a `keras.layers.Bidirectional` is running: Keras opens a
    name scope for each layer whose call (or build, or output shape) runs,
    with the layer as the scope's caller."""
    from keras.src.backend.common import global_state

    scopes = global_state.get_global_attribute("name_scope_stack") or ()
    return any(
        isinstance(scope.caller, keras.layers.Bidirectional) for scope in scopes
    )


class GatedRNN(keras.layers.RNN):
    """Base class of the keras-gates recurrent layers (not used directly).

    Subclasses set `cell_class` (a `GateCell` with its `kind`) and
    `cell_name`; defining one registers it as the layer of that kind.
    """

    cell_class = None
    cell_name = None
    # Keras's LSTM and GRU take `use_cudnn` and drop the old
    # `implementation`; its SimpleRNN takes neither.
    takes_cudnn = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Read-only views of the cell's arguments, as the Keras layers have.
        for name in cls.cell_class.argument_names():
            if not hasattr(cls, name):
                view = property(lambda self, n=name: getattr(self.cell, n))
                setattr(cls, name, view)
        register(cls)

    def __init__(
        self,
        units: int,
        return_gates: bool = False,
        gate_dtype: str | None = None,
        **kwargs,
    ):
        owner = type(self).__name__
        check_backend(owner)
        gate_dtype = check_gate_dtype(owner, gate_dtype)
        use_cudnn = "auto"
        if self.takes_cudnn:
            use_cudnn = kwargs.pop("use_cudnn", "auto")
            kwargs.pop("implementation", None)
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"{owner}: argument `use_cudnn` must be 'auto', True or False, "
                f"got {use_cudnn!r}."
            )
        cell_args = {
            name: kwargs.pop(name)
            for name in self.cell_class.argument_names()
            if name in kwargs
        }
        check_cell_args(
            owner, self.cell_class.keras_cell(), (units,), cell_args
        )
        cell = self.cell_class(
            int(units),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=self.cell_name,
            **cell_args,
        )
        super().__init__(cell, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.return_gates = bool(return_gates)
        self._gate_dtype = gate_dtype
        if self.takes_cudnn:
            # Accepted for drop-in use; keras-gates never uses cuDNN.
            self.use_cudnn = use_cudnn

    @property
    def gate_dtype(self) -> str:
        """The dtype of the returned gates: the `gate_dtype` argument, or
        by default the compute dtype. A 16-bit dtype under a float32 policy
        halves the bytes the gates take (about 3 significant digits,
        plenty for monitoring); the states and outputs stay float32."""
        return self._gate_dtype or self.compute_dtype

    @property
    def gate_names(self) -> tuple:
        """Names of the gates returned when `return_gates=True`, in order."""
        return self.cell.gate_names

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        if sequences_shape[-1] is not None:
            self.input_spec = keras.layers.InputSpec(
                ndim=3, axes={-1: sequences_shape[-1]}
            )

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = super().compute_output_shape(sequences_shape)
        if not self.return_gates:
            return shape
        self._refuse_bidirectional()
        gate_shape = (sequences_shape[0], sequences_shape[1], self.cell.units)
        gates = {name: gate_shape for name in self.gate_names}
        if self.return_state:
            return (*shape, gates)
        return shape, gates

    def _refuse_bidirectional(self):
        """Bidirectional merges its halves' outputs and has no place for a
        dict of gates: say so, rather than let the merge fail."""
        if self.return_gates and _inside_bidirectional():
            raise ValueError(
                f"{type(self).__name__} layer '{self.name}' with "
                "return_gates=True cannot be wrapped in Bidirectional, which "
                "merges outputs and has no place for the gates. Wrap it with "
                "return_gates=False and take the gates with "
                "keras_gates.gates(model, x) (both halves, named "
                "'<name>/forward' and '<name>/backward'), or use two layers, "
                "one with go_backwards=True, and merge their outputs yourself."
            )

    def compute_mask(self, sequences, mask):
        output_mask = super().compute_mask(sequences, mask)
        if not self.return_gates:
            return output_mask
        if not isinstance(output_mask, list):
            output_mask = [output_mask]
        return output_mask + [None] * len(self.gate_names)

    def compute_output_spec(self, sequences, *args, **kwargs):
        check_sequences(self, sequences, kwargs.get("mask"))
        spec = super().compute_output_spec(sequences, *args, **kwargs)
        if not self.return_gates:
            return spec
        gates = {
            name: keras.KerasTensor(g.shape, dtype=self.gate_dtype)
            for name, g in spec[-1].items()
        }
        return (*spec[:-1], gates)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._refuse_bidirectional()
        ran = self.run(
            sequences, initial_state, mask, training, gates=self.return_gates
        )
        keep_states(self, ran.states)
        return self.result(ran, self.return_gates)

    def result(self, ran: Ran, with_gates: bool):
        """What `call` returns for a `Ran`: the output, then the final
        states with `return_state`, then the gates with `with_gates`."""
        result = [ran.output]
        if self.return_state:
            result.extend(ran.states)
        if with_gates:
            result.append(ran.gates)
        return result[0] if len(result) == 1 else tuple(result)

    def run(
        self,
        sequences,
        initial_state=None,
        mask=None,
        training: bool = False,
        *,
        gates: bool = False,
        rows: int | None = None,
        edits: dict | None = None,
        gradient: bool = True,
    ) -> Ran:
        """Run the time loop; returns a `Ran`. Changes nothing (the states
        of a stateful layer are kept by `call`, with `keep_states`).

        Args:
            sequences: (batch, time, features).
            initial_state: optional list of (batch, units) states; default
                zeros, or the state variables of a stateful layer.
            mask: optional bool (batch, time), False at padding steps.
            training: whether dropout is active.
            gates: also give every gate of every step, in `gate_dtype`,
                differentiable.
            rows: with `gates`, only those of the first `rows` sequences,
                without a gradient (for statistics).
            edits: optional dict gate name -> `keras_gates.Set` or
                `keras_gates.Scale`, applied inside the loop where the gate
                is computed.
            gradient: False when nothing will be differentiated (a probe;
                see `loop.scan`).
        """
        mask = check_sequences(self, sequences, mask)
        sequences = ops.cast(sequences, self.compute_dtype)
        states = initial_states(self, sequences, initial_state)
        cell, edits = self.cell, edits or {}
        weights = cell.weight_values()
        dropout, recurrent = cell.step_masks(
            sequences[:, 0, :], states[0], training
        )
        # Time-major, in the order the steps are processed.
        inputs = ops.transpose(sequences, (1, 0, 2))
        valid = ops.ones(ops.shape(inputs)[:2], "bool")
        if mask is not None:
            valid = ops.transpose(ops.cast(mask, "bool"))
        if self.go_backwards:
            inputs, valid = ops.flip(inputs, 0), ops.flip(valid, 0)
        hoist = hoist_input_projection()
        if hoist:
            inputs = cell.project_inputs(inputs, weights, dropout)
        xs = {"x": inputs}
        if mask is not None:
            xs["valid"] = ops.expand_dims(valid, -1)
        for name, edit in edits.items():
            xs[f"{name}/where"], xs[f"{name}/value"] = edit.tensors(
                ops.shape(inputs)[0], cell.units, self.compute_dtype
            )
        emit, read = self._writes(gates, rows, mask is not None)

        def step(carry, x_t, params):
            w = dict(zip(weights, params))
            z = x_t["x"] if hoist else cell.project_inputs(x_t["x"], w, dropout)
            edit = step_edit(edits, x_t)
            new, gate_values = cell.recur(z, carry, w, recurrent, edit)
            if mask is not None:
                new = [
                    ops.where(x_t["valid"], n, c) for n, c in zip(new, carry)
                ]
            new = tuple(new)
            return new, emit(new, gate_values)

        final, ys = scan(
            step, states, xs, tuple(weights.values()), self.unroll, gradient
        )
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()
        hidden, gate_seqs = read(ys)
        output = self._last_output(final[0], xs.get("valid"))
        if self.return_sequences:
            output = ops.transpose(
                self._output_sequence(hidden, xs.get("valid")), (1, 0, 2)
            )
        valid = ops.transpose(valid)  # (batch, time)
        if gate_seqs is None:
            return Ran(output, final, None, valid)
        gate_seqs = [ops.transpose(g, (1, 0, 2)) for g in gate_seqs]
        if mask is not None:  # zero at masked steps
            kept = ops.expand_dims(valid[:rows], -1)
            gate_seqs = [ops.where(kept, g, 0) for g in gate_seqs]
        return Ran(output, final, dict(zip(self.gate_names, gate_seqs)), valid)

    def _writes(self, gates, rows, masked):
        """What each step writes, `emit(new states, gates)`, and `read`,
        which gives back (hidden states per step or None, gates per step
        or None), all time-major.

        Without gates a step writes its hidden state when the output
        sequence needs it. With all gates it writes every gate in
        `gate_dtype`, and the `hidden` gate doubles as the output sequence
        unless its dtype differs or a mask makes the output carry states
        over masked steps. With `rows` it writes the gates of the first
        `rows` sequences, without a gradient, next to the usual output.
        """
        sequence, dtype = self.return_sequences, self.gate_dtype
        if not gates:
            return (
                lambda new, _: new[:1] if sequence else (),
                lambda ys: (ys[0] if sequence else None, None),
            )
        if rows is None:
            apart = int(sequence and (dtype != self.compute_dtype or masked))
            hidden = self.gate_names.index("hidden")

            def emit(new, values):
                return new[:apart] + tuple(ops.cast(v, dtype) for v in values)

            def read(ys):
                gate_seqs = ys[apart:]
                return (ys[0] if apart else gate_seqs[hidden]), gate_seqs

            return emit, read
        sequence = int(sequence)

        def emit_rows(new, values):
            kept = (
                ops.stop_gradient(ops.cast(v[:rows], dtype)) for v in values
            )
            return new[:sequence] + tuple(kept)

        return emit_rows, lambda ys: (
            ys[0] if sequence else None,
            ys[sequence:],
        )

    def _output_sequence(self, hidden, mask):
        """Outputs per step from the (masked) hidden states, time-major.

        Keras repeats the last output over masked steps (zeros before the
        first valid step), or writes zeros there with `zero_output_for_mask`.
        """
        if mask is None:
            return hidden
        if self.zero_output_for_mask:
            return ops.where(mask, hidden, 0)
        seen = ops.cumsum(ops.cast(mask, "int32"), axis=0) > 0
        return ops.where(seen, hidden, 0)

    def _last_output(self, hidden, mask):
        if mask is None:
            return hidden
        if self.zero_output_for_mask:
            return ops.where(mask[-1], hidden, 0)
        return ops.where(ops.any(mask, axis=0), hidden, 0)

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for name in self.cell_class.argument_names():
            config[name] = cell_config[name]
        config["activity_regularizer"] = keras.regularizers.serialize(
            self.activity_regularizer
        )
        config["return_gates"] = self.return_gates
        config["gate_dtype"] = self._gate_dtype
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
