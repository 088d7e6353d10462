"""The dashboard's unit-level routes: one unit over epochs (`unit`), the
pattern search on a stored sequence (`pattern`), and every unit of a gate
with what is known of it (`units`: importance, matches to annotations,
saturation, change since the previous epoch), for the unit cards.

Each is a function of a `reader.Reader` and the route's arguments.
"""

import numpy as np

from tensorboard_plugin_gates.reader import (
    BadRequest,
    NotFound,
    from_json,
    gate_index,
    plain,
)


def unit(reader, run, layer, gate, unit):
    """One unit's histogram of one gate at every logged epoch, and its
    importance there (null where not measured)."""
    info = reader.layer(run, layer)
    index = gate_index(info, gate)
    if not 0 <= unit < info["units"]:
        raise NotFound(
            f"layer {layer!r} has units 0 to {info['units'] - 1}, not {unit}"
        )
    scales = dict(reader.series(run, layer, "scale"))
    try:
        logged = dict(reader.series(run, layer, "importance"))
    except NotFound:
        logged = {}
    importance = {step: from_json(value) for step, value in logged.items()}
    measures = [found["measure"] for found in importance.values()]
    return {
        "gate": gate,
        "unit": unit,
        "importance_measure": measures[-1] if measures else None,
        "epochs": [
            {
                "epoch": step,
                "low": float(scales[step][index, 0]),
                "high": float(scales[step][index, 1]),
                "counts": counts[index, unit].tolist(),
                "importance": (
                    importance[step]["values"][index][unit]
                    if step in importance
                    else None
                ),
            }
            for step, counts in reader.series(run, layer, "histograms")
            if step in scales
        ],
    }


def pattern(reader, run, layer, gate, epoch, sequence, start, end, threshold):
    """Units above `threshold` at every step of [start, end] and below it
    just before and after (LSTMVis's pattern search), best first.

    A unit's score is its mean over the range minus the larger of its
    values at the two neighbouring steps (those that exist and are
    valid).
    """
    found = reader.values(run, layer, gate, epoch, sequence)
    values = np.array(found["values"], np.float64)  # NaN: masked
    steps = values.shape[1]
    if not 0 <= start <= end < steps:
        raise BadRequest(
            f"need 0 <= start <= end < {steps}, got start={start}, end={end}"
        )
    inside = values[:, start : end + 1]
    neighbours = [s for s in (start - 1, end + 1) if 0 <= s < steps]
    outside = values[:, neighbours]
    with np.errstate(invalid="ignore"):
        above = np.all(inside >= threshold, axis=1)
        below = np.all(~(outside >= threshold), axis=1)
    matches = []
    for unit in np.flatnonzero(above & below):
        edges = outside[unit][np.isfinite(outside[unit])]
        edge = edges.max() if edges.size else threshold
        score = inside[unit].mean() - edge
        matches.append({"unit": int(unit), "score": float(score)})
    matches.sort(key=lambda m: -m["score"])
    return {
        "start": start,
        "end": end,
        "threshold": threshold,
        "units": matches,
    }


def units(reader, run, layer, gate, epoch):
    """Every unit of `gate` at `epoch`, with what the logs know of it.

    A unit's `importance` is the change of the model's loss (or output)
    when it is mean-ablated (`GateMonitor(importance=True)`), null when not
    measured; `matches` its ROC AUC against each annotation
    (`GateMonitor(annotations=...)`), folded to a `score` in [0.5, 1] with
    the `direction` of the difference ("high": higher at annotated steps);
    `shut` and `open` its fractions of steps below `left` and above `right`
    (sigmoid gates); `change` how far its mean moved since the previous
    logged epoch (estimated from its histograms), null at the first.
    """
    info = reader.layer(run, layer)
    index = gate_index(info, gate)
    count = info["units"]
    (histograms,) = reader.at(run, layer, epoch, "histograms")
    found = reader.optional(run, layer, epoch, "importance", "matches")
    importance = [None] * count
    measure = None
    if found["importance"] is not None:
        logged = from_json(found["importance"])
        measure, importance = logged["measure"], logged["values"][index]
    names, matches = [], [[] for _ in range(count)]
    if found["matches"] is not None:
        logged = from_json(found["matches"])
        names = logged["annotations"]
        for name, table in zip(names, logged["auc"]):
            for unit, auc in enumerate(table[index]):
                if auc is not None:
                    matches[unit].append(_match(name, auc))
    shut = opened = [None] * count
    if gate in info["sigmoid_gates"]:
        (fractions,) = reader.at(run, layer, epoch, "saturation")
        where = info["sigmoid_gates"].index(gate)
        shut, opened = (plain(fractions[where, side]) for side in (0, 1))
    change = _change(reader, run, layer, index, epoch, histograms)
    return {
        "run": run,
        "layer": layer,
        "gate": gate,
        "epoch": epoch,
        "annotations": names,
        "importance_measure": measure,
        "units": [
            {
                "unit": unit,
                "importance": importance[unit],
                "matches": matches[unit],
                "shut": shut[unit],
                "open": opened[unit],
                "change": change[unit],
            }
            for unit in range(count)
        ],
    }


def _match(name, auc):
    return {
        "annotation": name,
        "score": max(auc, 1.0 - auc),
        "direction": "high" if auc >= 0.5 else "low",
    }


def _change(reader, run, layer, index, epoch, histograms):
    """Per unit, |its mean now - its mean at the previous logged epoch|,
    the means taken at the centres of its histogram's bins; None at the
    first epoch."""
    scales = reader.series(run, layer, "scale")
    before = [step for step, _ in scales if step < epoch]
    if not before:
        return [None] * histograms.shape[1]
    (old,) = reader.at(run, layer, before[-1], "histograms")
    means = [
        _means(counts[index], dict(scales)[step][index])
        for step, counts in ((epoch, histograms), (before[-1], old))
    ]
    return plain(np.abs(means[0] - means[1]))


def _means(counts, scale):
    """Per unit, the mean of its histogram (units, bins) over [low, high]."""
    low, high = (float(v) for v in scale)
    bins = counts.shape[-1]
    centres = low + (np.arange(bins) + 0.5) * (high - low) / bins
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(total > 0, counts @ centres / total, np.nan)
