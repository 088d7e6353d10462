"""Searching a whole data set for a pattern of units (LSTMVis's match).

Strobelt et al. (2017): select units that are on over a range of steps and
off just before and after it, then find every other range of the corpus
where the same units do the same. The Gates dashboard's pattern search
(`tensorboard_plugin_gates.units.pattern`) finds the units of one stored
sequence; `search` finds the ranges over every sequence of a data set,
keeping only the chosen units' values of each batch.
"""

import heapq
import numbers

import keras
import numpy as np
from keras import ops

from keras_gates import streaming
from keras_gates.lookup import check_gate, check_units, find_recurrent
from keras_gates.probe import GateProbe
from keras_gates.vocabulary import Tokens
from tensorboard_plugin_gates.writer import token_text


def _lengths(length):
    """`length` as the (shortest, longest) window kept: an int n is about
    n steps (n - 1 to n + 1, at least 1), a pair is itself."""
    if isinstance(length, numbers.Integral) and not isinstance(length, bool):
        if length >= 1:
            return max(1, int(length) - 1), int(length) + 1
    elif isinstance(length, (tuple, list)) and len(length) == 2:
        low, high = length
        if all(isinstance(v, numbers.Integral) for v in length):
            if 1 <= low <= high:
                return int(low), int(high)
    raise ValueError(
        "search: `length` must be a positive int (about that many steps: "
        f"one less to one more) or (shortest, longest), got {length!r}."
    )


def windows(values, valid, threshold, lengths):
    """The windows of one batch where every unit is at or above
    `threshold` at every step and every unit below it at the steps just
    before and after (where they exist and are valid).

    Args:
        values: (batch, time, units), in input order.
        valid: bool (batch, time).
        threshold: the on/off threshold.
        lengths: (shortest, longest) window kept.

    Returns:
        Int arrays `(rows, starts, ends)` (ends inclusive) and float scores:
        the units' mean over the window minus the largest value any of
        them has at the two neighbouring steps (as the dashboard scores).
    """
    with np.errstate(invalid="ignore"):
        on = np.all(values >= threshold, axis=-1) & valid
        off = np.all(~(values >= threshold), axis=-1) | ~valid
    edges = np.diff(np.pad(on, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)  # exclusive
    steps = on.shape[1]
    size = stops - starts
    before = np.where(starts > 0, off[rows, np.maximum(starts - 1, 0)], True)
    after = np.where(
        stops < steps, off[rows, np.minimum(stops, steps - 1)], True
    )
    keep = before & after & (size >= lengths[0]) & (size <= lengths[1])
    rows, starts, stops = rows[keep], starts[keep], stops[keep]
    mean = np.where(valid, np.nan_to_num(values).mean(-1), 0.0)
    total = np.concatenate([np.zeros((len(mean), 1)), mean.cumsum(1)], 1)
    inside = (total[rows, stops] - total[rows, starts]) / (stops - starts)
    highest = np.where(
        valid, np.nan_to_num(values, nan=-np.inf).max(-1), -np.inf
    )
    edge = np.full(len(rows), -np.inf)
    for neighbour, exists in ((starts - 1, starts > 0), (stops, stops < steps)):
        at = np.clip(neighbour, 0, steps - 1)
        edge = np.maximum(edge, np.where(exists, highest[rows, at], -np.inf))
    edge = np.where(np.isfinite(edge), edge, threshold)
    return rows, starts, stops - 1, inside - edge


def search(
    model: keras.Model,
    x,
    layer: str,
    gate: str,
    units: int | list[int],
    length: int | tuple[int, int],
    threshold: float = 0.5,
    top: int | None = 20,
    vocabulary=None,
    context: int = 5,
    batch_size: int | None = None,
    verbose: str | int = "auto",
) -> list[dict]:
    """The ranges of a data set where some units switch on together for
    about `length` steps: LSTMVis's match, over every sequence.

    A range [start, end] matches when every one of `units` is at or above
    `threshold` at each of its steps and every one is below it at the step
    just before and the step just after (those that exist and are not
    masked); ranges of other lengths are left out. Its score is the units'
    mean over the range minus the largest value any of them has at those
    two neighbouring steps. The data goes through the model in batches;
    only the chosen units' values leave the compiled forward pass.

    Args:
        model: a built Keras model.
        x: model inputs (arrays) or a `tf.data.Dataset` of batches.
        layer: the recurrent layer's name (as `keras_gates.gates` names
            it).
        gate: the gate's name.
        units: a unit index or a list of them.
        length: about how many steps (n - 1 to n + 1), or (shortest,
            longest).
        threshold: on at or above, off below; default 0.5.
        top: how many ranges to return (int), or None for all.
        vocabulary: token texts by id (see `keras_gates.vocabulary`):
            with token id inputs (batch, time), or a model with its own
            vocabulary layer (then by default), each range comes with its
            tokens.
        context: tokens shown before and after each range; default 5.
        batch_size: sequences per batch for arrays; default about 2**24
            gate values per batch.
        verbose: "auto" (a progress bar past 10 batches), 0 or 1.

    Returns:
        A list of dicts, best first: `sequence` (its index in the data
        set), `start`, `end` (inclusive, input order), `score`; with a
        vocabulary (given, or the model's own) also `before`, `tokens` and
        `after` (lists of texts).

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> gru = keras.layers.GRU(1, name="gru")
    >>> model = keras.Sequential([keras.Input((6, 1)), gru])
    >>> x = np.zeros((4, 6, 1), "float32")
    >>> keras_gates.search(model, x, "gru", "update", [0], 2, threshold=2.0)
    []
    """
    owner = "search"
    lengths = _lengths(length)
    streaming.check_count(top, "top", owner)
    streaming.check_count(batch_size, "batch_size", owner)
    if not isinstance(layer, str):
        raise ValueError(f"{owner}: `layer` must be one layer's name.")
    ((name, found),) = find_recurrent(model, [layer], owner)
    check_gate(found, gate, owner, name)
    chosen = check_units(units, found.cell.units, f"{owner}: layer '{name}'")
    probe = GateProbe(model, [name], owner, reduce=_keep(gate, chosen))
    tokens = Tokens(model, vocabulary)
    if batch_size is None and not streaming.is_dataset(x):
        batch_size = streaming.default_batch_size(x, found.cell.units * 6)
    kept, size = [], None
    for inputs, first in streaming.batches(x, batch_size, owner, verbose):
        count = streaming.batch_size_of(inputs)
        size = size or count
        (values, valid), *_ = probe.run(streaming.padded(inputs, size)).values()
        values, valid = values[:count], valid[:count]
        if found.go_backwards:  # back into input order
            values, valid = values[:, ::-1], valid[:, ::-1]
        rows, starts, ends, scores = windows(values, valid, threshold, lengths)
        ids = None
        if tokens.texts is not None and len(rows):
            ids, _ = tokens.steps(inputs)
        for row, start, end, score in zip(rows, starts, ends, scores):
            match = {
                "sequence": first + int(row),
                "start": int(start),
                "end": int(end),
                "score": float(score),
            }
            if ids is not None:
                match.update(
                    _tokens(ids, row, start, end, tokens.texts, context)
                )
            item = (match["score"], -match["sequence"], -match["start"], match)
            if top is None or len(kept) < top:
                heapq.heappush(kept, item)
            else:
                heapq.heappushpop(kept, item)
    return [item[-1] for item in sorted(kept, reverse=True)]


def _keep(gate, units):
    """The probe's reduce: the chosen units of `gate`, and `valid`."""

    def reduce(name, layer, gates, valid):
        return ops.take(gates[gate], units, axis=2), valid

    return reduce


def _tokens(ids, row, start, end, vocabulary, context):
    """The texts of a range's tokens and of `context` tokens around it."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(
            "search: `vocabulary` labels token ids (batch, time); the "
            f"model's input has shape {ids.shape}."
        )
    row = ids[row]

    def texts(part):
        return [token_text(int(i), vocabulary) for i in part]

    return {
        "before": texts(row[max(0, start - context) : start]),
        "tokens": texts(row[start : end + 1]),
        "after": texts(row[end + 1 : end + 1 + context]),
    }
