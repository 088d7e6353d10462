"""Gate statistics over every training batch, accumulated on the device.

While `fit` runs, each recurrent layer's `call` is wrapped so that, in
training, its gates (computed in the same loop for keras-gates layers, by a
twin reading the very same variables for stock layers) update fixed-bin
histograms and saturation counters held in non-trainable variables. The
updates are plain tensor ops inside the compiled train step (XLA included):
no host transfer until the epoch ends and the callback reads the counters.
Sigmoid gates are binned on [0, 1], tanh values on [-1, 1] and the LSTM cell
state on [-cell_range, cell_range]; values outside go to the edge bins.
"""

import keras
import numpy as np
from keras import ops

from keras_gates.layers.base import GatedRNN
from keras_gates.probe import restore_call, twin_of


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

    def __init__(self, name, layer, strategy, bins, left, right, cell_range):
        self.name, self.layer = name, layer
        cell = layer.cell if isinstance(layer, GatedRNN) else None
        self.twin = None if cell is not None else self._twin(layer)
        gate_cell = cell if cell is not None else self.twin.cell
        self.sigmoid_gates = gate_cell.sigmoid_gates
        self.bins, self.left, self.right = bins, left, right
        self.ranges = {
            gate: (0.0, 1.0)
            if gate in self.sigmoid_gates
            else (-cell_range, cell_range)
            if gate == "cell"
            else (-1.0, 1.0)
            for gate in gate_cell.gate_names
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
            for gate in gate_cell.gate_names
        }

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

    def listen(self):
        """Wrap the layer's call to update the counters in training."""
        layer, original = self.layer, self.layer.call
        self._previous = layer.__dict__.get("call")

        def call(sequences, initial_state=None, mask=None, training=False):
            result, gates = self._call(
                original, sequences, initial_state, mask, training
            )
            if training and gates is not None:
                if isinstance(mask, (list, tuple)):
                    mask = mask[0]
                valid = (
                    ops.ones(ops.shape(sequences)[:2], "bool")
                    if mask is None
                    else ops.cast(mask, "bool")
                )
                if layer.go_backwards:
                    valid = ops.flip(valid, 1)
                self.update(gates, valid)
            return result

        layer.call = call

    def _call(self, original, sequences, initial_state, mask, training):
        kwargs = dict(initial_state=initial_state, mask=mask, training=training)
        if self.twin is None:
            wanted = self.layer.return_gates
            self.layer.return_gates = bool(training) or wanted
            try:
                result = original(sequences, **kwargs)
            finally:
                self.layer.return_gates = wanted
            if not training:
                return result, None
            if wanted:
                return result, result[-1]
            gates = result[-1]
            result = result[:-1]
            return (result[0] if len(result) == 1 else result), gates
        result = original(sequences, **kwargs)
        if not training:
            return result, None
        twin_kwargs = dict(initial_state=initial_state, mask=mask)
        return result, self.twin(sequences, **twin_kwargs)[-1]

    @staticmethod
    def _twin(layer):
        """A keras-gates twin whose cell reads the stock cell's variables."""
        twin = twin_of(layer)
        twin.build((None, None, layer.cell.kernel.shape[0]))
        for name in ("kernel", "recurrent_kernel", "bias"):
            # Plain attributes: the twin must not track them as its own.
            object.__setattr__(twin.cell, name, getattr(layer.cell, name))
        return twin

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
