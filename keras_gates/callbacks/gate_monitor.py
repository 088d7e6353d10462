"""GateMonitor: every gate of every recurrent layer, in TensorBoard."""

import contextlib
import os
import time
import warnings

import keras

from keras_gates.callbacks import arguments, hooks, probe_inputs
from keras_gates.callbacks.cost import CostMeter
from keras_gates.callbacks.layer_summaries import write_layer, write_stats
from keras_gates.callbacks.log_history import RunLog
from keras_gates.callbacks.probe_stats import ProbeReducer
from keras_gates.callbacks.training_sample import TrainingSample
from keras_gates.callbacks.training_stats import GateAccumulator
from keras_gates.describe import describe
from keras_gates.probe import GateProbe, check_inputs
from keras_gates.summary import board, cell_figures, images, write
from keras_gates.summary.attribution_log import AttributionLog
from tensorboard_plugin_gates import metadata

# The tag of the custom_scalars layout.
_LAYOUT_TAG = "custom_scalars__config__"


class GateMonitor(keras.callbacks.Callback):
    """Log gate histograms, saturation and heatmaps during `model.fit`.

    Works on any model holding LSTM, GRU or SimpleRNN layers, stock Keras or
    keras-gates, also inside `Bidirectional`, `Sequential` and nested
    models; the model is not changed. Every `freq` epochs it runs the model
    on a probe batch, takes every gate of every recurrent layer (from a
    keras-gates twin of each stock layer, with the same weights) and writes,
    at step = epoch, with `<layer>` the layer name (`<name>/forward` and
    `<name>/backward` for the halves of a `Bidirectional`):

    - `<layer>/<gate>/histogram`: gate values at valid (unmasked) steps;
    - `<layer>/<gate>/mean` and `<layer>/<gate>/nonfinite` (NaN/Inf count);
    - for sigmoid gates (LSTM input/forget/output, GRU update/reset):
      `<layer>/<gate>/saturation_left` and `.../saturation_right`, the
      fraction of values below `left` / above `right` (Karpathy, Johnson &
      Fei-Fei 2015), and `.../units_always_closed`, `.../units_always_open`,
      the fraction of units saturated at no less than `always` of the steps;
    - images: `<layer>/<gate>/heatmap` (units x time, one probe sequence)
      and `<layer>/saturation_scatter` (one dot per unit: fraction of time
      left- vs right-saturated, one panel per sigmoid gate).

    With `track_training=True` it also accumulates, inside the compiled
    train step, over the first `track_rows` sequences of every training
    batch of the epoch, fixed-bin
    histograms and saturation counts of every gate (see
    `keras_gates.callbacks.training_stats`), written at epoch end as
    `<layer>/<gate>/training/histogram`, `.../training/mean`,
    `.../training/nonfinite` and, for sigmoid gates,
    `.../training/saturation_left`, `.../training/saturation_right`,
    `.../training/units_always_closed`, `.../training/units_always_open`.

    Per logged epoch, `gate_monitor/seconds`: the seconds of the monitor's
    own work since the previous logged epoch (the first one includes its
    start: tracing the probe, drawing figures). When that work exceeds a
    tenth (`keras_gates.callbacks.cost.SHARE`) of an epoch's time, after
    the first logged epoch, it warns once (a `GateMonitorCostWarning`):
    lower `probe_values`, raise `freq`, or turn off `dashboard`.

    What it costs is bounded by design: statistics are counted inside the
    compiled probe (and train) step, on the device; only counts, the first
    `dashboard_sequences` probe sequences and the heatmap's sequence reach
    the host. The probe takes at most `probe_values` gate values per gate:
    `sequences x steps x units` summed over the monitored layers, so
    `max(1, min(max_probe, probe_values // (steps * total units)))`
    sequences, with `steps` the length of the probe inputs. The cell
    figures are drawn once per distinct cell (kind and sizes).

    Once, at the start of training: `<layer>/dimensions` on the Text
    dashboard (the table of `keras_gates.describe`) and a custom_scalars
    layout grouping each layer's charts; at the first logged epoch,
    `gate_monitor/probe` (what the gates are computed on) and, with
    `figures`, the images `<layer>/figures/<name>`: the figures of
    `keras_gates.figures` that show the layer's kind of cell, at its
    sizes, its sigmoid gates coloured by their mean value on that probe.
    For the Gates dashboard (the `gates` TensorBoard plugin installed with
    keras-gates), with `dashboard`: per logged epoch and layer, every gate
    of the first `dashboard_sequences` probe sequences (16-bit codes, at
    most `dashboard_bytes` an epoch), per-unit saturation and histograms and
    per-gate statistics; once, each layer's sizes, and the probe's tokens
    (written again only when they change); see
    `tensorboard_plugin_gates.metadata` for the format.
    In a run of several processes only one writes: the chief of a
    TensorFlow multi-worker strategy, process 0 under JAX.
    Steps are epochs, and never collide: a monitor used for several `fit`
    calls that count their epochs from 0 again (repeated `fit(epochs=1)`)
    carries on after the last step it wrote, and a new monitor on a log
    dir that a GateMonitor wrote to before (a resumed run, with or
    without `initial_epoch`) carries on after the last step found in its
    event files for the monitored layers' tags. Once-only summaries are
    written once per run (log_dir/train, log_dir/validation).
    Summaries go to `log_dir/train` (or `log_dir/validation` when the
    probe is taken from the validation data), the run names of
    `keras.callbacks.TensorBoard`, so both can share `log_dir`.

    Args:
        log_dir: str, default "logs". Where to write.
        probe_data: model inputs to probe with: an array (or list/dict of
            arrays for multi-input models), an `(x, y)` tuple, or a
            `tf.data.Dataset` of batches; at most `max_probe` sequences
            are used, fewer by `probe_values`. Default None: the first
            sequences of the validation data of `fit` or, without
            validation data, the latest training batch (kept on the device
            during training; needs fixed input shapes).
        freq: int, default 1. Log every `freq` epochs.
        max_probe: int, default 256. Largest probe batch.
        probe_values: int, default 2**18. Most gate values per gate the
            probe computes: sequences x steps x units summed over the
            monitored layers (see above).
        left, right: floats, defaults 0.1 and 0.9. Saturation thresholds.
        always: float, default 0.99. Share of steps a unit must spend
            saturated to count as always closed / always open.
        heatmap_index: int, default 0. Probe sequence shown in heatmaps.
        layers: optional list of layer names (as above) to monitor.
        track_training: bool, default False. Also accumulate statistics
            over every training batch, on the device.
        bins: int, default 30. Histogram bins of `track_training`.
        cell_range: float, default 3.0. `track_training` bins the LSTM cell
            state on [-cell_range, cell_range].
        track_rows: int, default 16. `track_training` takes the gates of
            the first `track_rows` sequences of every training batch (of
            every replica).
        figures: bool, default True. Log the cell figures once per fit.
        dashboard: bool, default True. Write the Gates dashboard's data.
        dashboard_sequences: int, default 4. Probe sequences kept whole
            for the dashboard.
        dashboard_bytes: int, default 2**20. Most bytes of gate values
            written for the dashboard per logged epoch, shared equally by
            the monitored layers: a layer keeps fewer sequences (down to
            one), then only its first steps.
        vocabulary: optional sequence or mapping from token id to text, for
            models whose first input is token ids (batch, time): the
            dashboard writes the tokens along the time axis.
        steps: optional `(start, stop)`: the window of steps (in input
            order) that heatmaps and the dashboard's sequences show;
            statistics always cover every step. Default: all steps;
            heatmaps of more than 1,024 steps average blocks of steps, and
            the dashboard keeps the first steps that fit
            `dashboard_bytes`.
        attribution: optional `keras_gates.attribution` method
            ("saliency", "smoothgrad", "gradient_x_input", "gradcam"; needs
            the TensorFlow backend and a single-input model). Per logged
            epoch, on the first `dashboard_sequences` probe sequences: which
            input steps move the model output and the `attribution_units`
            most saturated units of every sigmoid gate (see
            `keras_gates.summary.attribution_log`), shown under the tokens
            in the Gates dashboard and as images. Default None (off): each
            target costs a gradient pass over those sequences.
        attribution_units: int, default 1. Saturated units explained per
            sigmoid gate.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(loss="mse")
    >>> x, y = np.ones((8, 5, 3), "float32"), np.ones((8, 1), "float32")
    >>> monitor = GateMonitor("/tmp/keras_gates_doctest", probe_data=x)
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    """

    def __init__(
        self,
        log_dir="logs",
        probe_data=None,
        freq=1,
        max_probe=256,
        probe_values=2**18,
        left=0.1,
        right=0.9,
        always=0.99,
        heatmap_index=0,
        layers=None,
        track_training=False,
        bins=30,
        cell_range=3.0,
        track_rows=16,
        figures=True,
        dashboard=True,
        dashboard_sequences=4,
        dashboard_bytes=2**20,
        vocabulary=None,
        steps=None,
        attribution=None,
        attribution_units=1,
    ):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.probe_data = probe_data
        self.freq = arguments.positive("freq", freq)
        self.max_probe = arguments.positive("max_probe", max_probe)
        self.probe_values = arguments.positive("probe_values", probe_values)
        self.left, self.right = arguments.thresholds(left, right)
        self.always = always
        self.heatmap_index = heatmap_index
        self.layers = layers
        self.track_training = arguments.tensorflow_only(
            "track_training", track_training
        )
        self.bins, self.cell_range = bins, cell_range
        self.track_rows = arguments.positive("track_rows", track_rows)
        self.figures = arguments.flag("figures", figures)
        arguments.positive("dashboard_sequences", dashboard_sequences)
        arguments.positive("dashboard_bytes", dashboard_bytes)
        arguments.flag("dashboard", dashboard)
        arguments.vocabulary(vocabulary)
        self.steps = arguments.step_window(steps)
        window = slice(*self.steps) if self.steps else slice(None)
        self._attribution = None
        if arguments.attribution_method(attribution):
            self._attribution = AttributionLog(
                attribution,
                arguments.positive("attribution_units", attribution_units),
                dashboard_sequences,
                window,
            )
        self._log = RunLog(self.log_dir)
        self._cost = CostMeter()
        self._board = None
        if dashboard:
            self._board = board.Board(
                dashboard_sequences, dashboard_bytes, vocabulary, window
            )
        self._figures_due = False
        self._accumulators = []
        self._probe = None
        self._probe_x = None
        self._sample = None
        self._listening = contextlib.ExitStack()
        self._warned = False

    def on_train_begin(self, logs=None):
        started = time.perf_counter()
        self._log.chief = writes_summaries(self.model)
        if self._log.chief:
            self._log.check()
        if self._attribution and len(self.model.inputs or ()) != 1:
            raise ValueError(
                "GateMonitor: `attribution` explains models with one input; "
                f"model '{self.model.name}' has "
                f"{len(self.model.inputs or ())}."
            )
        if hooks.clear_stale(self.model, self):
            # fit made its train function with the stale listeners in it.
            self.model.make_train_function(force=True)
        self._probe = GateProbe(
            self.model,
            self.layers,
            "GateMonitor",
            reduce=ProbeReducer(
                self.left,
                self.right,
                self.bins,
                metadata.BINS if self._board else None,
                self._board.sequences if self._board else 1,
                self.heatmap_index,
            ),
        )
        prefixes = tuple(f"{name}/" for name, _ in self._probe.layers)
        self._log.start_fit(
            (*prefixes, "gate_monitor/", metadata.TOKENS_TAG, _LAYOUT_TAG)
        )
        self._figures_due = self.figures and self._log.fresh
        if self.probe_data is not None:
            self._probe_x = probe_inputs.bounded(
                probe_inputs.take(self.probe_data, self.max_probe),
                self._units(),
                self.max_probe,
                self.probe_values,
            )
            check_inputs(self.model, self._probe_x, "GateMonitor: probe_data")
        else:
            # Validation data shows up only at the first epoch end: keep
            # training inputs too, in case there is none.
            inputs = getattr(self.model, "inputs", None) or []
            shape = tuple(inputs[0].shape) if inputs else ()
            steps = shape[1] if len(shape) > 1 and shape[1] else 1
            size = probe_inputs.budget(
                steps, self._units(), self.max_probe, self.probe_values
            )
            self._sample = TrainingSample(self.model, size)
        listening = self.track_training or (
            self._sample is not None and self._sample.available
        )
        if listening:
            hooks.claim(self.model, self)
        if self._sample is not None and self._sample.available:
            self._listening.enter_context(self._sample.listener())
        self._write_layout()
        if self.track_training:
            self._start_tracking()
        if self._sample is not None or self.track_training:
            # fit made (but has not traced) its train function: make it
            # again so that it is traced with the listeners, and again at
            # the end so that later fits run without them.
            self.model.make_train_function(force=True)
        self._cost.add(started)

    def _units(self):
        """The units of the monitored layers, in all."""
        return sum(layer.cell.units for _, layer in self._probe.layers)

    def _write_layout(self):
        """The dimension tables and the custom_scalars layout, at step 0,
        once per run."""
        names = [name for name, _ in self._probe.layers]
        table = describe(self.model)
        summaries = write.Summaries()
        for name in names:
            if self._log.once("train", f"{name}/dimensions"):
                summaries.text(f"{name}/dimensions", table.for_layer(name))
        writer = self._log.writer("train")
        with writer.as_default(step=0):
            summaries.write()
            if self._log.once("train", _LAYOUT_TAG):
                write.custom_scalars_layout(names, self.track_training)
        writer.flush()

    def _start_tracking(self):
        strategy = self.model.distribute_strategy
        self._accumulators = [
            GateAccumulator(
                name,
                layer,
                strategy,
                self.bins,
                self.left,
                self.right,
                self.cell_range,
                self.track_rows,
            )
            for name, layer in self._probe.layers
        ]
        for accumulator in self._accumulators:
            self._listening.enter_context(accumulator.listener())

    def on_epoch_begin(self, epoch, logs=None):
        self._cost.epoch_start = time.perf_counter()
        for accumulator in self._accumulators:
            accumulator.reset()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.freq:
            return
        started = time.perf_counter()
        step = self._log.step(epoch)
        summaries = write.Summaries()
        for accumulator in self._accumulators:
            for gate, stats in accumulator.summary(self.always).items():
                sigmoid = gate in accumulator.sigmoid_gates
                tag = f"{accumulator.name}/{gate}/training"
                write_stats(summaries, tag, stats, sigmoid)
        x, run, source = self._probe_batch()
        if x is not None and self._log.chief:
            self._write_probe(x, run, source, step)
        spent = self._cost.take(
            started,
            f"Lower probe_values (now {self.probe_values}), raise freq or "
            "pass dashboard=False.",
        )
        summaries.scalar("gate_monitor/seconds", spent)
        writer = self._log.writer("train")
        with writer.as_default(step=step):
            summaries.write()
        writer.flush()

    def _write_probe(self, x, run, source, step):
        """Probe with `x` and write what it shows to `run` at `step`."""
        results = self._probe.run(x)
        layers = dict(self._probe.layers)
        records = [
            ProbeReducer.read(name, layers[name], results[name], self.always)
            for name, _ in self._probe.layers
        ]
        summaries = write.Summaries()
        if self._log.once(run, "gate_monitor/probe"):
            summaries.text(
                "gate_monitor/probe",
                f"Gates are computed on {probe_inputs.batch_size(x)} "
                f"sequences of {source}.",
            )
        if self._board and self._log.once(
            run, metadata.tag(records[0].name, "layer")
        ):
            self._board.write_layers(
                summaries,
                self._probe.layers,
                records,
                x,
                describe(self.model),
                (self.left, self.right),
            )
        index = min(self.heatmap_index, probe_inputs.batch_size(x) - 1)
        for record in records:
            layer = layers[record.name]
            steps = record.heatmap_valid.shape[0]
            write_layer(
                summaries,
                record,
                images.window(self.steps, steps, layer.go_backwards),
                lambda shown: images.heatmap_description(
                    index, self.steps, shown
                ),
                (self.left, self.right),
            )
            if self._board:
                self._board.write_epoch(
                    summaries, record, layer.go_backwards, len(records)
                )
        if self._board:
            self._board.write_tokens(summaries, x, run)
        if self._figures_due:
            self._figures_due = False
            cell_figures.write(summaries, layers, records)
        if self._attribution:
            self._attribution.write(summaries, self.model, x, records)
        writer = self._log.writer(run)
        with writer.as_default(step=step):
            summaries.write()
        writer.flush()

    def on_train_end(self, logs=None):
        self.stop_listening()
        self._log.close()

    def stop_listening(self):
        """Put back every `call` this monitor replaced; later fits of the
        model run without its listeners."""
        listened = bool(self._accumulators) or (
            self._sample is not None and self._sample.available
        )
        self._listening.close()
        self._accumulators, self._sample = [], None
        if listened:
            self.model.make_train_function(force=True)
        hooks.release(self.model, self)

    def _probe_batch(self):
        """(inputs, run, description) to probe with, or (None, ...)."""
        if self._probe_x is not None:
            return self._probe_x, "train", "probe_data"
        iterator = getattr(self.model, "_eval_epoch_iterator", None)
        if iterator is not None:
            x = probe_inputs.first_sequences(
                iterator.data_adapter.get_numpy_iterator(), self.max_probe
            )
            x = probe_inputs.bounded(
                x, self._units(), self.max_probe, self.probe_values
            )
            return x, "validation", "the validation data (the first ones)"
        x = self._sample.read() if self._sample.available else None
        if x is None and not self._warned:
            warnings.warn(
                "GateMonitor: no probe_data, no validation data, and the "
                "training batches cannot be kept (input shapes not fixed, "
                "or not the TensorFlow backend), so no gates are logged. "
                "Pass GateMonitor(probe_data=x_sample).",
                stacklevel=2,
            )
            self._warned = True
        return x, "train", "the latest training batch"


def writes_summaries(model):
    """Whether this process writes: the chief of a TensorFlow multi-worker
    run, process 0 of a multi-host JAX run, and any single process."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index() == 0
    extended = getattr(model.distribute_strategy, "extended", None)
    return bool(getattr(extended, "should_save_summary", True))
