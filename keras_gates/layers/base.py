"""`GatedRNN`: the layer half shared by keras-gates LSTM, GRU and SimpleRNN.

It subclasses `keras.layers.RNN` for the parts users rely on (stateful
state variables, `reset_state`, masks, `Bidirectional` support) and runs
its own time loop so that every gate of every step can come out.

Layout of the loop: inputs are made time-major (and flipped under
`go_backwards`), optionally projected by the input kernel for all steps at
once, and scanned. Each step writes one packed tensor `[gate_1 | ... |
gate_G]` of shape (batch, G*units) whose last block is the hidden state
after masking; the output sequence and the gate dict are both cut from it
after the loop, so the gates cost one write per step.
"""

import sys

import keras
from keras import ops

from keras_gates.layers.cell import check_cell_args
from keras_gates.layers.loop import check_backend, detach, reattach, scan


def _hoist_input_projection():
    """Whether to project every step's input before the loop.

    Measured on CPU (README, "Speed"): projecting inside the loop is faster
    on both backends (hoisting cost 1.5x under XLA on TensorFlow and 1.3-1.9x
    on JAX). On GPUs one large matmul before the loop is the known win
    (cuDNN does it); that branch is taken on faith, not yet measured here.
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() == "gpu"
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def numeric(dtype):
    """Whether a (standardized) dtype holds numbers a layer can take."""
    return dtype == "bool" or dtype.startswith(("float", "int", "uint", "bf"))


class GatedRNN(keras.layers.RNN):
    """Base class of the keras-gates recurrent layers (not used directly).

    Subclasses set `cell_class` (a `GateCell`) and `cell_name`.
    """

    cell_class = None
    cell_name = None
    # Keras's LSTM and GRU take `use_cudnn` and drop the old
    # `implementation`; its SimpleRNN takes neither.
    takes_cudnn = True
    # Set only while `keras_gates.probe.listen` runs the layer for training
    # statistics: with `return_gates`, the gates of the first `_gate_rows`
    # sequences alone, written inside the loop, without a gradient.
    _gate_rows = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Read-only views of the cell's arguments, as the Keras layers have.
        for name in cls.cell_class.argument_names():
            if not hasattr(cls, name):
                view = property(lambda self, n=name: getattr(self.cell, n))
                setattr(cls, name, view)

    def __init__(self, units, return_gates=False, **kwargs):
        owner = type(self).__name__
        check_backend(owner)
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
        if self.takes_cudnn:
            # Accepted for drop-in use; keras-gates never uses cuDNN.
            self.use_cudnn = use_cudnn

    @property
    def gate_names(self):
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
        # Bidirectional merges its halves' outputs and cannot carry a dict
        # of gates; it asks this shape first, so say so here.
        caller = sys._getframe(1).f_locals.get("self")
        if isinstance(caller, keras.layers.Bidirectional):
            raise ValueError(
                f"{type(self).__name__} layer '{self.name}' with "
                "return_gates=True cannot be wrapped in Bidirectional, which "
                "merges outputs and has no place for the gates. Wrap it with "
                "return_gates=False and take the gates with "
                "keras_gates.gates(model, x) (both halves, named "
                "'<name>/forward' and '<name>/backward'), or use two layers, "
                "one with go_backwards=True, and merge their outputs yourself."
            )
        gate_shape = (sequences_shape[0], sequences_shape[1], self.cell.units)
        gates = {name: gate_shape for name in self.gate_names}
        if self.return_state:
            return (*shape, gates)
        return shape, gates

    def compute_mask(self, sequences, mask):
        output_mask = super().compute_mask(sequences, mask)
        if not self.return_gates:
            return output_mask
        if not isinstance(output_mask, list):
            output_mask = [output_mask]
        return output_mask + [None] * len(self.gate_names)

    def _check_inputs(self, sequences, mask=None):
        """Numbers of shape (batch, time > 0, features), and a mask of
        shape (batch, time) or (batch, time, 1); returns the mask as
        (batch, time). Integer and bool inputs are cast, as Keras does."""
        owner = f"{type(self).__name__} layer '{self.name}'"
        dtype = keras.backend.standardize_dtype(sequences.dtype)
        if not numeric(dtype):
            raise TypeError(
                f"{owner} expects numbers of shape (batch, time, features), "
                f"got dtype {dtype}."
            )
        if sequences.shape[1] == 0:
            raise ValueError(
                f"{owner} needs at least one time step; got inputs of shape "
                f"{tuple(sequences.shape)}."
            )
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is None:
            return None
        shape = tuple(mask.shape)
        if len(shape) == 3 and shape[-1] == 1:
            mask, shape = ops.squeeze(mask, -1), shape[:2]
        fits = len(shape) == 2 and all(
            m is None or s is None or m == s
            for m, s in zip(shape, sequences.shape[:2])
        )
        if not fits:
            raise ValueError(
                f"{owner} expects a mask of shape (batch, time) = "
                f"{tuple(sequences.shape[:2])} (or with a last axis of 1); "
                f"got {shape}."
            )
        return mask

    def compute_output_spec(self, sequences, *args, **kwargs):
        self._check_inputs(sequences, kwargs.get("mask"))
        return super().compute_output_spec(sequences, *args, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        mask = self._check_inputs(sequences, mask)
        # Layer.__call__ casts inputs; stateless_call does not.
        sequences = ops.cast(sequences, self.compute_dtype)
        states = self._initial_states(sequences, initial_state)
        # The weights, in the compute dtype, are read once per call rather
        # than at every step of the loop.
        weights = self.cell.weight_values()
        with self.cell.bound_weights(weights):
            output, states, gates = self._run(
                sequences, states, mask, training, weights
            )
        if self.stateful:
            for variable, value in zip(self.states, states):
                variable.assign(value)
        result = [output]
        if self.return_state:
            result.extend(states)
        if self.return_gates:
            result.append(gates)
        return result[0] if len(result) == 1 else tuple(result)

    def _initial_states(self, sequences, initial_state):
        """The initial states as a tuple of tensors in the compute dtype."""
        owner = f"{type(self).__name__} layer '{self.name}'"
        batch = ops.shape(sequences)[0]
        if self.stateful:
            expected = self._expected_batch_size
            if expected is not None and sequences.shape[0] not in (
                None,
                expected,
            ):
                raise ValueError(
                    f"{owner} is stateful with batch size {expected}; got "
                    f"inputs with batch size {sequences.shape[0]}."
                )
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                initial_state = self.cell.get_initial_state(batch_size=batch)
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if len(initial_state) != len(self.state_size):
            raise ValueError(
                f"{owner} expects {len(self.state_size)} initial state "
                f"tensor(s) of shape (batch, {self.cell.units}); got "
                f"{len(initial_state)}."
            )
        dtype, units = self.cell.compute_dtype, self.cell.units
        states = [ops.convert_to_tensor(s, dtype) for s in initial_state]
        # A state of shape (units,) or (1, units) serves the whole batch.
        return tuple(
            ops.broadcast_to(s, (batch, units))
            if len(s.shape) == 1 or s.shape[0] == 1
            else s
            for s in states
        )

    def _run(self, sequences, states, mask, training, weights):
        """The time loop: returns (output, final states, gate dict or None)."""
        cell = self.cell
        time_major = ops.transpose(sequences, (1, 0, 2))
        if mask is not None:
            mask = ops.expand_dims(ops.transpose(ops.cast(mask, "bool")), -1)
        if self.go_backwards:
            time_major = ops.flip(time_major, 0)
            mask = None if mask is None else ops.flip(mask, 0)

        dropout, recurrent = cell.step_masks(
            sequences[:, 0, :], states[0], training
        )
        hoist = _hoist_input_projection()
        projected = cell.project_inputs(time_major, dropout) if hoist else None
        xs = [projected if hoist else time_major]
        if mask is not None:
            xs.append(mask)
        # Written per step: the hidden state for the output sequence, the
        # states after masking for the gates (these include the hidden
        # state unless only some rows are kept), and the gate activations
        # packed in one tensor.
        rows = self._gate_rows if self.return_gates else None
        gate_states = len(states) if self.return_gates else 0
        sequence = int(
            self.return_sequences and not (gate_states and rows is None)
        )
        pack = self.return_gates and cell.activation_count > 0

        def kept(tensor):
            # Rows kept for statistics need no gradient (see `loop.detach`).
            return tensor if rows is None else detach(tensor[:rows])

        def step(carry, x_t):
            z = x_t[0] if hoist else cell.project_inputs(x_t[0], dropout)
            new_states, activations = cell.recur(z, carry, recurrent)
            if mask is not None:
                new_states = [
                    ops.where(x_t[1], new, old)
                    for new, old in zip(new_states, carry)
                ]
            new_states = tuple(new_states)
            ys = new_states[:sequence]
            ys += tuple(kept(s) for s in new_states[:gate_states])
            if pack:
                ys += (detach(kept(ops.concatenate(activations, axis=-1))),)
            return new_states, ys

        final, ys = scan(
            step,
            states,
            xs,
            sequence + gate_states + pack,
            unroll=self.unroll,
        )
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()

        output = self._last_output(final[0], mask)
        if self.return_sequences:
            output = ops.transpose(
                self._output_sequence(ys[0], mask), (1, 0, 2)
            )
        gates = None
        if self.return_gates:
            state_seqs = list(ys[sequence : sequence + gate_states])
            if rows is None:
                activations = self._activations(
                    ys,
                    states,
                    state_seqs,
                    projected,
                    xs,
                    dropout,
                    recurrent,
                    weights,
                )
            elif pack:
                activations = ops.split(ys[-1], cell.activation_count, axis=-1)
            else:
                activations = []
            gate_seqs = cell.collect(activations, state_seqs)
            if mask is not None:
                valid = mask if rows is None else mask[:, :rows]
                gate_seqs = [ops.where(valid, g, 0) for g in gate_seqs]
            gates = {
                name: ops.transpose(g, (1, 0, 2))
                for name, g in zip(cell.gate_names, gate_seqs)
            }
        return output, final, gates

    def _activations(
        self,
        ys,
        states,
        state_seqs,
        projected,
        xs,
        dropout,
        recurrent,
        weights,
    ):
        """The gate activations (time-major), with a gradient path.

        They were written inside the loop without one (see `loop.detach`);
        their gradient is that of the same activations recomputed in
        parallel from the inputs and the previous states of every step.
        """
        cell = self.cell
        if not cell.activation_count:
            return []
        previous = [
            ops.concatenate([ops.expand_dims(s0, 0), seq[:-1]], axis=0)
            for s0, seq in zip(states, state_seqs)
        ]
        inputs = [
            projected if projected is not None else xs[0],
            *previous,
            *weights.values(),
        ]
        hoisted = projected is not None
        count = len(states)

        def recompute(x, *rest):
            prev, values = list(rest[:count]), rest[count:]
            with cell.bound_weights(dict(zip(weights, values))):
                z = x if hoisted else cell.project_inputs(x, dropout)
                _, activations = cell.recur(z, prev, recurrent)
            return ops.concatenate(activations, axis=-1)

        packed = reattach(ys[-1], recompute, inputs)
        return ops.split(packed, cell.activation_count, axis=-1)

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
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
