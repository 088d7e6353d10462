"""What a keras-gates layer checks of its inputs, and its initial states.

Bad inputs get a ValueError or TypeError that names the layer and what it
expected, where Keras would raise a raw backend error or compute garbage.
"""

import keras
from keras import ops

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


def check_sequences(layer, sequences, mask=None):
    """Numbers of shape (batch, time > 0, features), and a mask of
    shape (batch, time) or (batch, time, 1); returns the mask as
    (batch, time). Integer and bool inputs are cast, as Keras does."""
    owner = f"{type(layer).__name__} layer '{layer.name}'"
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


def initial_states(layer, sequences, initial_state):
    """The initial states of a run of `layer`, a tuple of (batch, units)
    tensors in the compute dtype: `initial_state`, else the state
    variables of a stateful layer, else zeros."""
    owner = f"{type(layer).__name__} layer '{layer.name}'"
    batch = ops.shape(sequences)[0]
    if layer.stateful:
        expected = layer._expected_batch_size
        if expected is not None and sequences.shape[0] not in (
            None,
            expected,
        ):
            raise ValueError(
                f"{owner} is stateful with batch size {expected}; got "
                f"inputs with batch size {sequences.shape[0]}."
            )
    if initial_state is None:
        if layer.stateful:
            initial_state = layer.states
        else:
            initial_state = layer.cell.get_initial_state(batch_size=batch)
    if not isinstance(initial_state, (list, tuple)):
        initial_state = [initial_state]
    if len(initial_state) != len(layer.state_size):
        raise ValueError(
            f"{owner} expects {len(layer.state_size)} initial state "
            f"tensor(s) of shape (batch, {layer.cell.units}); got "
            f"{len(initial_state)}."
        )
    dtype, units = layer.cell.compute_dtype, layer.cell.units
    states = [ops.convert_to_tensor(s, dtype) for s in initial_state]
    # A state of shape (units,) or (1, units) serves the whole batch.
    return tuple(
        ops.broadcast_to(s, (batch, units))
        if len(s.shape) == 1 or s.shape[0] == 1
        else s
        for s in states
    )
