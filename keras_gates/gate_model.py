"""Gates as model outputs: `gate_model` and `GatesOf`.

A recurrent layer's gates are computed inside its call; they are not
tensors of the model's graph, so `keras.Model(inputs, ...)` cannot reach
them directly. `GatesOf` is a layer that calls a whole model while its
recurrent layers are listened to (`keras_gates.listen`) and returns
the gates of that very call, next to the model's outputs. A model built
around it shares every variable with the original (the original is its
only sublayer) and is differentiable: gradients of a gate reach the
inputs and the weights.
"""

import keras
from keras import ops

from keras_gates.listen import Ear, run_listening
from keras_gates.lookup import check_gate, check_units, find_recurrent


def check_model(model, owner):
    """`model`, if it is a built Functional or Sequential Keras model (one
    with inputs); else a ValueError starting with `owner`."""
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(
            f"{owner}: expected a built Functional or Sequential Keras "
            f"model, got {type(model).__name__}."
        )
    return model


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

    def __init__(
        self, model: keras.Model, layers: list[str] | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__}"
        self.model = check_model(model, owner)
        found = find_recurrent(model, layers, owner)
        # A plain attribute: the twins read the model's variables and must
        # not be tracked as layers of their own.
        object.__setattr__(
            self, "_ears", tuple(Ear.of(name, layer) for name, layer in found)
        )
        self.built = True

    @property
    def listened(self):
        """The `(name, layer)` pairs whose gates the call returns."""
        return tuple((ear.name, ear.layer) for ear in self._ears)

    def call(self, inputs, training=False):
        outputs, records = run_listening(
            self.model, self._ears, inputs, training
        )
        return outputs, {ear.name: records[ear.name][0] for ear in self._ears}


def model_inputs(model):
    """Fresh `keras.Input`s with the shapes and dtypes of `model`'s inputs:
    one tensor for a single-input model, else a list."""
    fresh = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in model.inputs
    ]
    return fresh[0] if len(fresh) == 1 else fresh


def gate_model(
    model: keras.Model,
    layer: str,
    gate: str,
    units: int | list[int] | None = None,
) -> keras.Model:
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
    ((_, found),) = find_recurrent(model, [layer], owner)
    check_gate(found, gate, owner, layer)
    picked = check_units(units, found.cell.units, f"{owner}: layer '{layer}'")
    inputs = model_inputs(model)
    _, gates = GatesOf(model, [layer], name=f"{model.name}_gates")(inputs)
    output = gates[layer][gate]
    if picked is not None:
        output = ops.take(output, picked, axis=-1)
    return keras.Model(inputs, output, name=f"{model.name}_{gate}")
