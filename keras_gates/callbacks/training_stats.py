"""Gate statistics over every training batch, accumulated on the device.

While `fit` runs, each recurrent layer's `call` is wrapped so that, in
training, the gates of the first `rows` sequences of every batch, computed
by a keras-gates twin that reads the layer's very variables, update
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

from keras_gates.probe import listen, restore_call, twin_class_of, twin_of


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
    """Counters for the gates of one recurrent layer."""

    def __init__(
        self, name, layer, strategy, bins, left, right, cell_range, rows
    ):
        self.name, self.layer = name, layer
        cell_class = twin_class_of(layer).cell_class
        self.sigmoid_gates = cell_class.sigmoid_gates
        self.bins, self.left, self.right = bins, left, right
        self.ranges = {
            gate: (0.0, 1.0)
            if gate in self.sigmoid_gates
            else (-cell_range, cell_range)
            if gate == "cell"
            else (-1.0, 1.0)
            for gate in cell_class.gate_names
        }
        units = layer.cell.units
        self.counters = {
            gate: {
                "histogram": _counter((bins,), strategy),
                "below": _counter((units,), strategy),
                "above": _counter((units,), strategy),
                "count": _counter((units,), strategy),
                "sum": _counter((), strategy),
                "nonfinite": _counter((), strategy),
            }
            for gate in cell_class.gate_names
        }
        self.rows = rows
        self._twin = twin_of(layer, always=True)
        self._previous = None

    def reset(self):
        for counters in self.counters.values():
            for variable in counters.values():
                variable.assign(ops.zeros(variable.shape))

    def update(self, gates, valid):
        """Add a batch: gates (batch, time, units), valid (batch, time)."""
        weight = ops.expand_dims(ops.cast(valid, "float32"), -1)
        for gate, values in gates.items():
            values = ops.stop_gradient(ops.cast(values, "float32"))
            low, high = self.ranges[gate]
            finite = ops.isfinite(values)
            counted = weight * ops.cast(finite, "float32")
            values = ops.where(finite, values, low)
            index = ops.floor((values - low) * (self.bins / (high - low)))
            index = ops.cast(ops.clip(index, 0, self.bins - 1), "int32")
            c = self.counters[gate]
            c["histogram"].assign_add(
                ops.segment_sum(
                    ops.reshape(counted, (-1,)),
                    ops.reshape(index, (-1,)),
                    num_segments=self.bins,
                )
            )
            c["below"].assign_add(
                ops.sum(
                    counted * ops.cast(values < self.left, "float32"),
                    axis=(0, 1),
                )
            )
            c["above"].assign_add(
                ops.sum(
                    counted * ops.cast(values > self.right, "float32"),
                    axis=(0, 1),
                )
            )
            c["count"].assign_add(ops.sum(counted, axis=(0, 1)))
            c["sum"].assign_add(ops.sum(counted * values))
            c["nonfinite"].assign_add(
                ops.sum(weight) * values.shape[-1] - ops.sum(counted)
            )

    def read(self):
        """The counters as NumPy arrays: {gate: {counter: array}}."""
        return {
            gate: {k: ops.convert_to_numpy(v) for k, v in counters.items()}
            for gate, counters in self.counters.items()
        }

    def start(self):
        """Listen to the layer: update the counters in every training call."""
        self._previous = listen(
            self.layer,
            self._twin,
            lambda gates, valid, training: self.update(gates, valid),
            wants_gates=bool,
            rows=self.rows,
        )

    def stop(self):
        restore_call(self.layer, self._previous)

    def summary(self, always):
        """Per gate: the statistics GateMonitor writes (NumPy)."""
        result = {}
        for gate, c in self.read().items():
            low, high = self.ranges[gate]
            edges = np.linspace(low, high, self.bins + 1)
            total = max(float(c["count"].sum()), 1.0)
            stats = {
                "histogram": np.stack(
                    [edges[:-1], edges[1:], c["histogram"]], axis=1
                ),
                "mean": float(c["sum"]) / total,
                "nonfinite": float(c["nonfinite"]),
            }
            if gate in self.sigmoid_gates:
                count = np.maximum(c["count"], 1.0)
                stats["saturation_left"] = float(c["below"].sum()) / total
                stats["saturation_right"] = float(c["above"].sum()) / total
                stats["units_always_closed"] = float(
                    (c["below"] / count >= always).mean()
                )
                stats["units_always_open"] = float(
                    (c["above"] / count >= always).mean()
                )
            result[gate] = stats
        return result
