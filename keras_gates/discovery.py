"""Finding the units that track something: `match_units` ranks every unit
of every gate by how well it tells the steps an annotation marks from the
others, over a whole data set (`keras_gates.matching` counts on the
device; `keras_gates.streaming` goes over the data in batches).
"""

import collections.abc

import keras
import numpy as np

from keras_gates import matching, streaming


class Annotations:
    """One annotation or several (a dict) of a data set, batch by batch.

    Args:
        annotation: a bool array (sequences, time) in input order, a
            function of a batch's model inputs returning one for the batch,
            or a dict name -> either.
        x: the data set (arrays or a `tf.data.Dataset`).
        owner: who asks, named in errors.
        argument: the argument's name, in errors.
    """

    def __init__(self, annotation, x, owner, argument="annotation"):
        self.owner, self.argument = owner, argument
        self.single = not isinstance(annotation, collections.abc.Mapping)
        given = {argument: annotation} if self.single else dict(annotation)
        if not given:
            raise ValueError(f"{owner}: `{argument}` is an empty dict.")
        self.sources = {}
        for name, source in given.items():
            what = self.what(name)
            if not callable(source):
                if streaming.is_dataset(x):
                    raise ValueError(
                        f"{owner}: with a tf.data.Dataset, {what} must be a "
                        "function of each batch's model inputs returning a "
                        "bool array (batch, time)."
                    )
                source = as_marks(source, what, owner)
                total = streaming.batch_size_of(x)
                if len(source) != total:
                    raise ValueError(
                        f"{owner}: {what} has {len(source)} rows, but `x` "
                        f"holds {total} sequences; give one bool per step "
                        "of each sequence, shape (sequences, time)."
                    )
            self.sources[name] = source

    @property
    def names(self):
        return list(self.sources)

    def what(self, name):
        """The annotation called `name`, as errors name it."""
        return f"`{self.argument}`" + ("" if self.single else f"[{name!r}]")

    def marks(self, inputs, first):
        """Bool (annotations, batch, time) of one batch whose first sequence
        is the data set's `first`."""
        count = streaming.batch_size_of(inputs)
        found = []
        for name, source in self.sources.items():
            if callable(source):
                marks = as_marks(source(inputs), self.what(name), self.owner)
                if len(marks) != count:
                    raise ValueError(
                        f"{self.owner}: {self.what(name)} returned "
                        f"{len(marks)} rows for a batch of {count} sequences."
                    )
            else:
                marks = source[first : first + count]
            found.append(marks)
        if len({m.shape for m in found}) > 1:
            raise ValueError(
                f"{self.owner}: the annotations have different shapes: "
                f"{[m.shape for m in found]}."
            )
        return np.stack(found)


def as_marks(value, what, owner):
    """`value` as a 2-D bool array; a ValueError naming `what` if it is
    not one (numbers other than 0 and 1 are not bools)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype != bool:
        numeric = array.dtype.kind in "iuf"
        if not numeric or not np.isin(array, (0, 1)).all():
            raise ValueError(
                f"{owner}: {what} must be a bool array (sequences, time), "
                f"got {array.dtype} values."
            )
        array = array.astype(bool)
    if array.ndim != 2:
        raise ValueError(
            f"{owner}: {what} must be a bool array of shape (sequences, "
            f"time), one bool per step, got shape {array.shape}."
        )
    return array


def match_units(
    model: keras.Model,
    x,
    annotation,
    layer: str | None = None,
    gate: str | None = None,
    top: int | None = 10,
    batch_size: int | None = None,
    verbose: str | int = "auto",
) -> list[dict]:
    """The units whose values best tell the steps an annotation marks from
    the other steps, over a whole data set.

    Every unit of every gate of every recurrent layer (stock Keras or
    keras-gates, also inside `Bidirectional` and nested models), or of the
    layer and gate asked, is scored by the ROC AUC of its values at the
    marked steps against the other valid steps, folded to
    `max(auc, 1 - auc)`: 1 when some threshold separates them perfectly,
    about 0.5 when the unit ignores the annotation (a constant unit scores
    exactly 0.5). Masked steps are left out. The data goes through the
    model in batches and each unit's values are counted in bins on the
    device (`keras_gates.matching`), so memory does not grow with the
    data; the AUC read from the bins is within `error` of the exact one.

    Args:
        model: a built Keras model.
        x: model inputs (arrays) or a `tf.data.Dataset` of batches (`x` or
            `(x, y)` elements).
        annotation: bool (sequences, time), True at the steps to match, in
            input order (also for layers that run backwards); with a data
            set, a function of a batch's model inputs returning the
            batch's bool array (as it may be with arrays). A dict name ->
            annotation matches several at once.
        layer: a recurrent layer's name (or a list); default all.
        gate: one gate's name; default all gates.
        top: how many units to return (int), or None for all.
        batch_size: sequences per batch for arrays; default about 2**24
            gate values per layer per batch.
        verbose: "auto" (a progress bar past 10 batches), 0 or 1.

    Returns:
        A list of dicts, best first, each with `layer`, `gate`, `unit`,
        `score` (in [0.5, 1]), `direction` ("high": higher at marked steps,
        "low": lower) and `error` (the most the score may differ from the
        exact AUC's); a dict name -> list for a dict of annotations.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(3)])
    >>> x = np.random.default_rng(0).normal(size=(8, 6, 2)).astype("float32")
    >>> found = keras_gates.match_units(model, x, x[..., 0] > 0, top=2)
    >>> [sorted(f) for f in found][0]
    ['direction', 'error', 'gate', 'layer', 'score', 'unit']
    """
    owner = "match_units"
    streaming.check_count(top, "top", owner)
    streaming.check_count(batch_size, "batch_size", owner)
    chosen = matching.choose(model, layer, gate, owner)
    annotations = Annotations(annotation, x, owner)
    if batch_size is None and not streaming.is_dataset(x):
        per_step = max(lay.cell.units * len(g) for _, lay, g in chosen)
        batch_size = streaming.default_batch_size(x, per_step)
    long = streaming.is_long(x, batch_size)
    counter = matching.UnitCounter(model, chosen, owner, xla=long)
    size = None
    for inputs, first in streaming.batches(x, batch_size, owner, verbose):
        marks = annotations.marks(inputs, first)
        count = streaming.batch_size_of(inputs)
        size = size or count
        counter.add(
            streaming.padded(inputs, size),
            streaming.padded(marks, size, axis=1),
            count,
        )
    counts = counter.counts()
    ranked = {
        name: _ranked(chosen, counts, index, top, annotations.what(name))
        for index, name in enumerate(annotations.names)
    }
    return ranked[annotations.names[0]] if annotations.single else ranked


def _ranked(chosen, counts, index, top, what):
    """The units of `chosen`, best first, for annotation `index`."""
    found = []
    for name, _, gates in chosen:
        both = counts[name][index]  # (2, gates, units, BINS)
        seen = both.sum(-1).max(axis=(1, 2))
        if not seen[1] or not seen[0]:
            side = "no" if not seen[1] else "every"
            raise ValueError(
                f"match_units: {what} marks {side} valid step of layer "
                f"'{name}': a match needs marked and unmarked steps."
            )
        auc, bound = matching.roc_auc(both[0], both[1])
        for g, gate in enumerate(gates):
            for unit in np.flatnonzero(np.isfinite(auc[g])):
                score, direction = matching.fold(float(auc[g, unit]))
                found.append(
                    {
                        "layer": name,
                        "gate": gate,
                        "unit": int(unit),
                        "score": score,
                        "direction": direction,
                        "error": float(bound[g, unit]),
                    }
                )
    found.sort(key=lambda f: -f["score"])
    return found if top is None else found[:top]
