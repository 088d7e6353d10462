"""GateMonitor's statistics: one `LayerRecord` per layer and logged epoch.

Records come from two places, both counted on the device with
`keras_gates.summary.stats.count` so that only counts reach the host:

- `ProbeReducer`: inside the probe's compiled forward pass (the `reduce`
  of `keras_gates.probe.GateProbe`), every gate of a layer on the probe
  batch, binned on the range the dashboard quantizes with, and the first
  sequences kept whole (for the dashboard and the heatmaps);
- `TrainingCounters`: inside the compiled train step, the gates of the
  first `track_rows` sequences of every training batch, added to
  non-trainable variables and read at the epoch's end; binned on the fixed
  range of each gate (its kind's bounds, `cell_range` for the LSTM cell).
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_gates.layers.kind import kind_of
from keras_gates.listen import Ear, listening
from keras_gates.summary import stats
from tensorboard_plugin_gates import metadata


@dataclasses.dataclass
class LayerRecord:
    """One recurrent layer at one logged epoch, as GateMonitor writes it.

    Attributes:
        name: the layer's name (`<bidirectional>/forward|backward` for the
            halves of a `Bidirectional`).
        kind: its `CellKind`.
        go_backwards: whether it processes the steps backwards.
        stats: dict gate name -> `GateStats`.
        low, high: per gate (in `stats` order), the range the histograms
            cover.
        unit_histograms: (gate, units, bins) counts per unit, or None.
        gates: dict gate name -> (rows, time, units): the first probe
            sequences, in the order the layer processed the steps; None
            for statistics over training batches.
        valid: bool (rows, time), False at masked steps, or None.
        heatmap: dict gate name -> (time, units) of the heatmap's
            sequence, or None.
        heatmap_valid: bool (time,) of that sequence, or None.
        importance: (gate, units), how much the model's loss (or outputs)
            change when each unit is mean-ablated (NaN: not measured), or
            None; `importance_measure` says which ("loss", "output").
        matches: {annotation: (gate, units) ROC AUC of each unit's values
            at the annotated steps against the others}, or None.
    """

    name: str
    kind: object
    go_backwards: bool
    stats: dict
    low: np.ndarray
    high: np.ndarray
    unit_histograms: np.ndarray | None = None
    gates: dict | None = None
    valid: np.ndarray | None = None
    heatmap: dict | None = None
    heatmap_valid: np.ndarray | None = None
    importance: np.ndarray | None = None
    importance_measure: str | None = None
    matches: dict | None = None

    @property
    def sigmoid_gates(self):
        return self.kind.sigmoid_gates


def _summaries(kind, counts, low, high, always):
    """`GateStats` per gate from `count`'s arrays (NumPy, gate first)."""
    return {
        gate: stats.summarize(
            {k: v[i] for k, v in counts.items()},
            float(low[i]),
            float(high[i]),
            gate in kind.sigmoid_gates,
            always,
        )
        for i, gate in enumerate(kind.gate_names)
    }


class ProbeReducer:
    """The `reduce` of GateMonitor's probe, and the reading of its results.

    Args:
        settings: the monitor's `Settings` (thresholds, bins, dashboard
            sequences, heatmap sequence).
    """

    def __init__(self, settings):
        self.settings = settings
        self.unit_bins = metadata.BINS if settings.dashboard else None
        self.rows = settings.dashboard_sequences if settings.dashboard else 1

    def __call__(self, name, layer, gates, valid):
        kind, settings = kind_of(layer), self.settings
        values = stats.stack(gates, kind.gate_names)
        sigmoid = [gate in kind.sigmoid_gates for gate in kind.gate_names]
        low, high = stats.value_ranges(values, valid, sigmoid)
        counts = stats.count(
            values,
            valid,
            low,
            high,
            settings.bins,
            settings.left,
            settings.right,
            self.unit_bins,
        )
        last = ops.shape(valid)[0] - 1
        index = ops.reshape(ops.minimum(settings.heatmap_index, last), (1,))
        return {
            "counts": counts,
            "low": low,
            "high": high,
            "gates": values[:, : self.rows],
            "valid": valid[: self.rows],
            "heatmap": ops.take(values, index, axis=1)[:, 0],
            "heatmap_valid": ops.take(valid, index, axis=0)[0],
        }

    def read(self, name, layer, result):
        """The `LayerRecord` of a layer from this reducer's `result`
        (NumPy)."""
        kind = kind_of(layer)
        counts = result["counts"]
        return LayerRecord(
            name=name,
            kind=kind,
            go_backwards=bool(layer.go_backwards),
            stats=_summaries(
                kind,
                counts,
                result["low"],
                result["high"],
                self.settings.always,
            ),
            low=result["low"],
            high=result["high"],
            unit_histograms=counts.get("unit_histogram"),
            gates=dict(zip(kind.gate_names, result["gates"])),
            valid=np.asarray(result["valid"], bool),
            heatmap=dict(zip(kind.gate_names, result["heatmap"])),
            heatmap_valid=np.asarray(result["heatmap_valid"], bool),
        )


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


class TrainingCounters:
    """Counters of the gates of one recurrent layer over training batches.

    The gates of a batch are stacked and counted with one handful of
    tensor ops for the whole layer (on a CPU the ops' fixed cost, not their
    size, is what a training step pays).

    Args:
        name: the layer's name.
        layer: the layer.
        strategy: the model's distribution strategy (counters are summed
            over replicas).
        settings: the monitor's `Settings`.
    """

    def __init__(self, name, layer, strategy, settings):
        self.name, self.layer, self.settings = name, layer, settings
        self.kind = kind_of(layer)
        bounds = [
            self.kind.bounds(gate, (-settings.cell_range, settings.cell_range))
            for gate in self.kind.gate_names
        ]
        sigmoid = [g in self.kind.sigmoid_gates for g in self.kind.gate_names]
        low, high = np.array(bounds, "float32").T
        self._low, self._high = metadata.value_range(low, high, sigmoid)
        count, units = len(self.kind.gate_names), layer.cell.units
        self.counters = {
            "histogram": _counter((count, settings.bins), strategy),
            "below": _counter((count, units), strategy),
            "above": _counter((count, units), strategy),
            "count": _counter((count, units), strategy),
            "sum": _counter((count,), strategy),
            "nonfinite": _counter((count,), strategy),
        }
        self._ear = Ear.of(name, layer)

    def reset(self):
        for variable in self.counters.values():
            variable.assign(ops.zeros(variable.shape))

    def update(self, gates, valid):
        """Add a batch: gates (batch, time, units), valid (batch, time)."""
        settings = self.settings
        counts = stats.count(
            stats.stack(gates, self.kind.gate_names),
            valid,
            self._low,
            self._high,
            settings.bins,
            settings.left,
            settings.right,
        )
        for name, variable in self.counters.items():
            variable.assign_add(counts[name])

    def listener(self):
        """A context manager: within it, every training call of the layer
        updates the counters."""
        return listening(
            self._ear,
            lambda gates, valid, training: self.update(gates, valid),
            wants=bool,
            rows=self.settings.track_rows,
        )

    def record(self):
        """The counters so far as a `LayerRecord` (statistics only)."""
        counts = {k: ops.convert_to_numpy(v) for k, v in self.counters.items()}
        return LayerRecord(
            name=self.name,
            kind=self.kind,
            go_backwards=bool(self.layer.go_backwards),
            stats=_summaries(
                self.kind, counts, self._low, self._high, self.settings.always
            ),
            low=self._low,
            high=self._high,
        )
