"""The inputs GateMonitor probes with: the first sequences of what it is
given (arrays, `(x, y)` tuples, a `tf.data.Dataset` or an iterator of
batches), at most `max_probe` of them."""

import keras
import numpy as np


def take(data, max_probe):
    """At most `max_probe` input sequences from array, tuple or dataset."""
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        data = first_sequences(data.as_numpy_iterator(), max_probe)
        if data is None:
            raise ValueError("GateMonitor: probe_data dataset is empty.")
        return data
    if isinstance(data, tuple):
        data = data[0]
    return keras.tree.map_structure(lambda a: np.asarray(a)[:max_probe], data)


def first_sequences(batches, max_probe):
    """The inputs of the first `max_probe` sequences of some batches.

    Batches are inputs or `(x, y[, sample_weight])` tuples; returns None
    when there are none.
    """
    kept, count = [], 0
    for batch in batches:
        x = batch[0] if isinstance(batch, tuple) else batch
        kept.append(x)
        count += batch_size(x)
        if count >= max_probe:
            break
    if not kept:
        return None
    return keras.tree.map_structure(
        lambda *parts: np.concatenate(parts)[:max_probe], *kept
    )


def batch_size(x):
    """The number of sequences in model inputs `x`."""
    return int(np.shape(keras.tree.flatten(x)[0])[0])


def budget(steps, units, max_probe, values):
    """How many probe sequences of `steps` steps, through layers of `units`
    units in all, keep within `values` gate values per gate (at least one,
    at most `max_probe`)."""
    return max(1, min(max_probe, values // max(1, steps * units)))


def bounded(x, units, max_probe, values):
    """Probe inputs `x` cut to the sequences `budget` allows, with `steps`
    the length of the first input (its second axis)."""
    shape = np.shape(keras.tree.flatten(x)[0])
    count = budget(shape[1] if len(shape) > 1 else 1, units, max_probe, values)
    return keras.tree.map_structure(lambda a: a[:count], x)
