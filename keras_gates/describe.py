"""Dimension tables: what each neural-network layer inside a cell computes.

`describe(layer_or_model)` lists, for every recurrent layer (stock Keras or
keras-gates, also inside `Bidirectional` and nested models), the layers
inside its cell, each mapping x_t (D_x) joined to h_{t-1} (D_h) to D_h
numbers, with weight and bias shapes and parameter counts, and the
point-wise operators, which carry no weights. Totals equal Keras's
`count_params()`.
"""

import dataclasses
import math

import keras

from keras_gates.layers.cell import GateCell

# For each Keras cell: its neural-network layers (name, activation
# attribute) in kernel column order, and its point-wise operators.
_STRUCTURE = {
    keras.layers.LSTMCell: (
        (
            ("input gate", "recurrent_activation"),
            ("forget gate", "recurrent_activation"),
            ("candidate", "activation"),
            ("output gate", "recurrent_activation"),
        ),
        (
            "forget * c_{t-1}",
            "input * candidate",
            "c_t = forget * c_{t-1} + input * candidate",
            "activation(c_t)",
            "h_t = output * activation(c_t)",
        ),
    ),
    keras.layers.GRUCell: (
        (
            ("update gate", "recurrent_activation"),
            ("reset gate", "recurrent_activation"),
            ("candidate", "activation"),
        ),
        (
            "reset * h_{t-1} (inside the candidate layer)",
            "1 - update",
            "update * h_{t-1}",
            "(1 - update) * candidate",
            "h_t = update * h_{t-1} + (1 - update) * candidate",
        ),
    ),
    keras.layers.SimpleRNNCell: ((("hidden", "activation"),), ()),
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One part of a cell: a neural-network layer or a weightless operator."""

    layer: str
    part: str
    kind: str
    d_x: int
    d_h: int
    weight_shape: tuple | None
    bias_shape: tuple | None
    params: int

    @property
    def input_size(self):
        """D_x + D_h for a neural-network layer, None for an operator."""
        return None if self.weight_shape is None else self.d_x + self.d_h

    @property
    def seed_notation(self):
        """Shapes dims-first, one sample: `(D_x + D_h, 1) -> (D_h, 1)`."""
        if self.weight_shape is None:
            return f"({self.d_h}, 1) -> ({self.d_h}, 1)"
        return f"({self.input_size}, 1) -> ({self.d_h}, 1)"


@dataclasses.dataclass(frozen=True)
class Description:
    """The rows of every recurrent layer found, with per-layer totals."""

    rows: tuple

    def for_layer(self, name):
        """The markdown table of one layer."""
        rows = tuple(r for r in self.rows if r.layer == name)
        return Description(rows).to_markdown()

    def layer_names(self):
        return list(dict.fromkeys(row.layer for row in self.rows))

    def total_params(self, layer=None):
        return sum(r.params for r in self.rows if layer in (None, r.layer))

    def to_markdown(self):
        header = (
            "| layer | part | kind | input x_t + h_{t-1} | weights | bias "
            "| params | output | seed notation |\n"
            "|---|---|---|---|---|---|---:|---:|---|\n"
        )
        lines = []
        for row in self.rows:
            if row.weight_shape is None:
                lines.append(
                    f"| {row.layer} | {row.part} | {row.kind} | - | none | "
                    f"none | 0 | {row.d_h} | {row.seed_notation} |"
                )
                continue
            lines.append(
                f"| {row.layer} | {row.part} | {row.kind} | "
                f"{row.d_x} + {row.d_h} = {row.input_size} | "
                f"{row.weight_shape} | {row.bias_shape or 'none'} | "
                f"{row.params} | {row.d_h} | {row.seed_notation} |"
            )
        totals = []
        for name in self.layer_names():
            total = self.total_params(name)
            note = ""
            first = next(r for r in self.rows if r.layer == name)
            if first.part == "update gate":
                lstm = 4 * ((first.d_x + first.d_h) * first.d_h + first.d_h)
                note = f"{total / lstm:.2f} x an LSTM of this size ({lstm})"
            totals.append(
                f"| {name} | **total** | {note} | | | | {total} | | |"
            )
        return header + "\n".join(lines + totals) + "\n"


def readable(layer):
    """Whether keras-gates can read `layer`'s gates and sizes.

    True for an RNN layer (stock LSTM/GRU/SimpleRNN, a keras-gates layer or a
    plain `keras.layers.RNN`) whose cell is Keras's own LSTMCell, GRUCell or
    SimpleRNNCell or a keras-gates cell. A subclass of a Keras cell may
    compute something else, and `StackedRNNCells` runs several cells in one
    loop, so neither is read.
    """
    return isinstance(layer, keras.layers.RNN) and (
        type(layer.cell) in _STRUCTURE or isinstance(layer.cell, GateCell)
    )


def no_recurrent_layer(where, obj):
    """The ValueError for a model or layer with no readable RNN layer."""
    return ValueError(
        f"{where}: found no LSTM, GRU or SimpleRNN layer in "
        f"{type(obj).__name__} '{getattr(obj, 'name', obj)}' (keras-gates "
        "reads RNN layers whose cell is Keras's LSTMCell, GRUCell or "
        "SimpleRNNCell or a keras-gates cell; custom cell classes and "
        "StackedRNNCells are not read)."
    )


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


def _cell_structure(cell):
    for cell_class, structure in _STRUCTURE.items():
        if isinstance(cell, cell_class):
            return structure
    raise TypeError(f"no dimension table for cell {type(cell).__name__}")


def _describe_layer(name, layer):
    cell = layer.cell
    if not cell.built:
        raise ValueError(
            f"describe: layer '{name}' is not built yet; call the model on "
            "data or build it with an input shape first."
        )
    layers, operators = _cell_structure(cell)
    d_x, d_h, count = cell.kernel.shape[0], cell.units, len(layers)
    bias_size = 0 if cell.bias is None else math.prod(cell.bias.shape) // count
    rows = []
    for part, activation_attr in layers:
        activation = getattr(cell, activation_attr)
        activation = getattr(activation, "__name__", type(activation).__name__)
        rows.append(
            Row(
                layer=name,
                part=part,
                kind=f"{activation} layer",
                d_x=d_x,
                d_h=d_h,
                weight_shape=(d_x + d_h, d_h),
                bias_shape=(bias_size,) if bias_size else None,
                params=(d_x + d_h) * d_h + bias_size,
            )
        )
    for op in operators:
        rows.append(Row(name, op, "operator", d_x, d_h, None, None, 0))
    return rows


def describe(layer_or_model):
    """The dimension table of every recurrent layer in a layer or model.

    Args:
        layer_or_model: a built `keras.layers.LSTM`/`GRU`/`SimpleRNN` (stock
            or keras-gates), a `Bidirectional` wrapper, or a model holding
            them at any depth.

    Returns:
        A `Description` with `.rows` (one `Row` per neural-network layer and
        per operator) and `.to_markdown()`.

    Example:

    >>> import keras_gates
    >>> layer = keras_gates.LSTM(10)
    >>> layer.build((None, 5, 10))
    >>> table = keras_gates.describe(layer)
    >>> table.total_params() == layer.count_params() == 840
    True
    """
    found = list(recurrent_layers(layer_or_model))
    if not found:
        raise no_recurrent_layer("describe", layer_or_model)
    rows = [
        row for name, layer in found for row in _describe_layer(name, layer)
    ]
    return Description(tuple(rows))
