"""What GateMonitor takes from a probe batch: statistics counted on the
device, and the few sequences it shows.

`ProbeReducer` runs inside the probe's compiled forward pass (see
`keras_gates.probe.GateProbe`'s `reduce`): it counts every gate of a layer
with `keras_gates.summary.stats.count` (the code `track_training` uses) on
the range the dashboard quantizes with, and keeps the first `rows`
sequences (for the dashboard) and the heatmap's sequence. Only those reach
the host, where `read` makes a `ProbedLayer` of them.
"""

import dataclasses

import numpy as np
from keras import ops

from keras_gates.layers.kind import kind_of
from keras_gates.summary import stats


@dataclasses.dataclass
class ProbedLayer:
    """One recurrent layer on a probe batch, as GateMonitor writes it.

    Attributes:
        name: the layer's name (`<bidirectional>/forward|backward` for the
            halves of a `Bidirectional`).
        sigmoid_gates: the names of the gates computed by the
            `recurrent_activation`.
        stats: dict gate name -> `GateStats` over the whole probe batch.
        low, high: per gate (in `stats` order), the range the histograms
            cover (that of `tensorboard_plugin_gates.metadata.value_range`).
        unit_histograms: (gate, units, bins) counts per unit, or None.
        gates: dict gate name -> (rows, time, units): the first probe
            sequences, in the order the layer processed the steps.
        valid: bool (rows, time), False at masked steps.
        heatmap: dict gate name -> (time, units) of the heatmap's sequence.
        heatmap_valid: bool (time,) of that sequence.
    """

    name: str
    sigmoid_gates: tuple
    stats: dict
    low: np.ndarray
    high: np.ndarray
    unit_histograms: np.ndarray | None
    gates: dict
    valid: np.ndarray
    heatmap: dict
    heatmap_valid: np.ndarray


class ProbeReducer:
    """The `reduce` of GateMonitor's `GateProbe`.

    Args:
        left, right: saturation thresholds.
        bins: bins of the per-gate histograms.
        unit_bins: bins of the per-unit histograms, or None for none.
        rows: how many first sequences to keep.
        heatmap_index: the sequence kept for heatmaps (the last one when
            the batch is smaller).
    """

    def __init__(self, left, right, bins, unit_bins, rows, heatmap_index):
        self.left, self.right = left, right
        self.bins, self.unit_bins = bins, unit_bins
        self.rows, self.heatmap_index = rows, heatmap_index

    def __call__(self, name, layer, gates, valid):
        cell = kind_of(layer)
        names = cell.gate_names
        values = stats.stack(gates, names)
        sigmoid = [gate in cell.sigmoid_gates for gate in names]
        low, high = stats.value_ranges(values, valid, sigmoid)
        counts = stats.count(
            values,
            valid,
            low,
            high,
            self.bins,
            self.left,
            self.right,
            self.unit_bins,
        )
        last = ops.shape(valid)[0] - 1
        index = ops.reshape(ops.minimum(self.heatmap_index, last), (1,))
        return {
            "counts": counts,
            "low": low,
            "high": high,
            "gates": values[:, : self.rows],
            "valid": valid[: self.rows],
            "heatmap": ops.take(values, index, axis=1)[:, 0],
            "heatmap_valid": ops.take(valid, index, axis=0)[0],
        }

    @staticmethod
    def read(name, layer, result, always):
        """The `ProbedLayer` of a layer from this reducer's `result`."""
        cell = kind_of(layer)
        counts = result["counts"]
        return ProbedLayer(
            name=name,
            sigmoid_gates=tuple(cell.sigmoid_gates),
            stats={
                gate: stats.summarize(
                    {k: v[i] for k, v in counts.items()},
                    float(result["low"][i]),
                    float(result["high"][i]),
                    gate in cell.sigmoid_gates,
                    always,
                )
                for i, gate in enumerate(cell.gate_names)
            },
            low=result["low"],
            high=result["high"],
            unit_histograms=counts.get("unit_histogram"),
            gates=dict(zip(cell.gate_names, result["gates"])),
            valid=np.asarray(result["valid"], bool),
            heatmap=dict(zip(cell.gate_names, result["heatmap"])),
            heatmap_valid=np.asarray(result["heatmap_valid"], bool),
        )
