"""Writing the Gates dashboard's summaries: the format's writer, beside its
reader (`reader.py`) and its definition (`metadata.py`).

Like the rest of the plugin it imports no TensorFlow and no Keras: it turns
plain records into tensor summaries, added to anything with a
`tensor(tag, array, summary_metadata)` method (GateMonitor's
`keras_gates.summary.write.Summaries`). A record is one layer at one
logged epoch (`keras_gates.callbacks.statistics.LayerRecord`): its
statistics, value ranges and per-unit histograms over the whole probe,
and its first sequences. Sizes are bounded by `fit_sequences`: at most
`dashboard_bytes` of gate codes per logged epoch for all layers.
"""

import json

import numpy as np

from tensorboard_plugin_gates import metadata


class Board:
    """What one GateMonitor writes for the dashboard.

    Args:
        settings: GateMonitor's settings (`dashboard_sequences`,
            `dashboard_bytes`, `left`, `right` and
            `window(length)`, the steps stored, in input order).
    """

    def __init__(self, settings):
        self.settings = settings
        self._tokens = {}  # run -> the tokens' JSON last written
        self._stored = 0  # the most steps a layer stored, this epoch

    def write_layer(self, summaries, index, name, facts, aligned, steps):
        """A layer's kind, sizes, gates and dimension table (once per run).

        Args:
            summaries: where to add.
            index: the layer's place among the model's recurrent layers.
            name: its name.
            facts: dict of its `kind`, `units`, `input_dim`, `gates`,
                `sigmoid_gates`, `go_backwards`, `params`, `dimensions`.
            aligned: whether its steps are the steps of the model's input
                (whose tokens are written).
            steps: how many steps its probe sequences have.
        """
        info = {
            "index": index,
            **facts,
            "left": self.settings.left,
            "right": self.settings.right,
            "aligned": bool(aligned),
            "first_step": int(self.settings.window(steps).start),
        }
        _text(summaries, metadata.tag(name, "layer"), json.dumps(info), "layer")

    def write_epoch(self, summaries, record, layers):
        """One logged epoch of one of `layers` layers: its first sequences
        (in input order, within the budget), statistics and histograms."""
        budget = self.settings.dashboard_bytes // layers
        stored = layer_epoch(
            summaries, record, self.settings, budget, self._window(record)
        )
        self._stored = max(self._stored, stored)

    def _window(self, record):
        steps = next(iter(record.gates.values())).shape[1]
        return self.settings.window(steps)

    def write_tokens(self, summaries, ids, run, vocabulary=None, valid=None):
        """The tokens of the probe's first sequences for the steps stored by
        `write_epoch` (call it first), when they differ from those last
        written to `run`.

        Args:
            summaries: where to add.
            ids: the token ids (sequences, time) along the steps (or float
                inputs (sequences, time, features), shown in tooltips).
            run: the run written to.
            vocabulary: the texts of the ids, or None (see `token_text`).
            valid: bool (sequences, time), False at masked steps (left
                unlabelled), or None.
        """
        first = np.asarray(ids)
        if first.ndim > 1:  # the steps the layers stored, no more
            window = self.settings.window(first.shape[1])
            first = first[:, window][:, : self._stored]
            if valid is not None:
                valid = np.asarray(valid)[:, window][:, : self._stored]
        text = tokens_json(
            first, self.settings.dashboard_sequences, vocabulary, valid
        )
        if text is not None and self._tokens.get(run) != text:
            self._tokens[run] = text
            _text(summaries, metadata.TOKENS_TAG, text, "tokens")


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


def layer_epoch(summaries, record, settings, max_bytes, window):
    """One logged epoch of one layer: sequences, statistics, histograms.

    Args:
        summaries: where to add.
        record: the layer's record: statistics, ranges and per-unit
            histograms of the whole probe batch, its first sequences (in
            the order it processed the steps: a backward layer's are
            flipped back into input order here).
        settings: GateMonitor's settings (`dashboard_sequences`).
        max_bytes: at most this many bytes of gate codes.
        window: the slice of steps (input order) whose gates are stored;
            all steps count in the statistics.

    Returns:
        How many steps were stored.
    """
    names = list(record.gates)
    valid = np.asarray(record.valid, bool)
    batch, steps, units = record.gates[names[0]].shape
    first, stop = window.start, min(window.stop, steps)
    kept, shown = fit_sequences(
        len(names),
        batch,
        max(stop - first, 1),
        units,
        settings.dashboard_sequences,
        max_bytes,
    )
    shown = min(shown, max(stop - first, 0))
    stored = slice(first, first + shown)
    scale = np.stack([record.low, record.high], 1).astype(np.float32)
    codes = np.empty((len(names), kept, shown, units), np.uint16)
    for index, gate in enumerate(names):
        values = record.gates[gate]
        if record.go_backwards:  # back into input order
            values = values[:, ::-1]
        codes[index] = metadata.quantize(values[:kept, stored], *scale[index])
    if record.go_backwards:
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
    write_unit_measures(summaries, record)
    return shown


def write_unit_measures(summaries, record):
    """What was measured of each unit, when it was: `importance` (gates,
    units; NaN where not measured) with its `importance_measure`, and
    `matches` ({annotation: (gates, units) ROC AUC})."""
    importance = getattr(record, "importance", None)
    if importance is not None:
        logged = {
            "measure": record.importance_measure,
            "values": _nullable(importance),
        }
        tag = metadata.tag(record.name, "importance")
        _text(summaries, tag, json.dumps(logged), "importance")
    matches = getattr(record, "matches", None)
    if matches:
        logged = {
            "measure": "roc_auc",
            "annotations": list(matches),
            "auc": [_nullable(table) for table in matches.values()],
        }
        tag = metadata.tag(record.name, "matches")
        _text(summaries, tag, json.dumps(logged), "matches")


def token_text(index, vocabulary=None):
    """How token id `index` is shown: its vocabulary entry (a sequence or a
    mapping from id to text), the number itself without a vocabulary, and
    `#index` for an id the vocabulary lacks. Subword pieces are shown as
    they read in their row (`row_texts`)."""
    if vocabulary is None:
        return str(index)
    try:
        return str(vocabulary[index])
    except (IndexError, KeyError):
        return f"#{index}"


# How subword vocabularies mark words: WordPiece a piece that continues a
# word ("##ing"), SentencePiece ("\u2581the") and byte-level BPE
# ("\u0120the") a piece that starts one.
CONTINUES = "##"
STARTS = ("\u2581", "\u0120")


def subwords(vocabulary):
    """How the pieces of `vocabulary` mark words: "continues" (WordPiece),
    "starts" (SentencePiece, byte-level BPE) or None (whole tokens)."""
    if vocabulary is None:
        return None
    texts = vocabulary.values() if isinstance(vocabulary, dict) else vocabulary
    for text in map(str, texts):
        if text.startswith(CONTINUES) and len(text) > len(CONTINUES):
            return "continues"
        if text.startswith(STARTS):
            return "starts"
    return None


def row_texts(ids, vocabulary=None, valid=None, marks=None):
    """The text shown at each step of one sequence of token ids.

    Each id is shown by `token_text`; steps where `valid` is False
    (padding) are left empty. Subword pieces (`marks`, from
    `subwords(vocabulary)`) are shown as they read: a piece that starts a
    word begins with a space (but the first one shown), a piece that
    continues one has no mark, so that the texts joined read as the text:
    `["walk", "##ing"]` and `["\u2581walk", "ing"]` both show as
    `["walk", "ing"]`, `" walk"` after another word.
    """
    texts = [token_text(int(i), vocabulary) for i in ids]
    if valid is not None:
        texts = [t if v else "" for t, v in zip(texts, valid)]
    if marks is None:
        return texts
    shown = []
    for text in texts:
        if marks == "starts":
            for mark in STARTS:
                text = text.replace(mark, " ")
        elif text.startswith(CONTINUES) and len(text) > len(CONTINUES):
            text = text[len(CONTINUES) :]
        elif text:
            text = " " + text
        shown.append(text)
    first = next((i for i, text in enumerate(shown) if text), None)
    if first is not None:
        shown[first] = shown[first].removeprefix(" ")
    return shown


def tokens_json(x, sequences, vocabulary=None, valid=None):
    """The JSON the dashboard shows along the steps, or None.

    Integer inputs (batch, time) are tokens, shown by `row_texts` (masked
    steps, False in `valid`, unlabelled). Float inputs (batch, time,
    features) are shown, in tooltips only, as their first features.
    """
    x = np.asarray(x)[:sequences]
    if x.ndim == 2 and (x.dtype.kind in "iu" or x.dtype == bool):
        marks = subwords(vocabulary)
        rows = [
            row_texts(
                row, vocabulary, None if valid is None else valid[i], marks
            )
            for i, row in enumerate(x)
        ]
        return json.dumps({"text": True, "tokens": rows})
    if x.ndim == 3 and x.dtype.kind == "f":
        rows = [[_features(step) for step in row] for row in x]
        return json.dumps({"text": False, "tokens": rows})
    return None


def _features(step, shown=3):
    text = ", ".join(f"{v:.3g}" for v in step[:shown])
    return text + (", ..." if len(step) > shown else "")


def _nullable(array):
    """Nested lists of 4 significant digits; None for NaN."""
    array = np.asarray(array, np.float64)
    rounded = np.vectorize(lambda v: float(f"{v:.4g}"), otypes=[object])(array)
    rounded[~np.isfinite(array)] = None
    return rounded.tolist()


def _nan(value):
    return np.nan if value is None else value


def _meta(kind):
    return metadata.create_summary_metadata(kind)


def _text(summaries, tag, text, kind):
    """A string scalar (JSON text) owned by the plugin."""
    summaries.tensor(tag, np.array(text.encode(), dtype=object), _meta(kind))
