"""Going over a whole data set in batches: arrays (any model-input
structure) or a `tf.data.Dataset`, with a Keras progress bar on long runs.

`match_units` and `search` read their data through `batches`, so that no
more than one batch of gates exists at a time, whatever the data's size.
"""

import numbers

import keras
import numpy as np

# The gate values one batch may hold per layer, when no batch size is given.
BATCH_VALUES = 2**24
# More batches than this get a progress bar with verbose="auto".
QUIET_BATCHES = 10


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset` (or anything iterated as one)."""
    return hasattr(x, "as_numpy_iterator")


def inputs_of(element):
    """The model inputs of a data set element: `x`, or `x` of `(x, y)` and
    `(x, y, sample_weight)`."""
    return element[0] if isinstance(element, tuple) else element


def batch_size_of(x):
    """The number of sequences in model inputs `x`."""
    return int(np.shape(keras.tree.flatten(x)[0])[0])


def default_batch_size(x, values_per_step):
    """How many sequences of arrays `x` make about `BATCH_VALUES` gate
    values for a layer computing `values_per_step` values per step."""
    shape = np.shape(keras.tree.flatten(x)[0])
    steps = shape[1] if len(shape) > 1 else 1
    return max(1, min(1024, BATCH_VALUES // max(1, steps * values_per_step)))


def check_count(value, argument, owner):
    """A ValueError unless `value` is a positive int or None."""
    if value is not None and (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < 1
    ):
        raise ValueError(
            f"{owner}: `{argument}` must be a positive int or None, got "
            f"{value!r}."
        )


def batch_count(x, batch_size):
    """How many batches `x` makes: None for a data set of unknown size."""
    if is_dataset(x):
        count = int(x.cardinality())
        return count if count >= 0 else None
    return -(-batch_size_of(x) // batch_size)


def is_long(x, batch_size):
    """Whether going over `x` is a long run: more than `QUIET_BATCHES`
    batches, or a data set of unknown size."""
    count = batch_count(x, batch_size)
    return count is None or count > QUIET_BATCHES


def batches(x, batch_size, owner, verbose="auto"):
    """Yield `(inputs, first)` for each batch of `x`: the batch's model
    inputs (NumPy) and the index of its first sequence in the data set.

    Args:
        x: model inputs (arrays or a structure of them, all with the same
            number of sequences) or a `tf.data.Dataset` of batches.
        batch_size: sequences per batch for arrays (ignored for a data
            set, which is batched already).
        owner: who asks, named in errors.
        verbose: "auto" (a progress bar past `QUIET_BATCHES` batches), 0
            or 1.
    """
    if verbose not in ("auto", 0, 1, False, True):
        raise ValueError(
            f"{owner}: `verbose` must be 'auto', 0 or 1, got {verbose!r}."
        )
    target = batch_count(x, batch_size)
    if is_dataset(x):
        items = (inputs_of(e) for e in x.as_numpy_iterator())
    else:
        x = keras.tree.map_structure(np.asarray, x)
        check_inputs_sizes(x, owner)
        total = batch_size_of(x)
        items = (
            keras.tree.map_structure(lambda a, s=s: a[s : s + batch_size], x)
            for s in range(0, total, batch_size)
        )
    shown = verbose is True or verbose == 1
    if verbose == "auto":
        shown = is_long(x, batch_size)
    bar = keras.utils.Progbar(target, unit_name="batch") if shown else None
    first = 0
    for done, inputs in enumerate(items, 1):
        yield inputs, first
        first += batch_size_of(inputs)
        if bar is not None:
            bar.update(done)
    if first == 0:
        raise ValueError(f"{owner}: `x` holds no sequences.")


def check_inputs_sizes(x, owner):
    """A ValueError unless every array of `x` has the same first size."""
    sizes = {np.shape(a)[0] if np.ndim(a) else 0 for a in keras.tree.flatten(x)}
    if len(sizes) != 1:
        raise ValueError(
            f"{owner}: the arrays of `x` hold different numbers of "
            f"sequences: {sorted(sizes)}."
        )


def padded(x, size, axis=0):
    """Arrays `x` with copies of their first entry along `axis` appended,
    up to `size` (so that a last, smaller batch runs in the function
    compiled for the others); unchanged when they already have as many."""

    def pad(array):
        array = np.asarray(array)
        missing = size - array.shape[axis]
        if missing <= 0:
            return array
        first = np.take(array, [0] * missing, axis=axis)
        return np.concatenate([array, first], axis=axis)

    return keras.tree.map_structure(pad, x)
