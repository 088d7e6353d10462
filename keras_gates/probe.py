"""Gates out of any model: stock Keras recurrent layers included.

`GateProbe` runs a model on a batch of inputs and, for every LSTM, GRU and
SimpleRNN layer in it (also inside `Bidirectional` and nested models), takes
the gates of the very call the model made (`keras_gates.listen`): a
keras-gates layer gives them from its own loop; a stock layer's call is
made by a keras-gates twin reading the stock cell's own variables. The
model is unchanged; its layers are only listened to while the probe runs.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from keras_gates.layers.inputs import numeric
from keras_gates.listen import Ear, run_listening
from keras_gates.lookup import find_recurrent


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
        self.model, self.owner, self.reduce = model, owner, reduce
        self.layers = find_recurrent(model, layers, owner)
        self._ears = [Ear.of(name, layer) for name, layer in self.layers]
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
            self.model, self._ears, x, reduce=self.reduce, gradient=False
        )
        return records

    def run(self, x):
        """Run the model on `x`; returns a list of `LayerGates` or, with
        `reduce`, a dict layer name -> its result (as NumPy arrays).

        The states of stateful recurrent layers are put back afterwards:
        looking at the gates does not move a stateful model along.
        """
        check_inputs(self.model, x, f"{self.owner}: x")
        with states_kept(self.model):
            records = self._forward(x)
        if self.reduce is not None:
            return keras.tree.map_structure(ops.convert_to_numpy, records)
        result = []
        for ear in self._ears:
            gates, valid = records[ear.name]
            result.append(
                LayerGates(
                    ear.name,
                    {k: ops.convert_to_numpy(v) for k, v in gates.items()},
                    ops.convert_to_numpy(valid),
                    ear.kind.sigmoid_gates,
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


@contextlib.contextmanager
def states_kept(model):
    """Within the block the model may run: the states of its stateful
    recurrent layers are put back afterwards."""
    kept = [
        (state, ops.copy(state))
        for layer in stateful_layers(model)
        for state in layer.states
    ]
    try:
        yield
    finally:
        for state, value in kept:
            state.assign(value)


def check_inputs(model, x, what):
    """Raise a ValueError, starting with `what`, unless `x` fits the inputs
    of `model`: one array per input, of numbers for a numeric input and of
    texts (str or bytes, TensorFlow only) for a string input, sizes equal
    where known."""
    arrays = keras.tree.flatten(x)
    kinds = [value_kind(a) for a in arrays]
    if not arrays or None in kinds:
        raise ValueError(
            f"{what} must be arrays of numbers or texts, one per model "
            f"input; got {type(x).__name__} of {[_dtype(a) for a in arrays]}."
        )
    inputs = getattr(model, "inputs", None) or []
    for array, kind, tensor in zip(arrays, kinds, inputs):
        wanted = "texts" if _dtype(tensor) == "string" else "numbers"
        if len(arrays) == len(inputs) and kind != wanted:
            raise ValueError(
                f"{what} holds {kind} ({_dtype(array)}), but input "
                f"'{input_name(tensor)}' of model '{model.name}' takes "
                f"{wanted} ({_dtype(tensor)})."
            )
    backend = keras.backend.backend()
    if "texts" in kinds and backend != "tensorflow":
        raise ValueError(
            f"{what} holds texts, and Keras feeds no strings into a model "
            f"on the {backend!r} backend. Keep the text layers "
            "(TextVectorization, StringLookup, a tokenizer) in the tf.data "
            "pipeline, give the "
            "model token ids, and pass the text layer as `vocabulary` to "
            "label the steps (docs/text.md)."
        )
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


def input_name(tensor):
    """A model input's name as `model.summary()` shows it (its
    `InputLayer`'s)."""
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None)
    return getattr(layer, "name", None) or tensor.name


def value_kind(array):
    """What an array, a tensor or anything NumPy makes an array of holds:
    "numbers", "texts" (str or bytes) or None (neither)."""
    dtype = _dtype(array)
    if dtype == "string":
        return "texts"
    if dtype == "object":
        values = np.asarray(array).ravel()
        if all(isinstance(v, (str, bytes)) for v in values):
            return "texts"
        return None
    return "numbers" if numeric(dtype) else None


def _dtype(array):
    """The dtype of an array or tensor: "string" for texts, "object" for a
    NumPy object array, else Keras's standardized name."""
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        dtype = np.asarray(array).dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "USO":
        return "object" if dtype.kind == "O" else "string"
    try:
        return keras.backend.standardize_dtype(dtype)
    except (TypeError, ValueError):
        return str(dtype)


def gates(
    model: keras.Model, x, layers: list[str] | None = None
) -> dict[str, dict[str, np.ndarray]]:
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
