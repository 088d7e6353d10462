"""What GateMonitor reads: the recurrent layers it can listen to
(`monitored_layers`), and the inputs it probes with, the first sequences
of `probe_data`, of the validation data of `fit`, or of the latest
training batch.

`ProbeSource` chooses, at each logged epoch; at most `max_probe`
sequences are taken, fewer by `probe_values` (the gate values per gate the
probe may compute: sequences x steps x units of the monitored layers).
What it cannot read it says before the fit trains (a ValueError when
nothing is left to monitor, else a warning), or, for validation data it
sees only at the first epoch's end, in a warning: the fit goes on.
The labels of those sequences are kept when there are any (`probe_data=(x,
y)`, validation data), for GateMonitor's importance.
"""

import warnings

import keras
import numpy as np

from keras_gates.callbacks.training_sample import TrainingSample
from keras_gates.layers.kind import kind_of
from keras_gates.listen import Ear
from keras_gates.lookup import find_recurrent, unread_recurrent
from keras_gates.probe import check_inputs


class ProbeSource:
    """The probe inputs of one GateMonitor for one fit.

    Args:
        model: the model being fitted.
        probe_data: GateMonitor's `probe_data` (arrays, an `(x, y)` tuple,
            a `tf.data.Dataset`), or None.
        settings: its `Settings`.
        units: the units of the monitored layers, in all.
        steps: the most steps a monitored layer reads (`layer_steps`), or
            None when unknown: then the first input's second axis counts
            (a text is one input step but many tokens).
    """

    def __init__(self, model, probe_data, settings, units, steps=None):
        self.model, self.settings, self.units = model, settings, units
        self.steps = steps
        self.fixed = self.sample = self.labels = self._fixed_labels = None
        self._warned = False
        if probe_data is not None:
            self.fixed, self._fixed_labels = self._bounded(
                *take(probe_data, settings.max_probe)
            )
            check_inputs(model, self.fixed, "GateMonitor: probe_data")
            return
        # Validation data shows up only at the first epoch end: keep the
        # training inputs too, in case there is none.
        inputs = getattr(model, "inputs", None) or []
        shape = tuple(inputs[0].shape) if inputs else ()
        steps = shape[1] if len(shape) > 1 and shape[1] else 1
        self.sample = TrainingSample(model, self._budget(self.steps or steps))

    def listeners(self):
        """Context managers to hold open during the fit (the training
        sample's)."""
        if self.sample is None or not self.sample.available:
            return []
        return [self.sample.listener()]

    def batch(self):
        """`(inputs, run, what they are)` to probe with; inputs None when
        there are none (warned once). `labels` is then their labels, or
        None."""
        self.labels = None
        if self.fixed is not None:
            self.labels = self._fixed_labels
            return self.fixed, "train", "probe_data"
        iterator = getattr(self.model, "_eval_epoch_iterator", None)
        if iterator is not None:
            x, self.labels = first_sequences(
                iterator.data_adapter.get_numpy_iterator(),
                self.settings.max_probe,
            )
            try:
                check_inputs(self.model, x, "GateMonitor: the validation data")
            except ValueError as error:
                # Not checked before the fit: said, and the fit goes on.
                self._warn(f"{error} No gates are logged; pass probe_data.")
                x = None
            x, self.labels = self._bounded(x, self.labels)
            return x, "validation", "the validation data (the first ones)"
        x = self.sample.read() if self.sample.available else None
        if x is None:
            why = self.sample.unavailable or "none seen yet"
            self._warn(
                "GateMonitor: no probe_data, no validation data, and the "
                f"training batches cannot be kept ({why}), so no gates are "
                "logged. Pass GateMonitor(probe_data=x_sample), or "
                "validation data to fit."
            )
        return x, "train", "the latest training batch"

    def _warn(self, message):
        """Warn once per fit."""
        if not self._warned:
            warnings.warn(message, stacklevel=4)
            self._warned = True

    def _budget(self, steps):
        """How many probe sequences of `steps` steps keep within
        `probe_values` (at least one, at most `max_probe`)."""
        settings = self.settings
        values = max(1, steps * self.units)
        return max(1, min(settings.max_probe, settings.probe_values // values))

    def _bounded(self, x, y=None):
        """Probe inputs `x` (and labels `y`) cut to the sequences the
        budget allows, with `steps` the layers' (else the first input's
        second axis)."""
        if x is None:
            return None, None
        shape = np.shape(keras.tree.flatten(x)[0])
        steps = self.steps or (shape[1] if len(shape) > 1 else 1)
        count = self._budget(steps)
        return _first(x, count), _first(y, count)


def _first(data, count):
    """The first `count` sequences of arrays (None stays None)."""
    if data is None:
        return None
    return keras.tree.map_structure(lambda a: np.asarray(a)[:count], data)


def take(data, max_probe):
    """`(inputs, labels or None)` of at most `max_probe` sequences from
    arrays, an `(x, y[, sample_weight])` tuple or a dataset."""
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        x, y = first_sequences(data.as_numpy_iterator(), max_probe)
        if x is None:
            raise ValueError("GateMonitor: probe_data dataset is empty.")
        return x, y
    y = None
    if isinstance(data, tuple):
        data, y = data[0], (data[1] if len(data) > 1 else None)
    return _first(data, max_probe), _first(y, max_probe)


def first_sequences(batches, max_probe):
    """`(inputs, labels)` of the first `max_probe` sequences of some
    batches.

    Batches are inputs or `(x, y[, sample_weight])` tuples; the labels are
    None when batches have none, both None when there are no batches.
    """
    kept, labels, count = [], [], 0
    for batch in batches:
        x, y = batch, None
        if isinstance(batch, tuple):
            x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        kept.append(x)
        labels.append(y)
        count += batch_size(x)
        if count >= max_probe:
            break
    if not kept:
        return None, None

    def joined(parts):
        return keras.tree.map_structure(
            lambda *arrays: np.concatenate(arrays)[:max_probe], *parts
        )

    has_labels = all(y is not None for y in labels)
    return joined(kept), joined(labels) if has_labels else None


def batch_size(x):
    """The number of sequences in model inputs `x`."""
    return int(np.shape(keras.tree.flatten(x)[0])[0])


def monitored_layers(model, names):
    """The names of the recurrent layers GateMonitor listens to: those in
    `names` (all for None) it can read.

    It warns once, naming each recurrent layer it leaves out and why (a
    cell keras-gates does not read, a layer it does not enter, a layer it
    cannot make a keras-gates twin of), before any training; the others
    are monitored.

    Raises:
        ValueError: none is left, naming the layers and why.
    """
    kept, left = [], []
    for name, layer in find_recurrent(model, names, "GateMonitor"):
        try:
            Ear.of(name, layer)
        except (TypeError, ValueError) as error:
            kind = kind_of(layer).name
            left.append(
                (
                    name,
                    f"its config makes no keras-gates {kind} to compute "
                    f"its gates ({error}); use keras.layers.{kind} or "
                    f"keras_gates.{kind} itself to have it read",
                )
            )
        else:
            kept.append(name)
    if names is None:
        left += unread_recurrent(model)
    said = " ".join(f"Layer '{name}' is not read: {why}." for name, why in left)
    if not kept:
        raise ValueError(
            f"GateMonitor: no recurrent layer of model '{model.name}' can be "
            f"monitored. {said}"
        )
    if left:
        warnings.warn(
            f"GateMonitor: monitoring {kept}, not the others. {said}",
            stacklevel=3,
        )
    return kept


def layer_steps(layers):
    """The most steps any of the `(name, layer)` recurrent layers reads,
    from the model's graph; None when no input shape says."""
    found = []
    for _, layer in layers:
        try:
            read = layer.input
        except (AttributeError, ValueError):  # not called in a graph
            continue
        if isinstance(read, (list, tuple)):  # the sequences, a mask
            read = read[0]
        shape = tuple(getattr(read, "shape", ()))
        if len(shape) > 1 and shape[1]:
            found.append(int(shape[1]))
    return max(found, default=None)
