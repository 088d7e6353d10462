"""Gate statistics over every training batch, accumulated on the device.

While `fit` runs, each recurrent layer's `call` is wrapped so that, in
training, the gates of the first `rows` sequences of every batch (from a
keras-gates layer's own loop, or from a keras-gates twin that reads a stock
layer's very variables) update
fixed-bin histograms and saturation counters held in non-trainable
variables. (A subset: writing every gate of every sequence costs as much
as the layer's own forward pass; see the README.) The
updates are plain tensor ops inside the compiled train step (XLA included):
no host transfer until the epoch ends and the callback reads the counters.
Sigmoid gates are binned on [0, 1], tanh values on [-1, 1] and the LSTM cell
state on [-cell_range, cell_range]; values outside go to the edge bins.
"""

import keras
import numpy as np
from keras import ops

from keras_gates.layers.kind import kind_of
from keras_gates.listen import Ear, listening
from keras_gates.summary import stats


def _counter(shape, strategy):
    # Summed over replicas when read, as Keras metrics are.
    with strategy.scope():
        return keras.Variable(
            ops.zeros(shape),
            dtype="float32",
            trainable=False,
            aggregation="sum",
            synchronization="on_read",
        )


class GateAccumulator:
    """Counters for the gates of one recurrent layer.

    The gates of a batch are stacked and counted by
    `keras_gates.summary.stats.count` (the probe's statistics code), so
    that each update is a handful of tensor ops for the whole layer rather
    than a handful per gate (on a CPU the ops' fixed cost, not their size,
    is what a training step pays).
    """

    def __init__(
        self, name, layer, strategy, bins, left, right, cell_range, rows
    ):
        self.name, self.layer = name, layer
        kind = kind_of(layer)
        self.gate_names = kind.gate_names
        self.sigmoid_gates = kind.sigmoid_gates
        self.bins, self.left, self.right = bins, left, right
        self.ranges = {
            gate: kind.bounds(gate, (-cell_range, cell_range))
            for gate in self.gate_names
        }
        self._low, self._high = np.array(
            [self.ranges[g] for g in self.gate_names], "float32"
        ).T
        count, units = len(self.gate_names), layer.cell.units
        self.counters = {
            "histogram": _counter((count, bins), strategy),
            "below": _counter((count, units), strategy),
            "above": _counter((count, units), strategy),
            "count": _counter((count, units), strategy),
            "sum": _counter((count,), strategy),
            "nonfinite": _counter((count,), strategy),
        }
        self.rows = rows
        self._ear = Ear.of(name, layer)

    def reset(self):
        for variable in self.counters.values():
            variable.assign(ops.zeros(variable.shape))

    def update(self, gates, valid):
        """Add a batch: gates (batch, time, units), valid (batch, time)."""
        values = stats.stack(gates, self.gate_names)
        counts = stats.count(
            values,
            valid,
            self._low,
            self._high,
            self.bins,
            self.left,
            self.right,
        )
        for name, variable in self.counters.items():
            variable.assign_add(counts[name])

    def read(self):
        """The counters as NumPy arrays: {gate: {counter: array}}."""
        values = {k: ops.convert_to_numpy(v) for k, v in self.counters.items()}
        return {
            gate: {k: v[i] for k, v in values.items()}
            for i, gate in enumerate(self.gate_names)
        }

    def listener(self):
        """A context manager: within it, every training call of the layer
        updates the counters."""
        return listening(
            self._ear,
            lambda gates, valid, training: self.update(gates, valid),
            wants=bool,
            rows=self.rows,
        )

    def summary(self, always):
        """Per gate: its `keras_gates.summary.stats.GateStats`."""
        return {
            gate: stats.summarize(
                counts,
                *self.ranges[gate],
                gate in self.sigmoid_gates,
                always,
            )
            for gate, counts in self.read().items()
        }
