"""What GateMonitor writes for the Gates dashboard.

The format (tags, dtypes, the uint16 encoding) is defined once, in
`tensorboard_plugin_gates.metadata`, which the dashboard reads with; this
module turns a probe's `LayerGates` into those summaries. Sizes are bounded
by `fit_sequences`: at most `max_bytes` of gate codes per layer and epoch.
"""

import dataclasses
import json

import numpy as np

from tensorboard_plugin_gates import metadata


def fit_sequences(gates, sequences, steps, units, wanted, max_bytes):
    """How many sequences and steps to keep within `max_bytes` of codes.

    Sequences go first (down to one), then the steps after the first
    `max_bytes // (gates * units * 2)` are left out.
    """
    per_step = gates * units * 2
    kept = min(wanted, sequences)
    if kept * steps * per_step > max_bytes:
        kept = max(1, max_bytes // (steps * per_step))
    return kept, min(steps, max(1, max_bytes // (kept * per_step)))


def layer_info(summaries, index, name, kind, layer, rows, left, right):
    """The layer's kind, sizes, gates and dimension table (written once);
    `index` orders the layers as the model holds them."""
    cell = kind.cell_class
    info = {
        "index": index,
        "kind": kind.__name__,
        "units": int(layer.cell.units),
        "input_dim": int(layer.cell.kernel.shape[0]),
        "gates": list(cell.gate_names),
        "sigmoid_gates": list(cell.sigmoid_gates),
        "go_backwards": bool(layer.go_backwards),
        "params": int(layer.count_params()),
        "dimensions": [dataclasses.asdict(row) for row in rows],
        "left": left,
        "right": right,
    }
    _text(summaries, metadata.tag(name, "layer"), json.dumps(info), "layer")


def layer_epoch(summaries, record, stats, go_backwards, wanted, max_bytes):
    """One logged epoch of one layer: sequences, statistics, histograms.

    Args:
        summaries: the `keras_gates.summary.write.Summaries` to add to.
        record: the probe's `LayerGates` of the layer.
        stats: {gate: `GateStats`} of the whole probe batch.
        go_backwards: whether the layer ran backwards (its steps are
            flipped back into input order).
        wanted: how many probe sequences to keep.
        max_bytes: at most this many bytes of gate codes.
    """
    names = list(record.gates)
    values = np.stack([record.gates[g] for g in names])  # (G, B, T, H)
    valid = np.asarray(record.valid, bool)
    if go_backwards:
        values, valid = values[:, :, ::-1], valid[:, ::-1]
    count, batch, steps, units = values.shape
    kept, shown = fit_sequences(count, batch, steps, units, wanted, max_bytes)
    scale = np.zeros((count, 2), np.float32)
    codes = np.empty((count, kept, shown, units), np.uint16)
    histograms = np.zeros((count, units, metadata.BINS), np.uint32)
    for index, gate in enumerate(names):
        at_valid = values[index][valid]  # (valid steps, H)
        sigmoid = gate in record.sigmoid_gates
        low, high = metadata.value_range(at_valid, sigmoid)
        scale[index] = low, high
        codes[index] = metadata.quantize(
            values[index, :kept, :shown], low, high
        )
        histograms[index] = _unit_histograms(at_valid, low, high)
    add = summaries.tensor
    add(metadata.tag(record.name, "sequences"), codes, _meta("sequences"))
    add(metadata.tag(record.name, "scale"), scale, _meta("scale"))
    add(
        metadata.tag(record.name, "valid"),
        valid[:kept, :shown].astype(np.uint8),
        _meta("valid"),
    )
    table = [[s.mean, _nan(s.left), _nan(s.right)] for s in stats.values()]
    add(
        metadata.tag(record.name, "stats"),
        np.asarray(table, np.float64),
        _meta("stats"),
    )
    if record.sigmoid_gates:
        saturation = [
            [stats[g].unit_left, stats[g].unit_right]
            for g in record.sigmoid_gates
        ]
        add(
            metadata.tag(record.name, "saturation"),
            np.asarray(saturation, np.float32),
            _meta("saturation"),
        )
    add(
        metadata.tag(record.name, "histograms"),
        histograms,
        _meta("histograms"),
    )


def tokens_json(x, sequences, vocabulary=None):
    """The JSON the dashboard shows along the steps, or None.

    Integer inputs (batch, time) are tokens: each id written through
    `vocabulary` (a sequence or a mapping from id to text), else as the
    number. Float inputs (batch, time, features) are shown, in tooltips
    only, as their first features.
    """
    x = np.asarray(x)[:sequences]
    if x.ndim == 2 and (x.dtype.kind in "iu" or x.dtype == bool):
        rows = [[_token(int(i), vocabulary) for i in row] for row in x]
        return json.dumps({"text": True, "tokens": rows})
    if x.ndim == 3 and x.dtype.kind == "f":
        rows = [[_features(step) for step in row] for row in x]
        return json.dumps({"text": False, "tokens": rows})
    return None


def write_tokens(summaries, text):
    """Add the JSON of `tokens_json` to `summaries`."""
    _text(summaries, metadata.TOKENS_TAG, text, "tokens")


def _token(index, vocabulary):
    if vocabulary is None:
        return str(index)
    try:
        return str(vocabulary[index])
    except (IndexError, KeyError):
        return f"#{index}"


def _features(step, shown=3):
    text = ", ".join(f"{v:.3g}" for v in step[:shown])
    return text + (", ..." if len(step) > shown else "")


def _unit_histograms(values, low, high):
    """(units, BINS) counts of each unit's finite values on [low, high]."""
    units = values.shape[-1]
    finite = np.isfinite(values)
    scaled = (np.where(finite, values, low) - low) * (
        metadata.BINS / (high - low)
    )
    bins = np.clip(scaled, 0, metadata.BINS - 1).astype(np.intp)
    flat = (np.arange(units) * metadata.BINS + bins)[finite]
    counts = np.bincount(flat, minlength=units * metadata.BINS)
    return counts.reshape(units, metadata.BINS)


def _nan(value):
    return np.nan if value is None else value


def _meta(kind):
    return metadata.create_summary_metadata(kind)


def _text(summaries, tag, text, kind):
    """A string scalar (JSON text) owned by the plugin."""
    summaries.tensor(tag, np.array(text.encode(), dtype=object), _meta(kind))
