"""`GatedRNN`: the layer half shared by keras-gates LSTM, GRU and SimpleRNN.

It subclasses `keras.layers.RNN` for the parts users rely on (stateful
state variables, `reset_state`, masks, `Bidirectional` support) and runs
its own time loop so that every gate of every step can come out.

Layout of the loop: inputs are made time-major (and flipped under
`go_backwards`), optionally projected by the input kernel for all steps at
once, and scanned (`loop.scan`). What each step writes depends on the mode:
its hidden state (output sequence), its states and gate activations, one
tensor each (all gates), or those of a few rows (training statistics).
"""

import sys

import keras
from keras import ops

from keras_gates.layers.cell import check_cell_args
from keras_gates.layers.loop import check_backend, scan


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


GATE_DTYPES = ("float16", "bfloat16", "float32", "float64")


def check_gate_dtype(owner, gate_dtype):
    """`gate_dtype` standardized: None or one of `GATE_DTYPES`."""
    if gate_dtype is None:
        return None
    try:
        name = keras.backend.standardize_dtype(gate_dtype)
    except (TypeError, ValueError):
        name = None
    if name not in GATE_DTYPES:
        raise ValueError(
            f"{owner}: argument `gate_dtype` must be None (the compute "
            f"dtype) or one of {GATE_DTYPES}, got {gate_dtype!r}."
        )
    return name


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

    def __init__(self, units, return_gates=False, gate_dtype=None, **kwargs):
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
    def gate_dtype(self):
        """The dtype of the returned gates: the `gate_dtype` argument, or
        by default the compute dtype. A 16-bit dtype under a float32 policy
        halves the bytes the gates take (about 3 significant digits,
        plenty for monitoring); the states and outputs stay float32."""
        return self._gate_dtype or self.compute_dtype

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
        spec = super().compute_output_spec(sequences, *args, **kwargs)
        if not self.return_gates:
            return spec
        gates = {
            name: keras.KerasTensor(g.shape, dtype=self.gate_dtype)
            for name, g in spec[-1].items()
        }
        return (*spec[:-1], gates)

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
        """The time loop: returns (output, final states, gate dict or None).

        One of three loops runs (`_plain`, `_all_gates`, `_first_rows`);
        each returns the final states, the hidden state of every step
        (time-major) when the output sequence needs it, and the gates in
        the order of `gate_names` (time-major) or None.
        """
        cell = self.cell
        inputs = ops.transpose(sequences, (1, 0, 2))
        if mask is not None:
            mask = ops.expand_dims(ops.transpose(ops.cast(mask, "bool")), -1)
        if self.go_backwards:
            inputs = ops.flip(inputs, 0)
            mask = None if mask is None else ops.flip(mask, 0)
        dropout, recurrent = cell.step_masks(
            sequences[:, 0, :], states[0], training
        )
        hoist = _hoist_input_projection()
        if hoist:
            inputs = cell.project_inputs(inputs, dropout)
        xs = [inputs] if mask is None else [inputs, mask]
        names = tuple(weights)

        def advance(carry, x_t, params):
            """One step: the new states (after masking), the activations."""
            with cell.bound_weights(dict(zip(names, params))):
                z = x_t[0] if hoist else cell.project_inputs(x_t[0], dropout)
                new, activations = cell.recur(z, carry, recurrent)
            if mask is not None:
                new = [ops.where(x_t[1], n, c) for n, c in zip(new, carry)]
            return tuple(new), activations

        def run(emit):
            """`scan` with steps that write `emit(states, activations)`."""

            def step(carry, x_t, params):
                new, activations = advance(carry, x_t, params)
                return new, emit(new, activations)

            return scan(step, states, xs, tuple(weights.values()), self.unroll)

        if not self.return_gates:
            loop = self._plain
        elif self._gate_rows is None:
            loop = self._all_gates
        else:
            loop = self._first_rows
        final, hidden, gate_seqs = loop(run)
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()

        output = self._last_output(final[0], mask)
        if self.return_sequences:
            output = ops.transpose(
                self._output_sequence(hidden, mask), (1, 0, 2)
            )
        if gate_seqs is None:
            return output, final, None
        if mask is not None:
            valid = mask[:, : self._gate_rows]
            gate_seqs = [ops.where(valid, g, 0) for g in gate_seqs]
        gates = {
            name: ops.transpose(g, (1, 0, 2))
            for name, g in zip(cell.gate_names, gate_seqs)
        }
        return output, final, gates

    def _plain(self, run):
        """No gates: each step writes its hidden state if the output
        sequence is returned, nothing otherwise."""
        sequence = self.return_sequences
        final, ys = run(lambda new, _: new[:1] if sequence else ())
        return final, ys[0] if sequence else None, None

    def _all_gates(self, run):
        """Every gate of every row: each step writes its states and its
        activations, one tensor each, in `gate_dtype`; the hidden states
        double as the output sequence unless that dtype differs from the
        compute dtype. Gradients flow through all of them."""
        dtype = self.gate_dtype
        apart = int(self.return_sequences and dtype != self.compute_dtype)

        def emit(new, activations):
            gates = tuple(ops.cast(v, dtype) for v in (*new, *activations))
            return new[:apart] + gates

        final, ys = run(emit)
        # ys[0] is the hidden state: written apart, or as the first state.
        return final, ys[0], self._collect(ys[apart:])

    def _first_rows(self, run):
        """Training statistics (`keras_gates.probe.listen`): the gates of
        the first `_gate_rows` sequences, written without a gradient, next
        to the usual output."""
        rows, sequence = self._gate_rows, int(self.return_sequences)
        dtype = self.gate_dtype

        def emit(new, activations):
            kept = tuple(
                ops.stop_gradient(ops.cast(v[:rows], dtype))
                for v in (*new, *activations)
            )
            return new[:sequence] + kept

        final, ys = run(emit)
        return final, ys[0] if sequence else None, self._collect(ys[sequence:])

    def _collect(self, sequences):
        """The gates, in the order of `gate_names`, from the per-step
        states followed by the per-step activations."""
        count = len(self.state_size)
        states, activations = list(sequences[:count]), list(sequences[count:])
        return self.cell.collect(activations, states)

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
