"""Finding recurrent layers, gates and units in a model, with one set of
error messages.

Layers are named as `keras_gates.gates` names them: a layer's own name,
and `<name>/forward`, `<name>/backward` for the two halves of a
`Bidirectional`.
"""

import numbers

import keras

from keras_gates.layers.kind import find_kind, kind_of


def readable(layer):
    """Whether keras-gates reads `layer`'s gates and sizes (see
    `keras_gates.layers.kind.find_kind`)."""
    return find_kind(layer) is not None


def recurrent_layers(obj):
    """Every readable recurrent layer in a layer or model, depth first.

    Yields `(name, layer)`; the two halves of a `Bidirectional` come out as
    `<name>/forward` and `<name>/backward`.
    """
    if isinstance(obj, keras.layers.Bidirectional):
        for half, layer in (
            ("forward", obj.forward_layer),
            ("backward", obj.backward_layer),
        ):
            if readable(layer):
                yield f"{obj.name}/{half}", layer
    elif isinstance(obj, keras.layers.RNN):
        if readable(obj):
            yield obj.name, obj
    elif hasattr(obj, "layers"):
        for layer in obj.layers:
            yield from recurrent_layers(layer)


def unread_recurrent(obj):
    """The RNN layers in a layer or model that `recurrent_layers` does not
    give, as `(name, why)`: the cell is not one keras-gates reads, or the
    layer sits inside a layer keras-gates does not enter."""
    if not isinstance(obj, keras.layers.Layer):
        return []
    read = {id(layer) for _, layer in recurrent_layers(obj)}
    unread = []
    for layer in obj._flatten_layers():
        if not isinstance(layer, keras.layers.RNN) or id(layer) in read:
            continue
        if readable(layer):
            why = (
                "it sits inside a layer keras-gates does not enter; call it "
                "in a Functional or Sequential model (or a Bidirectional) "
                "to have it read"
            )
        else:
            why = (
                f"its cell is a {type(layer.cell).__name__}; build it from "
                "Keras's LSTMCell, GRUCell or SimpleRNNCell or a keras-gates "
                "cell to have it read"
            )
        unread.append((layer.name, why))
    return unread


def no_recurrent_layer(owner, obj):
    """The ValueError for a model or layer with no readable RNN layer."""
    unread = "".join(
        f" Layer '{name}' is not read: {why}."
        for name, why in unread_recurrent(obj)
    )
    return ValueError(
        f"{owner}: found no LSTM, GRU or SimpleRNN layer in "
        f"{type(obj).__name__} '{getattr(obj, 'name', obj)}' (keras-gates "
        "reads RNN layers whose cell is Keras's LSTMCell, GRUCell or "
        "SimpleRNNCell or a keras-gates cell; custom cell classes and "
        f"StackedRNNCells are not read).{unread}"
    )


def find_recurrent(model, names, owner):
    """The `(name, layer)` pairs of `model`'s recurrent layers named in
    `names` (all of them, in model order, for None).

    Raises a ValueError naming `owner` and the choices for an unknown name,
    or when the model has no readable recurrent layer.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"{owner}: expected a built Keras model or layer, got "
            f"{type(model).__name__}."
        )
    found = list(recurrent_layers(model))
    if not found:
        raise no_recurrent_layer(owner, model)
    if names is None:
        return found
    if isinstance(names, str):
        names = [names]
    known = dict(found)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"{owner}: no recurrent layer named {unknown}; the model has "
            f"{list(known)}."
        )
    return [(n, known[n]) for n in names]


def find_layer(model, name, owner):
    """The layer called `name` anywhere in `model` (nested models too)."""
    for layer in model._flatten_layers():
        if layer.name == name:
            return layer
    raise ValueError(
        f"{owner}: model '{model.name}' has no layer named {name!r}."
    )


def check_gate(layer, gate, owner, name=None):
    """`gate` if it is a gate of recurrent `layer`; else a ValueError
    naming the layer (as `name`) and its gates."""
    names = kind_of(layer).gate_names
    if gate not in names:
        raise ValueError(
            f"{owner}: layer '{name or layer.name}' has no gate {gate!r}; "
            f"its gates are {list(names)}."
        )
    return gate


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
    return [int(u) for u in listed]
