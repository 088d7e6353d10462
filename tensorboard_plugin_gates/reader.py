"""The Gates dashboard's data, read through TensorBoard's data provider.

`Reader` answers each HTTP route of the plugin with plain Python values
(lists, dicts, floats; None where a value is masked or not finite), ready
for JSON. Unknown runs, layers, gates, epochs or sequences raise `NotFound`,
impossible arguments `BadRequest`; the plugin turns both into JSON errors.
Every series is read only after its plugin data passed
`metadata.parse_plugin_content`: a series of a newer format (or not of this
plugin's) raises `metadata.FormatError`, naming its run and tag, rather than
being misread.
"""

import json

import numpy as np
from tensorboard.data import provider

from tensorboard_plugin_gates import metadata

# Every step TensorBoard kept; it samples at load time (see the README).
DOWNSAMPLE = 100_000


class NotFound(ValueError):
    """A run, layer, gate, epoch or sequence that is not in the logs."""


class BadRequest(ValueError):
    """Arguments that cannot be answered whatever the logs hold."""


class Reader:
    """Reads one experiment for one request.

    Args:
        data_provider: the `tensorboard.data.provider.DataProvider`.
        ctx: the request's `RequestContext`.
        experiment: the experiment id.
    """

    def __init__(self, data_provider, ctx, experiment):
        self._provider = data_provider
        self._ctx = ctx
        self._experiment = experiment

    def _list(self, runs=None, tags=None):
        """{run: {tag: TensorTimeSeries}}, every series' format checked."""
        listing = self._provider.list_tensors(
            self._ctx,
            experiment_id=self._experiment,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
        )
        for run, series in sorted(listing.items()):
            for tag, about in sorted(series.items()):
                try:
                    metadata.parse_plugin_content(about.plugin_content)
                except metadata.FormatError as error:
                    raise metadata.FormatError(
                        f"run {run!r}, tag {tag!r}: {error}"
                    ) from None
        return listing

    def _read(self, runs, tags):
        # `read_tensors` gives no plugin data: the series are listed (and
        # checked) first.
        self._list(runs, tags)
        return self._provider.read_tensors(
            self._ctx,
            experiment_id=self._experiment,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=DOWNSAMPLE,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
        )

    def series(self, run, layer, kind):
        """[(step, array)] of one layer's tag, in step order."""
        tag = metadata.tag(layer, kind)
        data = self._read([run], [tag]).get(run, {}).get(tag)
        if not data:
            raise NotFound(f"no {kind!r} data for layer {layer!r} of {run!r}")
        return sorted((d.step, d.numpy) for d in data)

    def at(self, run, layer, epoch, *kinds):
        """The arrays of `kinds` of one layer at one epoch, read at once."""
        tags = [metadata.tag(layer, kind) for kind in kinds]
        found = self._read([run], tags).get(run, {})
        arrays = []
        for kind, tag in zip(kinds, tags):
            if not found.get(tag):
                raise NotFound(
                    f"no {kind!r} data for layer {layer!r} of {run!r}"
                )
            at = [d.numpy for d in found[tag] if d.step == epoch]
            if not at:
                raise NotFound(
                    f"epoch {epoch} of layer {layer!r} was not logged"
                )
            arrays.append(at[0])
        return arrays

    def optional(self, run, layer, epoch, *kinds):
        """{kind: its array at `epoch`, or None when not logged}."""
        tags = {kind: metadata.tag(layer, kind) for kind in kinds}
        found = self._read([run], list(tags.values())).get(run, {})
        return {
            kind: next(
                (d.numpy for d in found.get(tag, []) if d.step == epoch), None
            )
            for kind, tag in tags.items()
        }

    def runs(self):
        """{run: {layer: summary of the layer}} of every logged run.

        A layer's summary: its `layer` info (kind, sizes, gates) and
        `epochs` (logged epochs), `sequences`, `steps` (stored per
        sequence) and `tokens` (whether the steps have token text).
        """
        listing = self._list()
        wanted = {}
        for run, tags in listing.items():
            layers = {
                parsed[0]
                for parsed in map(metadata.parse_tag, tags)
                if parsed and parsed[1] == "layer"
            }
            layers = [
                layer
                for layer in layers
                if metadata.tag(layer, "valid") in tags
            ]
            if layers:
                wanted[run] = sorted(layers)
        tags = [metadata.TOKENS_TAG] + [
            metadata.tag(layer, kind)
            for layers in wanted.values()
            for layer in layers
            for kind in ("layer", "valid")
        ]
        data = self._read(list(wanted), tags)
        result = {}
        for run, layers in sorted(wanted.items()):
            found = data.get(run, {})
            tokens = found.get(metadata.TOKENS_TAG)
            text = bool(tokens) and from_json(tokens[-1].numpy).get(
                "text", False
            )
            result[run] = {}
            for layer in layers:
                info = from_json(found[metadata.tag(layer, "layer")][-1].numpy)
                valid = sorted(
                    (d.step, d.numpy)
                    for d in found[metadata.tag(layer, "valid")]
                )
                sequences, steps = valid[-1][1].shape
                result[run][layer] = {
                    **info,
                    "epochs": [step for step, _ in valid],
                    "sequences": int(sequences),
                    "steps": int(steps),
                    "tokens": text and info.get("aligned", True),
                }
            result[run] = dict(
                sorted(result[run].items(), key=lambda item: item[1]["index"])
            )
        return result

    def layer(self, run, layer):
        """The layer's info: kind, sizes, gates and dimension table."""
        return from_json(self.series(run, layer, "layer")[-1][1])

    def values(self, run, layer, gate, epoch, sequence):
        """One gate of one stored sequence at one epoch, units x steps."""
        info = self.layer(run, layer)
        index = gate_index(info, gate)
        codes, scales, valid = self.at(
            run, layer, epoch, "sequences", "scale", "valid"
        )
        if not 0 <= sequence < codes.shape[1]:
            raise NotFound(
                f"sequence {sequence} is not stored; layer {layer!r} has "
                f"sequences 0 to {codes.shape[1] - 1}"
            )
        low, high = scales[index]
        values = metadata.dequantize(codes[index, sequence], low, high).T
        valid = valid[sequence].astype(bool)
        tokens = None
        if info.get("aligned", True):
            tokens = self._tokens(run, epoch, sequence, values.shape[1])
        return {
            "run": run,
            "layer": layer,
            "gate": gate,
            "epoch": epoch,
            "sequence": sequence,
            "units": int(values.shape[0]),
            "steps": int(values.shape[1]),
            "first_step": info.get("first_step", 0),
            "sigmoid": gate in info["sigmoid_gates"],
            "low": float(low),
            "high": float(high),
            "valid": valid.tolist(),
            "values": plain(np.where(valid, values, np.nan)),
            "tokens": tokens and tokens["tokens"],
            "token_text": bool(tokens and tokens["text"]),
            "attribution": self._attribution(
                run, layer, gate, epoch, sequence, values.shape[1]
            ),
        }

    def _attribution(self, run, layer, gate, epoch, sequence, steps):
        """What GateMonitor(attribution=...) logged for one stored sequence
        last at or before `epoch` (it skips epochs to keep within its
        budget): the epoch, the method, the model output's attribution per
        step and that of the units of `gate` it explained; None if
        nothing was."""
        tags = [metadata.tag(layer, "attribution")]
        tags.append(metadata.OUTPUT_ATTRIBUTION_TAG)
        found = self._read([run], tags).get(run, {})
        before = [
            d.step
            for tag in tags
            for d in found.get(tag, [])
            if d.step <= epoch
        ]
        if not before:
            return None
        epoch = max(before)
        logged = [
            [from_json(d.numpy) for d in found.get(tag, []) if d.step == epoch]
            for tag in tags
        ]

        def row(values):
            if sequence >= len(values):
                return None
            return [finite(v) for v in values[sequence][:steps]]

        units, output = {}, None
        for target in logged[0][0]["targets"] if logged[0] else []:
            if target["gate"] == gate:
                units[str(target["unit"])] = row(target["values"])
        if logged[1]:
            output = {
                "index": logged[1][0]["output"],
                "values": row(logged[1][0]["values"]),
            }
        method = (logged[0] or logged[1])[0]["method"]
        return {
            "epoch": epoch,
            "method": method,
            "output": output,
            "units": units,
        }

    def _tokens(self, run, epoch, sequence, steps):
        """The tokens logged last at or before `epoch` (else the first)."""
        data = self._read([run], [metadata.TOKENS_TAG]).get(run, {})
        logged = sorted(
            (d.step, d.numpy) for d in data.get(metadata.TOKENS_TAG, [])
        )
        if not logged:
            return None
        before = [value for step, value in logged if step <= epoch]
        chosen = from_json(before[-1] if before else logged[0][1])
        rows = chosen["tokens"]
        if sequence >= len(rows) or len(rows[sequence]) < steps:
            return None
        return {"text": chosen["text"], "tokens": rows[sequence][:steps]}

    def saturation(self, run, layer, epoch):
        """Per sigmoid gate, each unit's fraction of steps shut and open."""
        info = self.layer(run, layer)
        if not info["sigmoid_gates"]:
            raise NotFound(f"layer {layer!r} has no sigmoid gates")
        (fractions,) = self.at(run, layer, epoch, "saturation")
        return {
            "epoch": epoch,
            "left": info["left"],
            "right": info["right"],
            "gates": {
                gate: {
                    "left": plain(fractions[i, 0]),
                    "right": plain(fractions[i, 1]),
                }
                for i, gate in enumerate(info["sigmoid_gates"])
            },
        }

    def training(self, run, layer):
        """Per gate, its mean and saturation at every logged epoch."""
        info = self.layer(run, layer)
        series = self.series(run, layer, "stats")
        table = np.stack([value for _, value in series])  # (epochs, G, 3)
        return {
            "epochs": [step for step, _ in series],
            "gates": {
                gate: {
                    "mean": plain(table[:, i, 0]),
                    "left": plain(table[:, i, 1]),
                    "right": plain(table[:, i, 2]),
                }
                for i, gate in enumerate(info["gates"])
            },
        }


def gate_index(info, gate):
    if gate not in info["gates"]:
        raise NotFound(
            f"layer has no gate {gate!r}; its gates are {info['gates']}"
        )
    return info["gates"].index(gate)


def finite(value):
    return value if value is not None and np.isfinite(value) else None


def from_json(value):
    return json.loads(value.item() if isinstance(value, np.ndarray) else value)


def plain(array):
    """Nested lists of floats rounded to 6 places; None for NaN/Inf."""
    array = np.asarray(array, np.float64)
    rounded = np.round(array, 6).astype(object)
    rounded[~np.isfinite(array)] = None
    return rounded.tolist()
