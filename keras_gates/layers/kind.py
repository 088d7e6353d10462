"""Cell kinds: what makes an LSTM an LSTM, said once.

Each layer module (`lstm.py`, `gru.py`, `simple_rnn.py`) declares one
`CellKind`: the stock Keras cell it reads, its gates in order (with which
of them are sigmoid gates and the range their values live in), the parts
of its cell for dimension tables and figures. Everything outside `layers/`
that needs such a fact (the probe, `describe`, the figures, the statistics,
the dashboard's writer) asks the kind, found with `kind_of(layer)`:

>>> import keras, keras_gates
>>> kind_of(keras.layers.GRU(4)).sigmoid_gates
('update', 'reset')

A keras-gates layer class registers its kind when it is defined, so adding
a kind of cell is one new module in `layers/` (its cell, its layer and its
`CellKind`) and its export.
"""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class Gate:
    """One value a cell computes at every step, returned as a gate.

    Attributes:
        name: its key in the gate dict (`forget`, `cell`, ...).
        role: "gate" for a sigmoid gate (computed by the
            `recurrent_activation`, used as a multiplier), "layer" for
            the output of the `activation` (a candidate), "state" for a
            state the cell carries to the next step.
        bounds: `(low, high)`, the range its values live in with the
            default activations, or None when it has none (the LSTM cell
            state grows without bound).
    """

    name: str
    role: str
    bounds: tuple | None


@dataclasses.dataclass(frozen=True)
class CellKind:
    """The facts of one kind of recurrent cell.

    Attributes:
        name: "LSTM", "GRU", "SimpleRNN".
        stock_cell: the Keras cell class computing the same thing.
        gates: the `Gate`s in the order of the gate dict.
        states: the gate names of the states, in the order the cell
            carries them (`h` first, as Keras does).
        layers: the neural-network layers inside the cell, in kernel
            column order, as (what it is, the cell attribute holding its
            activation).
        operators: its point-wise operators (no weights), as text.
        figures: the names of the figures of `keras_gates.figures` that
            show this kind of cell.
        compared_with: the kind whose parameter count dimension tables
            compare this one's with (the GRU's with the LSTM's), or None.
    """

    name: str
    stock_cell: type
    gates: tuple
    states: tuple
    layers: tuple
    operators: tuple
    figures: tuple = ()
    compared_with: str | None = None

    @property
    def gate_names(self):
        """The keys of the gate dict, in order."""
        return tuple(gate.name for gate in self.gates)

    @property
    def sigmoid_gates(self):
        """The gates that are sigmoid layers used as multipliers."""
        return tuple(g.name for g in self.gates if g.role == "gate")

    def bounds(self, name, unbounded):
        """The `(low, high)` of gate `name`; `unbounded` for a gate whose
        values have no bound."""
        bounds = self.gate(name).bounds
        return unbounded if bounds is None else bounds

    def gate(self, name):
        """The `Gate` called `name`."""
        for gate in self.gates:
            if gate.name == name:
                return gate
        raise KeyError(name)

    @property
    def layer_class(self):
        """The keras-gates layer class of this kind."""
        return _LAYERS[self.name]


# kind name -> its keras-gates layer class, filled as the classes are made.
_LAYERS = {}
_KINDS = {}


def register(layer_class):
    """Make `layer_class` (a keras-gates layer) the layer of its cell's
    kind (called when the class is defined)."""
    kind = layer_class.cell_class.kind
    _LAYERS[kind.name] = layer_class
    _KINDS[kind.name] = kind


def kinds_by_name():
    """Every registered `CellKind`, by name."""
    return dict(_KINDS)


def find_kind(layer):
    """The `CellKind` of a recurrent layer, or None if it is not read.

    Read: a `keras.layers.RNN` (stock LSTM/GRU/SimpleRNN, keras-gates or a
    plain RNN) whose cell is a keras-gates cell or exactly a Keras cell of a
    kind. A subclass of a Keras cell may compute something else, and
    `StackedRNNCells` runs several cells in one loop: neither is read.
    """
    if not isinstance(layer, keras.layers.RNN):
        return None
    cell = layer.cell
    own = getattr(type(cell), "kind", None)
    if isinstance(own, CellKind):
        return own
    for kind in _KINDS.values():
        if type(cell) is kind.stock_cell:
            return kind
    return None


def kind_of(layer):
    """The `CellKind` of a recurrent layer; TypeError if it is not read."""
    kind = find_kind(layer)
    if kind is None:
        raise TypeError(
            f"{type(layer).__name__} '{getattr(layer, 'name', layer)}' is "
            "not an LSTM, GRU or SimpleRNN layer keras-gates reads (an RNN "
            "layer whose cell is Keras's LSTMCell, GRUCell or SimpleRNNCell "
            "or a keras-gates cell)."
        )
    return kind
