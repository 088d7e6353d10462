"""Gates out of any model: stock Keras recurrent layers included.

`GateProbe` runs a model once on a batch of inputs and, for every LSTM,
GRU and SimpleRNN layer in it (also inside `Bidirectional` and nested
models), feeds the very inputs, mask and initial state that layer received
to a keras-gates twin built from the layer's config and weights. The model
itself is unchanged; its layers are only listened to while the probe runs.
"""

import keras
import numpy as np

from keras_gates.describe import recurrent_layers
from keras_gates.layers import GRU, LSTM, SimpleRNN

_TWINS = (
    (keras.layers.LSTMCell, LSTM),
    (keras.layers.GRUCell, GRU),
    (keras.layers.SimpleRNNCell, SimpleRNN),
)


def restore_call(layer, call):
    """Put back a layer's `call` as it was before a listener replaced it."""
    if call is None:
        del layer.call
    else:
        layer.call = call


def twin_of(layer):
    """An unbuilt keras-gates layer with `layer`'s config and gates on."""
    for cell_class, twin_class in _TWINS:
        if isinstance(layer.cell, cell_class):
            config = {
                **layer.get_config(),
                "return_gates": True,
                "stateful": False,
                "name": f"{layer.name}_gates",
            }
            return twin_class.from_config(config)
    raise TypeError(f"no keras-gates twin for {type(layer).__name__}")


class LayerGates:
    """The gates of one recurrent layer on a probe batch (NumPy).

    Attributes:
        name: the layer's name (`<bidirectional>/forward|backward` for the
            halves of a `Bidirectional`).
        layer: the Keras layer.
        gates: dict gate name -> array (batch, time, units), in the order
            the layer processed the steps, zero at masked steps.
        valid: bool array (batch, time) in the same order: False at masked
            steps.
        sigmoid_gates: the names of the gates computed by a sigmoid-like
            `recurrent_activation` (the gates that multiply something).
    """

    def __init__(self, name, layer, gates, valid, sigmoid_gates):
        self.name = name
        self.layer = layer
        self.gates = gates
        self.valid = valid
        self.sigmoid_gates = sigmoid_gates


class GateProbe:
    """Listens to the recurrent layers of `model` during one forward pass.

    Args:
        model: a built Keras model or layer.
        layers: optional list of layer names to keep (as named by
            `keras_gates.describe`); default all.
    """

    def __init__(self, model, layers=None):
        found = list(recurrent_layers(model))
        if not found:
            raise ValueError(
                f"{type(model).__name__} '{model.name}' has no LSTM, GRU or "
                "SimpleRNN layer (stock or keras-gates) to take gates from."
            )
        if layers is not None:
            unknown = set(layers) - {name for name, _ in found}
            if unknown:
                raise ValueError(
                    f"no recurrent layer named {sorted(unknown)}; the model "
                    f"has {[name for name, _ in found]}."
                )
            found = [(n, layer) for n, layer in found if n in layers]
        self.model = model
        self.layers = found
        self._twins = {}

    def _twin(self, layer, sequences_shape):
        twin = self._twins.get(id(layer))
        if twin is None:
            twin = twin_of(layer)
            twin.build(sequences_shape)
            self._twins[id(layer)] = twin
        twin.cell.set_weights(layer.cell.get_weights())
        return twin

    def run(self, x):
        """Run the model on `x`; returns a list of `LayerGates`."""
        records = []
        previous = [layer.__dict__.get("call") for _, layer in self.layers]
        for name, layer in self.layers:
            layer.call = self._listener(name, layer, records)
        try:
            self.model(x, training=False)
        finally:
            for (_, layer), call in zip(self.layers, previous):
                restore_call(layer, call)
        order = {name: i for i, (name, _) in enumerate(self.layers)}
        return sorted(records, key=lambda r: order[r.name])

    def _listener(self, name, layer, records):
        original = layer.call

        def call(sequences, initial_state=None, mask=None, training=False):
            if initial_state is None and layer.stateful and layer.states:
                initial_state = [keras.ops.copy(s) for s in layer.states]
            result = original(
                sequences,
                initial_state=initial_state,
                mask=mask,
                training=training,
            )
            twin = self._twin(layer, sequences.shape)
            gates = twin(sequences, initial_state=initial_state, mask=mask)[-1]
            batch, steps = sequences.shape[0], sequences.shape[1]
            if isinstance(mask, (list, tuple)):
                mask = mask[0]
            valid = (
                np.ones((batch, steps), bool)
                if mask is None
                else keras.ops.convert_to_numpy(mask).astype(bool)
            )
            if layer.go_backwards:
                valid = valid[:, ::-1]
            records.append(
                LayerGates(
                    name,
                    layer,
                    {
                        k: keras.ops.convert_to_numpy(v)
                        for k, v in gates.items()
                    },
                    valid,
                    twin.cell.sigmoid_gates,
                )
            )
            return result

        return call


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
