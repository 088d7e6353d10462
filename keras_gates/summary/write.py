"""Writers for gate summaries, each `(name, data, step=None, description=None)`.

They write to the default `tf.summary` writer (use `writer.as_default()`),
as the TensorBoard summary ops do. TensorFlow is imported where it is used.
"""

import re

import numpy as np


def scalar(name, data, step=None, description=None):
    """A scalar (saturation fraction, mean, count)."""
    import tensorflow as tf

    return tf.summary.scalar(
        name, float(data), step=step, description=description
    )


def histogram(name, data, step=None, description=None):
    """A histogram counted beforehand: rows (left edge, right edge, count).

    `tf.summary.histogram` bins raw values with eager TensorFlow ops, 30 ms
    for a probe's worth of one gate; NumPy or the device count them faster.
    """
    import tensorflow as tf
    from tensorboard.plugins.histogram import metadata

    return tf.summary.write(
        name,
        tf.constant(np.asarray(data, np.float64)),
        step=step,
        metadata=metadata.create_summary_metadata(name, description),
    )


def image(name, data, step=None, description=None):
    """One RGBA uint8 image of shape (height, width, 4)."""
    import tensorflow as tf

    return tf.summary.image(
        name, np.asarray(data)[None], step=step, description=description
    )


def text(name, data, step=None, description=None):
    """Markdown text (rendered by the Text dashboard)."""
    import tensorflow as tf

    return tf.summary.text(name, data, step=step, description=description)


def custom_scalars_layout(layer_names, training=False, step=0):
    """Group each layer's saturation and mean charts in custom_scalars.

    With `training`, add the chart of the statistics over training batches.
    """
    import tensorflow as tf
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as cs_summary

    def chart(title, regex):
        return layout_pb2.Chart(
            title=title,
            multiline=layout_pb2.MultilineChartContent(tag=[regex]),
        )

    categories = []
    for layer in layer_names:
        prefix = rf"^{re.escape(layer)}/[^/]+"
        charts = [
            chart("left saturation (< 0.1)", rf"{prefix}/saturation_left$"),
            chart("right saturation (> 0.9)", rf"{prefix}/saturation_right$"),
            chart("mean value", rf"{prefix}/mean$"),
            chart("non-finite values", rf"{prefix}/nonfinite$"),
        ]
        if training:
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
        cs_summary.pb(layout).SerializeToString(), step=step
    )
