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

from keras_gates.layers.kind import kind_of, kinds_by_name
from keras_gates.lookup import find_recurrent


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
    cell: str = ""  # the kind of cell ("LSTM", ...)

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
            other = kinds_by_name()[first.cell].compared_with
            if other is not None:
                size = first.d_x + first.d_h
                layers = len(kinds_by_name()[other].layers)
                peer = layers * (size * first.d_h + first.d_h)
                note = f"{total / peer:.2f} x an {other} of this size ({peer})"
            totals.append(
                f"| {name} | **total** | {note} | | | | {total} | | |"
            )
        return header + "\n".join(lines + totals) + "\n"


def _describe_layer(name, layer):
    cell = layer.cell
    if not cell.built:
        raise ValueError(
            f"describe: layer '{name}' is not built yet; call the model on "
            "data or build it with an input shape first."
        )
    kind = kind_of(layer)
    layers, operators = kind.layers, kind.operators
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
                cell=kind.name,
            )
        )
    for op in operators:
        rows.append(
            Row(name, op, "operator", d_x, d_h, None, None, 0, kind.name)
        )
    return rows


def describe(layer_or_model: keras.layers.Layer) -> Description:
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
    found = find_recurrent(layer_or_model, None, "describe")
    rows = [
        row for name, layer in found for row in _describe_layer(name, layer)
    ]
    return Description(tuple(rows))
