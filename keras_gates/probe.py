"""Gates out of any model: stock Keras recurrent layers included.

`GateProbe` runs a model on a batch of inputs and, for every LSTM, GRU and
SimpleRNN layer in it (also inside `Bidirectional` and nested models), takes
the gates of the very call the model made: a keras-gates layer returns them
from its own loop; a stock layer's call is repeated by a keras-gates twin
whose cell reads the stock cell's own variables. The model is unchanged; its
layers are only listened to while the probe runs (`listen`, `restore_call`).
"""

import keras
import numpy as np
from keras import ops

from keras_gates.describe import no_recurrent_layer, recurrent_layers
from keras_gates.layers import GRU, LSTM, SimpleRNN
from keras_gates.layers.base import GatedRNN, numeric

_TWINS = (
    (keras.layers.LSTMCell, LSTM),
    (keras.layers.GRUCell, GRU),
    (keras.layers.SimpleRNNCell, SimpleRNN),
)


def twin_of(layer):
    """A built keras-gates twin sharing a stock layer's variables.

    None for a keras-gates layer, which gives its gates itself.
    """
    if isinstance(layer, GatedRNN):
        return None
    config = {
        **twin_config(layer),
        "return_gates": True,
        "stateful": False,
        "name": f"{layer.name}_gates",
    }
    twin = twin_class_of(layer).from_config(config)
    twin.build((None, None, layer.cell.kernel.shape[0]))
    for name in ("kernel", "recurrent_kernel", "bias"):
        # Plain attributes: the twin must not track them as its own.
        object.__setattr__(twin.cell, name, getattr(layer.cell, name))
    return twin


def twin_config(layer):
    """The config of a keras-gates layer computing what `layer` computes.

    A stock LSTM/GRU/SimpleRNN's config is already one; a plain
    `keras.layers.RNN` around a cell has its cell's arguments merged in.
    """
    config = layer.get_config()
    if config.pop("cell", None) is not None:
        cell = layer.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        config.update(cell)
    return config


def restore_call(layer, call):
    """Put back a layer's `call` as it was before a listener replaced it."""
    if call is None:
        del layer.call
    else:
        layer.call = call


def _own_gates(layer, call, sequences, kwargs, rows):
    """Run a keras-gates layer's `call` with its gates on.

    Returns `(the call's usual result, gates)`; with `rows`, the gates of
    the first `rows` sequences only.
    """
    wanted = layer.return_gates
    layer.return_gates = True
    # A layer that returns its gates anyway must return all of them.
    layer._gate_rows = None if wanted else rows
    try:
        result = call(sequences, **kwargs)
    finally:
        layer.return_gates, layer._gate_rows = wanted, None
    gates = result[-1]
    if wanted:
        if rows is not None:
            gates = {name: g[:rows] for name, g in gates.items()}
        return result, gates
    result = result[:-1]
    return (result[0] if len(result) == 1 else result), gates


def listen(layer, twin, on_gates, wants_gates=lambda training: True, rows=None):
    """Replace `layer.call` so that `on_gates(gates, valid, training)` sees
    the gates of every call where `wants_gates(training)`.

    `twin` is `twin_of(layer)`, made beforehand (outside any compiled
    function: it creates variables). With `rows`, only the gates of the
    first `rows` sequences of each batch are computed: by a keras-gates
    layer inside its own loop, without a gradient (for statistics), or by
    the twin on those sequences. `valid` is a bool (batch, time) tensor,
    False at masked steps, in the order the layer processed the steps (like
    the gates). Returns the previous instance `call` attribute (None if
    there was none), to give to `restore_call`.
    """
    previous = layer.__dict__.get("call")
    original = layer.call

    def call(sequences, initial_state=None, mask=None, training=False):
        if initial_state is None and layer.stateful and layer.states:
            initial_state = [ops.copy(s) for s in layer.states]
        kwargs = dict(initial_state=initial_state, mask=mask, training=training)
        if not wants_gates(training):
            return original(sequences, **kwargs)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is not None and len(mask.shape) == 3:  # (batch, time, 1)
            mask = ops.squeeze(mask, -1)
        if twin is None:
            result, gates = _own_gates(layer, original, sequences, kwargs, rows)
        else:
            result = original(sequences, **kwargs)
        if rows is not None:
            sequences = sequences[:rows]
            mask = None if mask is None else mask[:rows]
            if initial_state is not None:
                initial_state = [s[:rows] for s in initial_state]
        if twin is not None:
            gates = twin(sequences, initial_state=initial_state, mask=mask)[-1]
        valid = (
            ops.ones(ops.shape(sequences)[:2], "bool")
            if mask is None
            else ops.cast(mask, "bool")
        )
        if layer.go_backwards:
            valid = ops.flip(valid, 1)
        on_gates(gates, valid, training)
        return result

    layer.call = call
    return previous


def run_listening(model, layers, twins, x, training=False, reduce=None):
    """Call `model(x)` with `layers` (`(name, layer)` pairs) listened to.

    `twins` are `twin_of(layer)` for each layer, made beforehand. Returns
    `(outputs, {name: record})`: a record is `(gates, valid)`, in the
    order the layer processed the steps (`valid` False at masked steps),
    or what `reduce(name, layer, gates, valid)` makes of them.
    """
    records = {}
    previous = []
    for (name, layer), twin in zip(layers, twins):

        def record(gates, valid, training, name=name, layer=layer):
            records[name] = (
                (gates, valid)
                if reduce is None
                else reduce(name, layer, gates, valid)
            )

        previous.append(listen(layer, twin, record))
    try:
        outputs = model(x, training=training)
    finally:
        for (_, layer), call in zip(layers, previous):
            restore_call(layer, call)
    return outputs, records


class LayerGates:
    """The gates of one recurrent layer on a probe batch (NumPy).

    Attributes:
        name: the layer's name (`<bidirectional>/forward|backward` for the
            halves of a `Bidirectional`).
        gates: dict gate name -> array (batch, time, units), in the order
            the layer processed the steps, zero at masked steps.
        valid: bool array (batch, time) in the same order: False at masked
            steps.
        sigmoid_gates: the names of the gates computed by the
            `recurrent_activation` (the gates that multiply something).
    """

    def __init__(self, name, gates, valid, sigmoid_gates):
        self.name = name
        self.gates = gates
        self.valid = valid
        self.sigmoid_gates = sigmoid_gates


class GateProbe:
    """Takes the gates of the recurrent layers of `model` on given inputs.

    On TensorFlow the probing forward pass is a compiled `tf.function`
    (traced once per input shape, without autograph); elsewhere it runs
    eagerly.

    Args:
        model: a built Keras model or layer.
        layers: optional list of layer names to keep (as named by
            `keras_gates.describe`); default all.
        owner: who asks, named in errors.
        reduce: optional function `(name, layer, gates, valid)` -> a
            structure of tensors, applied to each layer's gates inside the
            forward pass (for statistics computed on the device: only its
            result leaves it); `run` then returns its results.
    """

    def __init__(self, model, layers=None, owner="gates", reduce=None):
        if not isinstance(model, keras.layers.Layer):
            raise TypeError(
                f"{owner}: expected a built Keras model or layer, got "
                f"{type(model).__name__}."
            )
        found = list(recurrent_layers(model))
        if not found:
            raise no_recurrent_layer(owner, model)
        if layers is not None:
            unknown = set(layers) - {name for name, _ in found}
            if unknown:
                raise ValueError(
                    f"{owner}: no recurrent layer named {sorted(unknown)}; "
                    f"the model has {[name for name, _ in found]}."
                )
            found = [(n, layer) for n, layer in found if n in layers]
        self.model, self.owner, self.reduce = model, owner, reduce
        self.layers = found
        self._twins = [twin_of(layer) for _, layer in found]
        self._forward = self._gates_of
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # No autograph: Keras layers need none (Keras's own train step
            # uses none), and converting them took 11 s of a 13 s first
            # probe here (two LSTM layers).
            self._forward = tf.function(
                self._gates_of, reduce_retracing=True, autograph=False
            )

    def _gates_of(self, x):
        _, records = run_listening(
            self.model, self.layers, self._twins, x, reduce=self.reduce
        )
        return records

    def run(self, x):
        """Run the model on `x`; returns a list of `LayerGates` or, with
        `reduce`, a dict layer name -> its result (as NumPy arrays).

        The states of stateful recurrent layers are put back afterwards:
        looking at the gates does not move a stateful model along.
        """
        check_inputs(self.model, x, f"{self.owner}: x")
        kept = [
            (state, ops.copy(state))
            for layer in stateful_layers(self.model)
            for state in layer.states
        ]
        try:
            records = self._forward(x)
        finally:
            for state, value in kept:
                state.assign(value)
        if self.reduce is not None:
            return keras.tree.map_structure(ops.convert_to_numpy, records)
        result = []
        for name, layer in self.layers:
            gates, valid = records[name]
            sigmoid = twin_class_of(layer).cell_class.sigmoid_gates
            result.append(
                LayerGates(
                    name,
                    {k: ops.convert_to_numpy(v) for k, v in gates.items()},
                    ops.convert_to_numpy(valid),
                    sigmoid,
                )
            )
        return result


def stateful_layers(model):
    """The stateful recurrent layers of a model (any cell), in a fixed order,
    with their state variables made."""
    return [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.RNN)
        and layer.stateful
        and layer.states
    ]


def check_inputs(model, x, what):
    """Raise a ValueError, starting with `what`, unless `x` fits the inputs
    of `model` (one numeric array per input, sizes equal where known)."""
    arrays = keras.tree.flatten(x)
    dtypes = [getattr(a, "dtype", None) or np.asarray(a).dtype for a in arrays]
    if not arrays or not all(map(_numeric, dtypes)):
        raise ValueError(
            f"{what} must be numeric arrays, one per model input; got "
            f"{type(x).__name__} of {[str(d) for d in dtypes]}."
        )
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return
    shapes = [tuple(getattr(a, "shape", None) or np.shape(a)) for a in arrays]
    expected = [tuple(t.shape) for t in inputs]
    fits = len(shapes) == len(expected) and all(
        len(s) == len(e)
        and all(d is None or d == n for d, n in zip(e[1:], s[1:]))
        for s, e in zip(shapes, expected)
    )
    if not fits:
        raise ValueError(
            f"{what} has shape(s) {shapes}, but model '{model.name}' "
            f"expects input shape(s) {expected} (None: any size)."
        )


def _numeric(dtype):
    try:
        return numeric(keras.backend.standardize_dtype(dtype))
    except (TypeError, ValueError):
        return False


def twin_class_of(layer):
    """The keras-gates layer class matching a (stock) layer's cell."""
    for cell_class, twin_class in _TWINS:
        if isinstance(layer.cell, cell_class):
            return twin_class
    raise TypeError(f"no keras-gates twin for {type(layer).__name__}")


def gates(model, x, layers=None):
    """Every gate of every recurrent layer of `model` on inputs `x`.

    Works on models built from stock Keras layers as well as keras-gates
    ones, including models loaded from `.keras` files trained elsewhere.

    Args:
        model: a built Keras model (or a single recurrent layer's model).
        x: model inputs (a NumPy array, or what the model accepts).
        layers: optional list of layer names to keep.

    Returns:
        `{layer_name: {gate_name: np.ndarray (batch, time, units)}}`; the
        halves of a `Bidirectional` are named `<name>/forward` and
        `<name>/backward` (the backward gates in processing order).

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> gru = keras.layers.GRU(2, name="g")
    >>> model = keras.Sequential([keras.Input((4, 3)), gru])
    >>> result = keras_gates.gates(model, np.ones((5, 4, 3), "float32"))
    >>> tuple(result["g"]["update"].shape)
    (5, 4, 2)
    """
    return {r.name: r.gates for r in GateProbe(model, layers).run(x)}
