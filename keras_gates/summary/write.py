"""Writing gate summaries to TensorBoard, many at a time.

`Summaries` gathers scalars, precounted histograms, images and text into
one `Summary` protocol buffer (in the formats of TensorBoard's scalar,
histogram, image and text plugins) and writes it to the default
`tf.summary` writer with a single op. Each eager `tf.summary.*` call costs
about a millisecond whatever its size, and GateMonitor writes dozens per
layer and epoch. TensorFlow is imported where it is used.
"""

import io

import numpy as np
from PIL import Image
from tensorboard.compat.proto import (
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.util import tensor_util


class Summaries:
    """Summaries gathered to be written together by `write()`."""

    def __init__(self):
        self.proto = summary_pb2.Summary()

    def scalar(self, tag, data, description=None):
        """A scalar (saturation fraction, mean, count)."""
        self.proto.MergeFrom(
            scalar_summary.scalar_pb(tag, float(data), description)
        )

    def histogram(self, tag, data, description=None):
        """A histogram counted beforehand: rows (left edge, right edge,
        count)."""
        self.proto.value.add(
            tag=tag,
            metadata=histogram_metadata.create_summary_metadata(
                None, description
            ),
            tensor=tensor_util.make_tensor_proto(np.asarray(data, np.float64)),
        )

    def image(self, tag, data, description=None):
        """One RGBA uint8 image of shape (height, width, 4), stored as PNG."""
        pixels = np.asarray(data, np.uint8)
        encoded = io.BytesIO()
        Image.fromarray(pixels, "RGBA").save(encoded, "png", compress_level=1)
        height, width = pixels.shape[:2]
        self.proto.value.add(
            tag=tag,
            metadata=image_metadata.create_summary_metadata(
                display_name=None, description=description
            ),
            tensor=tensor_util.make_tensor_proto(
                [str(width).encode(), str(height).encode(), encoded.getvalue()]
            ),
        )

    def tensor(self, tag, data, metadata):
        """A tensor summary with the given `SummaryMetadata` (a plugin's own
        data, such as the Gates dashboard's)."""
        self.proto.value.add(tag=tag, metadata=metadata, tensor=_proto(data))

    def text(self, tag, data, description=None):
        """Markdown text (rendered by the Text dashboard)."""
        self.proto.MergeFrom(text_summary.text_pb(tag, data, description))

    def write(self, step=None):
        """Write everything gathered to the default writer, at `step` (or
        the writer's default step)."""
        import tensorflow as tf

        return tf.summary.experimental.write_raw_pb(
            self.proto.SerializeToString(), step=step
        )


def _proto(data):
    """A `TensorProto`; uint16 packed as raw little-endian bytes
    (`make_tensor_proto` writes uint16 values one varint each, about 1.5x
    the bytes)."""
    array = np.asarray(data)
    if array.dtype != np.uint16:
        return tensor_util.make_tensor_proto(array)
    array = np.ascontiguousarray(array, "<u2")
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_UINT16,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[{"size": n} for n in array.shape]
        ),
        tensor_content=array.tobytes(),
    )
