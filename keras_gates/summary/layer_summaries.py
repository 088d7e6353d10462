"""What GateMonitor writes for TensorBoard's own dashboards.

Per logged epoch and layer, from a `LayerRecord`
(`keras_gates.callbacks.statistics`): per gate its statistics
(`write_stats`: Histograms and Scalars) and a heatmap (Images), the
layer's saturation scatter plot; from the training counters, the
statistics under `<gate>/training`. Once per run, the dimension tables
(Text) and the Custom Scalars layout. Thresholds in titles and
descriptions are those of the monitor's settings.
"""

import re

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


def write_layer(summaries, record, settings, heatmap_index):
    """Statistics, heatmaps and the saturation scatter of one layer.

    Args:
        summaries: a `keras_gates.summary.write.Summaries`.
        record: the layer's `LayerRecord` from the probe.
        settings: the monitor's `Settings` (thresholds, step window).
        heatmap_index: which probe sequence the heatmap shows.
    """
    panels = []
    length = record.heatmap_valid.shape[0]
    shown = settings.window(length, record.go_backwards)
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
                description=images.heatmap_description(
                    heatmap_index, settings.steps, len(sequence)
                ),
            )
    if panels:
        left, right = settings.thresholds
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


def write_dimensions(summaries, table, names):
    """Each layer's dimension table (`keras_gates.describe`) as text."""
    for name in names:
        summaries.text(f"{name}/dimensions", table.for_layer(name))


def custom_scalars_layout(layer_names, settings):
    """Group each layer's saturation and mean charts in Custom Scalars,
    with the chart of the statistics over training batches when the
    monitor tracks them. Written once, at step 0."""
    import tensorflow as tf
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as cs_summary

    def chart(title, regex):
        return layout_pb2.Chart(
            title=title,
            multiline=layout_pb2.MultilineChartContent(tag=[regex]),
        )

    left, right = settings.thresholds
    categories = []
    for layer in layer_names:
        prefix = rf"^{re.escape(layer)}/[^/]+"
        charts = [
            chart(f"left saturation (< {left})", rf"{prefix}/saturation_left$"),
            chart(
                f"right saturation (> {right})",
                rf"{prefix}/saturation_right$",
            ),
            chart("mean value", rf"{prefix}/mean$"),
            chart("non-finite values", rf"{prefix}/nonfinite$"),
        ]
        if settings.track_training:
            charts.append(
                chart(
                    "saturation over all training batches",
                    rf"{prefix}/training/saturation_(left|right)$",
                )
            )
        categories.append(
            layout_pb2.Category(title=f"gates: {layer}", chart=charts)
        )
    layout = layout_pb2.Layout(category=categories)
    return tf.summary.experimental.write_raw_pb(
        cs_summary.pb(layout).SerializeToString(), step=0
    )
