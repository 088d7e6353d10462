"""GateMonitor's last stage: writing records to TensorBoard.

`Writers` holds every writer of one monitor: TensorBoard's own dashboards
(`keras_gates.summary.layer_summaries`: scalars, histograms, heatmaps,
dimension tables, the Custom Scalars layout), the cell figures, the Gates
dashboard's format (`tensorboard_plugin_gates.writer`) and attribution.
They all read the same `Settings`, and write through the monitor's
`RunLog` (writers per run, steps, once-only summaries).
"""

import dataclasses

import keras
import numpy as np

from keras_gates.callbacks.sources import batch_size
from keras_gates.describe import describe
from keras_gates.layers.kind import kind_of
from keras_gates.summary import cell_figures, layer_summaries
from keras_gates.summary.attribution_log import AttributionLog
from keras_gates.summary.write import Summaries
from keras_gates.vocabulary import Tokens
from tensorboard_plugin_gates import metadata
from tensorboard_plugin_gates.writer import Board

# The tag of the Custom Scalars layout.
LAYOUT_TAG = "custom_scalars__config__"


class Writers:
    """The writers of one GateMonitor.

    Args:
        settings: the monitor's `Settings`.
        log: its `RunLog`.
    """

    def __init__(self, settings, log):
        self.settings, self.log = settings, log
        self.board = Board(settings) if settings.dashboard else None
        self.attribution = self.tokens = None
        if settings.attribution:
            self.attribution = AttributionLog(settings)
        self._figures_due = False

    def begin(self, model, layers):
        """At the start of a fit: the dimension tables and the layout, at
        step 0, once per run. `layers`: the monitored `(name, layer)`."""
        self._figures_due = self.settings.figures and self.log.fresh
        self.tokens = Tokens(model, self.settings.vocabulary)
        names = [name for name, _ in layers]
        due = [n for n in names if self.log.once("train", f"{n}/dimensions")]
        summaries = Summaries()
        if due:
            layer_summaries.write_dimensions(summaries, describe(model), due)
        writer = self.log.writer("train")
        with writer.as_default(step=0):
            summaries.write()
            if self.log.once("train", LAYOUT_TAG):
                layer_summaries.custom_scalars_layout(names, self.settings)
        writer.flush()

    def training(self, summaries, records):
        """The statistics over the epoch's training batches."""
        for record in records:
            for gate, stats in record.stats.items():
                layer_summaries.write_stats(
                    summaries,
                    f"{record.name}/{gate}/training",
                    stats,
                    gate in record.sigmoid_gates,
                )

    def probe(self, step, model, layers, x, run, source, records):
        """Everything a probe on inputs `x` shows, written to `run` at
        `step`. `layers`: the monitored `(name, layer)` pairs; `records`:
        their `LayerRecord`s; `source`: what `x` is, in words."""
        settings, summaries = self.settings, Summaries()
        count = batch_size(x)
        if self.log.once(run, "gate_monitor/probe"):
            summaries.text(
                "gate_monitor/probe",
                f"Gates are computed on {count} sequences of {source}.",
            )
        ids = valid = None
        if self.board:
            shown = keras.tree.map_structure(
                lambda a: a[: settings.dashboard_sequences], x
            )
            ids, valid = self.tokens.steps(shown)
        if self.board and self.log.once(
            run, metadata.tag(records[0].name, "layer")
        ):
            self._board_layers(summaries, model, layers, records, ids)
        index = min(settings.heatmap_index, count - 1)
        for record in records:
            layer_summaries.write_layer(summaries, record, settings, index)
            if self.board:
                self.board.write_epoch(summaries, record, len(records))
        if self.board:
            self.board.write_tokens(
                summaries, ids, run, self.tokens.texts, valid
            )
        if self._figures_due:
            self._figures_due = False
            cell_figures.write(summaries, dict(layers), records)
        if self.attribution and self.attribution.due():
            self.attribution.write(summaries, model, x, records)
        writer = self.log.writer(run)
        with writer.as_default(step=step):
            summaries.write()
        writer.flush()

    def _board_layers(self, summaries, model, layers, records, ids):
        """Every layer's facts for the Gates dashboard; `ids`: the tokens
        along the steps (or the first input)."""
        table = describe(model)
        steps = tuple(np.shape(ids)[1:2])
        for index, ((name, layer), record) in enumerate(zip(layers, records)):
            kind = kind_of(layer)
            facts = {
                "kind": kind.name,
                "units": int(layer.cell.units),
                "input_dim": int(layer.cell.kernel.shape[0]),
                "gates": list(kind.gate_names),
                "sigmoid_gates": list(kind.sigmoid_gates),
                "go_backwards": bool(layer.go_backwards),
                "params": int(layer.count_params()),
                "dimensions": [
                    dataclasses.asdict(row)
                    for row in table.rows
                    if row.layer == name
                ],
            }
            length = record.valid.shape[1]
            self.board.write_layer(
                summaries,
                index,
                name,
                facts,
                aligned=steps == (length,),
                steps=length,
            )

    def seconds(self, step, spent, summaries):
        """The monitor's own seconds for this epoch, with `summaries`
        (the training statistics), to the train run."""
        summaries.scalar("gate_monitor/seconds", spent)
        writer = self.log.writer("train")
        with writer.as_default(step=step):
            summaries.write()
        writer.flush()
