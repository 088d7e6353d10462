"""What GateMonitor writes for the Gates dashboard.

The format (tags, dtypes, the uint16 encoding) is defined once, in
`tensorboard_plugin_gates.metadata`, which the dashboard reads with; this
module turns a probe's `ProbedLayer`s (see
`keras_gates.callbacks.probe_stats`: statistics and per-unit histograms
counted on the device, the first sequences) into those summaries (`Board`
holds one GateMonitor's settings). Sizes are bounded by `fit_sequences`: at most
`max_bytes` of gate codes per layer and epoch.
"""

import dataclasses
import json

import keras
import numpy as np

from keras_gates.layers.kind import kind_of
from tensorboard_plugin_gates import metadata


class Board:
    """What one GateMonitor writes for the dashboard.

    Args:
        sequences: probe sequences kept whole.
        max_bytes: most bytes of gate codes per logged epoch, shared
            equally by the layers.
        vocabulary: token texts by id, or None.
        window: the slice of steps (input order) stored.
    """

    def __init__(self, sequences, max_bytes, vocabulary, window):
        self.sequences, self.max_bytes = sequences, max_bytes
        self.vocabulary, self.window = vocabulary, window
        self._tokens = {}  # run -> the tokens' JSON last written
        self._stored = 0  # the most steps a layer stored, this epoch

    def write_layers(self, summaries, layers, records, x, table, thresholds):
        """Every layer's sizes and gates (once per run and monitor).

        `layers`: the probe's `(name, layer)` list; `records`: their
        `ProbedLayer`s on inputs `x`; `table`: the model's `describe()`.
        """
        steps = np.shape(keras.tree.flatten(x)[0])[1:2]
        for index, ((name, layer), record) in enumerate(zip(layers, records)):
            layer_info(
                summaries,
                index,
                name,
                kind_of(layer),
                layer,
                [r for r in table.rows if r.layer == name],
                thresholds,
                aligned=steps == record.valid.shape[1:2],
                first_step=self.window.indices(record.valid.shape[1])[0],
            )

    def write_tokens(self, summaries, x, run):
        """The probe's tokens for the steps stored by `write_epoch` (call
        it first), when they differ from those last written."""
        first = np.asarray(keras.tree.flatten(x)[0])
        if first.ndim > 1:  # the steps the layers stored, no more
            first = first[:, self.window][:, : self._stored]
        text = tokens_json(first, self.sequences, self.vocabulary)
        if text is not None and self._tokens.get(run) != text:
            self._tokens[run] = text
            _text(summaries, metadata.TOKENS_TAG, text, "tokens")

    def write_epoch(self, summaries, record, go_backwards, layers):
        """One logged epoch of one of `layers` layers (see `layer_epoch`)."""
        stored = layer_epoch(
            summaries,
            record,
            go_backwards,
            self.sequences,
            self.max_bytes // layers,
            self.window,
        )
        self._stored = max(self._stored, stored)


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


def layer_info(
    summaries,
    index,
    name,
    kind,
    layer,
    rows,
    thresholds,
    aligned,
    first_step=0,
):
    """The layer's kind, sizes, gates and dimension table (written once).

    `index` orders the layers as the model holds them; `thresholds` are the
    saturation thresholds (left, right); `aligned` says whether the layer's
    steps are the steps of the model's input (whose tokens are written);
    `first_step` is the input step the stored sequences start at.
    """

    info = {
        "index": index,
        "kind": kind.name,
        "units": int(layer.cell.units),
        "input_dim": int(layer.cell.kernel.shape[0]),
        "gates": list(kind.gate_names),
        "sigmoid_gates": list(kind.sigmoid_gates),
        "go_backwards": bool(layer.go_backwards),
        "params": int(layer.count_params()),
        "dimensions": [dataclasses.asdict(row) for row in rows],
        "left": thresholds[0],
        "right": thresholds[1],
        "aligned": bool(aligned),
        "first_step": int(first_step),
    }
    _text(summaries, metadata.tag(name, "layer"), json.dumps(info), "layer")


def layer_epoch(
    summaries,
    record,
    go_backwards,
    wanted,
    max_bytes,
    window=slice(None),
):
    """One logged epoch of one layer: sequences, statistics, histograms.

    Args:
        summaries: the `keras_gates.summary.write.Summaries` to add to.
        record: the layer's `ProbedLayer`: statistics, ranges and per-unit
            histograms of the whole probe batch, its first sequences.
        go_backwards: whether the layer ran backwards (its steps are
            flipped back into input order).
        wanted: how many probe sequences to keep.
        max_bytes: at most this many bytes of gate codes.
        window: the steps (in input order) whose gates are stored; all
            steps count in the statistics.

    Returns:
        How many steps were stored.
    """
    names = list(record.gates)
    valid = np.asarray(record.valid, bool)
    batch, steps, units = record.gates[names[0]].shape
    first, stop, _ = window.indices(steps)
    kept, shown = fit_sequences(
        len(names), batch, max(stop - first, 1), units, wanted, max_bytes
    )
    shown = min(shown, max(stop - first, 0))
    stored = slice(first, first + shown)
    scale = np.stack([record.low, record.high], 1).astype(np.float32)
    codes = np.empty((len(names), kept, shown, units), np.uint16)
    for index, gate in enumerate(names):
        values = record.gates[gate]
        if go_backwards:  # back into input order
            values = values[:, ::-1]
        codes[index] = metadata.quantize(values[:kept, stored], *scale[index])
    if go_backwards:
        valid = valid[:, ::-1]
    add = summaries.tensor
    add(metadata.tag(record.name, "sequences"), codes, _meta("sequences"))
    add(metadata.tag(record.name, "scale"), scale, _meta("scale"))
    add(
        metadata.tag(record.name, "valid"),
        valid[:kept, stored].astype(np.uint8),
        _meta("valid"),
    )
    stats = record.stats
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
        record.unit_histograms.astype(np.uint32),
        _meta("histograms"),
    )
    return shown


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


def _nan(value):
    return np.nan if value is None else value


def _meta(kind):
    return metadata.create_summary_metadata(kind)


def _text(summaries, tag, text, kind):
    """A string scalar (JSON text) owned by the plugin."""
    summaries.tensor(tag, np.array(text.encode(), dtype=object), _meta(kind))
