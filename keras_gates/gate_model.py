"""Gates as model outputs: `gate_model` and `GatesOf`.

A recurrent layer's gates are computed inside its call; they are not
tensors of the model's graph, so `keras.Model(inputs, ...)` cannot reach
them directly. `GatesOf` is a layer that calls a whole model while its
recurrent layers are listened to (`keras_gates.probe.listen`) and returns
the gates of that very call, next to the model's outputs. A model built
around it shares every variable with the original (the original is its
only sublayer) and is differentiable: gradients of a gate reach the
inputs and the weights.
"""

import numbers

import keras
from keras import ops

from keras_gates.describe import no_recurrent_layer, recurrent_layers
from keras_gates.probe import run_listening, twin_class_of, twin_of


def check_model(model, owner):
    """`model`, if it is a built Functional or Sequential Keras model (one
    with inputs); else a ValueError starting with `owner`."""
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(
            f"{owner}: expected a built Functional or Sequential Keras "
            f"model, got {type(model).__name__}."
        )
    return model


def find_layers(model, names, owner):
    """The `(name, layer)` pairs of `model`'s recurrent layers named in
    `names` (all of them for None), as `keras_gates.describe` names them.

    Raises a ValueError naming the choices for an unknown name.
    """
    found = list(recurrent_layers(model))
    if not found:
        raise no_recurrent_layer(owner, model)
    if names is None:
        return found
    known = dict(found)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"{owner}: no recurrent layer named {unknown}; the model has "
            f"{list(known)}."
        )
    return [(n, known[n]) for n in names]


class GatesOf(keras.layers.Layer):
    """Calls `model` and returns its outputs and its recurrent layers' gates.

    The result of a call is `(outputs, {layer_name: {gate_name: gates}})`,
    where `outputs` is what `model` returned and each gate tensor has shape
    (batch, time, units), in the order the layer processed the steps (the
    halves of a `Bidirectional` are `<name>/forward` and
    `<name>/backward`), zero at masked steps: the values
    `keras_gates.gates` gives. The layer owns no variables of its own:
    `model` is its only sublayer, so its weights are `model`'s.

    Args:
        model: a built Keras model (stock or keras-gates recurrent layers,
            also inside `Bidirectional` and nested models).
        layers: names of the recurrent layers to listen to; default all.
    """

    def __init__(self, model, layers=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__}"
        self.model = check_model(model, owner)
        found = find_layers(model, layers, owner)
        # Plain attributes: the twins read the model's variables and must
        # not be tracked as layers of their own.
        object.__setattr__(self, "_listened", tuple(found))
        object.__setattr__(
            self, "_twins", tuple(twin_of(layer) for _, layer in found)
        )
        self.built = True

    @property
    def listened(self):
        """The `(name, layer)` pairs whose gates the call returns."""
        return self._listened

    def call(self, inputs, training=False):
        outputs, records = run_listening(
            self.model, self._listened, self._twins, inputs, training
        )
        return outputs, {name: records[name][0] for name, _ in self._listened}


def model_inputs(model):
    """Fresh `keras.Input`s with the shapes and dtypes of `model`'s inputs:
    one tensor for a single-input model, else a list."""
    fresh = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in model.inputs
    ]
    return fresh[0] if len(fresh) == 1 else fresh


def gate_names(layer):
    """The gate names of a (stock or keras-gates) recurrent layer."""
    return twin_class_of(layer).cell_class.gate_names


def gate_model(model, layer, gate, units=None):
    """A single-output Keras model from `model`'s inputs to one gate.

    The output is the gate `gate` of the recurrent layer `layer`, with
    shape (batch, time, units) (or (batch, time, len(units))), equal to
    `keras_gates.gates(model, x)[layer][gate]`: steps in the order the
    layer processed them, zeros at masked steps. The new model shares
    every variable of `model` (no copies; training one trains the other)
    and is differentiable, so gradient tools such as tf-keras-vis's
    `Saliency` take it as it is.

    Args:
        model: a built Functional or Sequential Keras model with stock or
            keras-gates LSTM, GRU or SimpleRNN layers (also inside
            `Bidirectional` and nested models, and models loaded from
            `.keras` files).
        layer: the recurrent layer's name as `keras_gates.describe` gives
            it (`<name>/forward` or `<name>/backward` for the halves of a
            `Bidirectional`).
        gate: a gate name of that layer (e.g. LSTM: input, forget,
            candidate, output, cell, hidden; GRU: update, reset,
            candidate, hidden; SimpleRNN: hidden).
        units: optional unit index or list of unit indices to keep.

    Returns:
        A `keras.Model`.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential(
    ...     [keras.Input((5, 3)), keras.layers.LSTM(4, name="lstm")]
    ... )
    >>> forget = keras_gates.gate_model(model, "lstm", "forget", units=[1])
    >>> tuple(forget(np.ones((2, 5, 3), "float32")).shape)
    (2, 5, 1)
    """
    owner = "gate_model"
    if not isinstance(layer, str):
        raise TypeError(
            f"{owner}: `layer` must be a layer name (str), got "
            f"{type(layer).__name__}."
        )
    check_model(model, owner)
    ((_, found),) = find_layers(model, [layer], owner)
    names = gate_names(found)
    if gate not in names:
        raise ValueError(
            f"{owner}: layer '{layer}' has no gate {gate!r}; its gates are "
            f"{list(names)}."
        )
    picked = check_units(units, found.cell.units, f"{owner}: layer '{layer}'")
    inputs = model_inputs(model)
    _, gates = GatesOf(model, [layer], name=f"{model.name}_gates")(inputs)
    output = gates[layer][gate]
    if picked is not None:
        output = ops.take(output, picked, axis=-1)
    return keras.Model(inputs, output, name=f"{model.name}_{gate}")


def check_units(units, count, owner, argument="units"):
    """`units` as a list of ints in [0, count) (None stays None)."""
    if units is None:
        return None
    listed = [units] if isinstance(units, numbers.Integral) else list(units)
    if not listed or not all(
        isinstance(u, numbers.Integral) and 0 <= u < count for u in listed
    ):
        raise ValueError(
            f"{owner} has {count} units: `{argument}` must be unit indices "
            f"in [0, {count}), got {units!r}."
        )
    return listed
