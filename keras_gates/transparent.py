"""`transparent(model)`: the same model with keras-gates recurrent layers."""

import tempfile

import keras

from keras_gates.gate_model import GatesOf, check_model, model_inputs
from keras_gates.layers.base import GatedRNN
from keras_gates.layers.kind import find_kind
from keras_gates.listen import twin_config
from keras_gates.probe import stateful_layers


def _replace(layer):
    """The clone of `layer`, keras-gates for stock recurrent layers."""
    kind = find_kind(layer)
    if kind is not None and not isinstance(layer, GatedRNN):
        return kind.layer_class.from_config(twin_config(layer))
    if isinstance(layer, keras.layers.Bidirectional):
        return keras.layers.Bidirectional(
            _replace(layer.forward_layer),
            merge_mode=layer.merge_mode,
            backward_layer=_replace(layer.backward_layer),
            name=layer.name,
        )
    clone = layer.__class__.from_config(layer.get_config())
    if callable(getattr(layer, "save_assets", None)):
        # What a config leaves out and Keras saves as assets: the
        # vocabulary of a TextVectorization, a lookup or a tokenizer.
        with tempfile.TemporaryDirectory() as folder:
            layer.save_assets(folder)
            clone.load_assets(folder)
    return clone


def transparent(model: keras.Model, return_gates: bool = False) -> keras.Model:
    """A copy of `model` whose stock LSTM/GRU/SimpleRNN are keras-gates ones.

    Same architecture, same weights (and the current states of stateful
    layers, the vocabularies of text layers), same outputs; stock
    recurrent layers (and plain `keras.layers.RNN` layers around a Keras
    LSTM, GRU or SimpleRNN cell), also inside `Bidirectional` and nested
    Functional or Sequential models, become their keras-gates equivalents (with
    `return_gates=False`, so the outputs keep their structure). Use
    `keras_gates.gates` on the result, or on the original model, to read
    the gates.

    Args:
        model: a built Functional or Sequential Keras model.
        return_gates: if True, the copy returns `(outputs, gates)`:
            `outputs` as `model` returns them, and `gates` a dict
            `{layer_name: {gate_name: (batch, time, units)}}` with the
            values `keras_gates.gates` gives (see `keras_gates.GatesOf`),
            differentiable, for those who want every gate as a model
            output.

    Returns:
        A new, built `keras.Model` with the weights of `model`.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(2)])
    >>> clear = keras_gates.transparent(model)
    >>> type(clear.layers[0]).__module__
    'keras_gates.layers.lstm'
    >>> x = np.ones((1, 4, 3), "float32")
    >>> bool(np.allclose(clear(x), model(x), atol=1e-6))
    True
    """
    check_model(model, "transparent")
    clone = keras.models.clone_model(
        model, clone_function=_replace, recursive=True
    )
    clone.set_weights(model.get_weights())
    # Stateful layers carry on from where the original's states are.
    for theirs, ours in zip(stateful_layers(model), stateful_layers(clone)):
        for source, target in zip(theirs.states, ours.states):
            target.assign(source)
    if not return_gates:
        return clone
    inputs = model_inputs(clone)
    return keras.Model(inputs, GatesOf(clone)(inputs), name=clone.name)
