"""The four figures of `keras_gates.figures` as TensorBoard images.

GateMonitor logs them once per fit: each probed layer's kind of cell at its
sizes, its sigmoid gates coloured by their mean value on the probe.
"""

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
        records: the probe's `LayerGates`, one per layer.
    """
    for record in records:
        layer = layers[record.name]
        openness = {}
        if record.valid.any():
            openness = figures.mean_openness(record.gates, record.valid)
        drawn = figures.draw(
            layer, openness=openness, names=figures.shown_by(layer)
        )
        for name, figure in drawn.items():
            summaries.image(
                f"{record.name}/figures/{name}",
                figures.to_pixels(figure),
                description=DESCRIPTIONS[name],
            )
