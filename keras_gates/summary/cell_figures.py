"""The four figures of `keras_gates.figures` as TensorBoard images.

GateMonitor logs them once per run: the figures of each distinct cell (kind
and sizes) among the probed layers, drawn once (a figure costs about half a
second) and written under the tags of every layer with that cell; the
sigmoid gates are coloured by their mean value over those layers on the
probe.
"""

import numpy as np

from keras_gates import figures

_COLOURED = (
    " Sigmoid gates of this layer are coloured by their mean value on the "
    "probe at this step (viridis: 0 shut, 1 open)."
)
DESCRIPTIONS = {
    "rnn_cell": "The simple RNN cell at this layer's sizes: one tanh layer "
    "on x_t joined to h_{t-1}, its inputs, neurons and weights.",
    "lstm_gates": "The LSTM cell at this layer's sizes; each gate is a "
    "sigmoid layer and the multiplication it feeds." + _COLOURED,
    "lstm_dimensions": "The sizes inside the LSTM cell: what each of its "
    "four layers maps to what, weight shapes and parameter counts.",
    "lstm_vs_gru": "LSTM and GRU cells at this layer's sizes, side by side, "
    "with their parameter counts." + _COLOURED,
}


def write(summaries, layers, records):
    """Add `<layer>/figures/<name>` images for every record.

    Args:
        summaries: a `keras_gates.summary.write.Summaries`.
        layers: {name: layer} of the probed layers.
        records: the probe's `ProbedLayer`s, one per layer.
    """
    cells = {}  # (kind, input size, units) -> the records of its layers
    for record in records:
        layer = layers[record.name]
        cell = layer.cell
        key = (
            type(cell),
            cell.kernel.shape[0],
            cell.units,
            cell.use_bias,
            getattr(cell, "reset_after", None),
        )
        cells.setdefault(key, []).append(record)
    for shared in cells.values():
        layer = layers[shared[0].name]
        drawn = figures.draw(
            layer, openness=_openness(shared), names=figures.shown_by(layer)
        )
        shared_note = ""
        if len(shared) > 1:
            names = ", ".join(record.name for record in shared)
            shared_note = (
                f" The same cell for layers {names}; gate colours are "
                "their means over these layers."
            )
        for name, figure in drawn.items():
            first = None
            for record in shared:
                tag = f"{record.name}/figures/{name}"
                if first is not None:  # the same PNG, encoded once
                    summaries.proto.value.add().CopyFrom(first)
                    summaries.proto.value[-1].tag = tag
                    continue
                summaries.image(
                    tag,
                    figures.to_pixels(figure),
                    description=DESCRIPTIONS[name] + shared_note,
                )
                first = summaries.proto.value[-1]


def _openness(records):
    """The mean of each sigmoid gate over the layers `records` (those with
    a finite mean)."""
    means = {}
    for record in records:
        for gate in record.sigmoid_gates:
            if np.isfinite(record.stats[gate].mean):
                means.setdefault(gate, []).append(record.stats[gate].mean)
    return {gate: float(np.mean(values)) for gate, values in means.items()}
