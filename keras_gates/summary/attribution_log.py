"""What `GateMonitor(attribution=...)` writes: which input steps move the
model output and the most saturated gate units, on the sequences the Gates
dashboard stores.

Per logged epoch, on the first `sequences` probe sequences (the
dashboard's), with `keras_gates.attribution` and one method:

- the model output: its index (the last axis) with the largest mean on
  those sequences, averaged over steps for sequence outputs;
- for every monitored layer and sigmoid gate, the `units` units that spend
  the largest share of the probe saturated (below `left` or above
  `right`), each averaged over its valid steps.

Written as JSON strings owned by the `gates` plugin (steps in input order,
the dashboard's window of steps; values rounded to 4 significant digits):
`<layer>/_gates/attribution` `{"method", "targets": [{"gate", "unit",
"values": [sequence][step]}]}` and `_gates/output_attribution` `{"method",
"output", "values"}`; and as images for stock TensorBoard:
`<layer>/attribution` (one row per target, the first sequence) and
`attribution/output` (one row per sequence).
"""

import json
import time

import keras
import numpy as np

from keras_gates.attribution import Attributor
from keras_gates.summary import images
from tensorboard_plugin_gates import metadata

# The clock of the budget (tests replace it).
clock = time.perf_counter


class AttributionLog:
    """Attribution summaries for one GateMonitor; it keeps one `Attributor`
    of the model, so that every epoch reuses the compiled functions.

    Its cost is bounded like the probe's: each logged epoch earns
    `attribution_share` of the seconds since the previous one, and
    attribution runs when what was earned covers its last run's seconds
    (always at the first logged epoch); the dashboard shows the latest
    attribution at or before an epoch.

    Args:
        settings: the monitor's `Settings` (`attribution`, the method;
            `attribution_units`, saturated units explained per sigmoid
            gate; `attribution_share`, the budget; `dashboard_sequences`,
            the sequences explained; `window`, the steps stored).
    """

    def __init__(self, settings):
        self.settings = settings
        self.method = settings.attribution
        self._attributor = None
        self._last = self._cost = None  # clock at the last call, seconds
        self._earned = 0.0

    def due(self):
        """Whether to attribute at this logged epoch (see the class)."""
        now, share = clock(), self.settings.attribution_share
        if self._last is not None and share is not None:
            self._earned += share * (now - self._last)
        self._last = now
        return share is None or self._cost is None or self._earned >= self._cost

    def write(self, summaries, model, x, records):
        """Attribute on the first sequences of `x` and add the summaries.

        `records`: the probe's `LayerRecord`s (for the saturated units).
        """
        started = clock()
        self._write(summaries, model, x, records)
        self._cost = clock() - started
        self._earned = max(0.0, self._earned - self._cost)
        self._last = clock()

    def _write(self, summaries, model, x, records):
        if self._attributor is None or self._attributor.model is not model:
            self._attributor = Attributor(model)
        x = np.asarray(keras.tree.flatten(x)[0])
        x = x[: self.settings.dashboard_sequences]
        output = _largest_output(model, x)
        values = self._attribute(model, x, output=output)
        _json(
            summaries,
            metadata.OUTPUT_ATTRIBUTION_TAG,
            {"method": self.method, "output": output, "values": values},
        )
        summaries.image(
            "attribution/output",
            images.heatmap(np.asarray(values, "float64").T, sigmoid=False),
            description=f"{self.method} of model output {output} per input "
            "step (columns), one row per dashboard sequence.",
        )
        for record in records:
            targets = [
                {"gate": gate, "unit": unit}
                for gate in record.sigmoid_gates
                for unit in self._saturated(record.stats[gate])
            ]
            for target in targets:
                target["values"] = self._attribute(
                    model, x, layer=record.name, **target
                )
            _json(
                summaries,
                metadata.tag(record.name, "attribution"),
                {"method": self.method, "targets": targets},
            )
            first = np.array(
                [t["values"][0] for t in targets], "float64"
            ).reshape(len(targets), -1)
            summaries.image(
                f"{record.name}/attribution",
                images.heatmap(first.T, sigmoid=False),
                description=f"{self.method} of the most saturated units "
                "(rows: "
                + ", ".join(f"{t['gate']} {t['unit']}" for t in targets)
                + ") per input step (columns), first dashboard sequence.",
            )

    def _saturated(self, stats):
        share = np.asarray(stats.unit_left) + np.asarray(stats.unit_right)
        order = np.argsort(-share, kind="stable")
        return [int(u) for u in order[: self.settings.attribution_units]]

    def _attribute(self, model, x, **target):
        values = self._attributor.attribute(
            x, method=self.method, seed=0, **target
        )
        return _rounded(values[:, self.settings.window(values.shape[1])])


def _largest_output(model, x):
    """The output index with the largest mean on `x` (None for a model with
    one output value)."""
    if model.outputs[0].shape[-1] == 1:
        return None
    # The compiled predict function: an eager call would run the time
    # loops step by step in Python.
    # Keras's data adapters take texts as tensors, not NumPy arrays.
    x = keras.ops.convert_to_tensor(x, model.inputs[0].dtype)
    outputs = np.asarray(model.predict_on_batch(x))
    means = outputs.reshape(-1, outputs.shape[-1]).mean(axis=0)
    return int(np.argmax(means))


def _rounded(values):
    """Plain nested lists, 4 significant digits."""
    return [[float(f"{v:.4g}") for v in row] for row in values.tolist()]


def _json(summaries, tag, value):
    text = json.dumps(value, separators=(",", ":"))
    summaries.tensor(
        tag,
        np.array(text.encode(), dtype=object),
        metadata.create_summary_metadata("attribution"),
    )
