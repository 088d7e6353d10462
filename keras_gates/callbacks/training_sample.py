"""The latest training batch's inputs, kept on the device for GateMonitor.

A Keras callback never sees the training data. When GateMonitor has neither
`probe_data` nor validation data, it listens to the model's own call during
training and copies (up to `size` sequences of) each batch's inputs into
non-trainable variables, inside the compiled train step; at epoch end it
probes with the last batch kept. The copy is a few hundred kilobytes a
step, with no host transfer.
"""

import keras
from keras import ops

from keras_gates.layers.inputs import numeric
from keras_gates.listen import replaced_call
from keras_gates.probe import input_name


class TrainingSample:
    """Keeps up to `size` sequences of the latest training batch's inputs.

    Only on the TensorFlow backend (JAX train steps are pure functions),
    for models with known input shapes (functional or Sequential with an
    `Input`) and numeric inputs (texts are not kept on the device);
    `available` tells whether all hold, `unavailable` why not (or None).
    """

    def __init__(self, model, size):
        self.model, self.size = model, size
        inputs = getattr(model, "inputs", None) or []
        self.unavailable = _unavailable(inputs)
        self.available = self.unavailable is None
        self.buffers, self.filled = [], None
        if not self.available:
            return
        with model.distribute_strategy.scope():
            self.buffers = [
                keras.Variable(
                    ops.zeros((size, *tuple(t.shape)[1:]), t.dtype),
                    trainable=False,
                    aggregation="only_first_replica",
                    synchronization="on_read",
                )
                for t in inputs
            ]
            self.filled = keras.Variable(
                0,
                dtype="int32",
                trainable=False,
                aggregation="only_first_replica",
                synchronization="on_read",
            )

    def listener(self):
        """A context manager: within it, every training call of the model
        copies its inputs."""

        def make(original):
            def call(inputs, *args, **kwargs):
                if kwargs.get("training"):
                    self._keep(inputs)
                return original(inputs, *args, **kwargs)

            return call

        return replaced_call(self.model, make)

    def _keep(self, inputs):
        arrays = keras.tree.flatten(inputs)
        for buffer, x in zip(self.buffers, arrays):
            x = ops.cast(x, buffer.dtype)[: self.size]
            pad = ops.zeros((self.size, *buffer.shape[1:]), buffer.dtype)
            buffer.assign(ops.concatenate([x, pad], axis=0)[: self.size])
        batch = ops.shape(arrays[0])[0]
        self.filled.assign(ops.cast(ops.minimum(batch, self.size), "int32"))

    def read(self):
        """The kept inputs (NumPy), structured like the model's inputs."""
        count = int(ops.convert_to_numpy(self.filled))
        if not count:
            return None
        arrays = [ops.convert_to_numpy(b)[:count] for b in self.buffers]
        return arrays[0] if len(arrays) == 1 else arrays


def _unavailable(inputs):
    """Why the inputs of a model with `inputs` cannot be kept, or None."""
    if keras.backend.backend() != "tensorflow":
        return "not the TensorFlow backend"
    if not inputs or any(None in tuple(t.shape)[1:] for t in inputs):
        return "input shapes not fixed"
    for tensor in inputs:
        if not numeric(keras.backend.standardize_dtype(tensor.dtype)):
            return (
                f"input '{input_name(tensor)}' takes {tensor.dtype} values, "
                "which are not kept on the device"
            )
    return None
