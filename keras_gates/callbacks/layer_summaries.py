"""GateMonitor's summaries of one layer at one logged epoch.

From a probe (`write_layer`, given a `ProbedLayer`): per gate its
statistics (`write_stats`) and a heatmap, the layer's saturation scatter
plot. From the training counters (`write_stats` under `<gate>/training`).
"""

from keras_gates.summary import images


def write_stats(summaries, tag, stats, sigmoid):
    """A gate's `GateStats` under `tag`: histogram, mean, non-finite count
    and, for sigmoid gates, saturation and always-saturated units."""
    summaries.histogram(f"{tag}/histogram", stats.histogram)
    summaries.scalar(f"{tag}/mean", stats.mean)
    summaries.scalar(f"{tag}/nonfinite", stats.nonfinite)
    if sigmoid:
        summaries.scalar(f"{tag}/saturation_left", stats.left)
        summaries.scalar(f"{tag}/saturation_right", stats.right)
        summaries.scalar(f"{tag}/units_always_closed", stats.always_closed)
        summaries.scalar(f"{tag}/units_always_open", stats.always_open)


def write_layer(summaries, record, shown, heatmap_note, thresholds):
    """Statistics, heatmaps and the saturation scatter of one layer.

    Args:
        summaries: a `keras_gates.summary.write.Summaries`.
        record: the layer's `ProbedLayer`.
        shown: the slice of steps (in the layer's order) heatmaps show.
        heatmap_note: function (valid steps shown) -> the heatmap's
            description.
        thresholds: the saturation thresholds (left, right).
    """
    panels = []
    valid = record.heatmap_valid[shown]
    for gate, stats in record.stats.items():
        sigmoid = gate in record.sigmoid_gates
        tag = f"{record.name}/{gate}"
        write_stats(summaries, tag, stats, sigmoid)
        if sigmoid:
            panels.append((gate, stats.unit_left, stats.unit_right))
        sequence = record.heatmap[gate][shown][valid]
        if sequence.size:
            summaries.image(
                f"{tag}/heatmap",
                images.heatmap(sequence, sigmoid),
                description=heatmap_note(len(sequence)),
            )
    if panels:
        left, right = thresholds
        summaries.image(
            f"{record.name}/saturation_scatter",
            images.saturation_scatter(panels),
            description=(
                f"One dot per unit; panels left to right: "
                f"{', '.join(p[0] for p in panels)}. x: fraction of "
                f"steps below {left}, y: fraction above "
                f"{right}; grey: frame, 0.5 grid and x + y = 1."
            ),
        )
