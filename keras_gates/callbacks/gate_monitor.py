"""GateMonitor: every gate of every recurrent layer, in TensorBoard."""

import os
import warnings

import keras

from keras_gates.callbacks import hooks, probe_inputs
from keras_gates.callbacks.training_sample import TrainingSample
from keras_gates.callbacks.training_stats import GateAccumulator
from keras_gates.describe import describe
from keras_gates.probe import GateProbe, check_inputs
from keras_gates.summary import board, cell_figures, images, write
from keras_gates.summary.stats import gate_stats


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
    Steps are epochs; a monitor used for several `fit` calls that count
    their epochs from 0 again (repeated `fit(epochs=1)`) carries on after
    the last step it wrote, and writes its once-only summaries once.
    Summaries go to `log_dir/train` (or `log_dir/validation` when the
    probe is taken from the validation data), the run names of
    `keras.callbacks.TensorBoard`, so both can share `log_dir`.

    Args:
        log_dir: str, default "logs". Where to write.
        probe_data: model inputs to probe with: an array (or list/dict of
            arrays for multi-input models), an `(x, y)` tuple, or a
            `tf.data.Dataset` of batches; at most `max_probe` sequences
            are used. Default None: the first `max_probe` sequences of the
            validation data of `fit` or, without validation data, the latest
            training batch (up to `max_probe` sequences, kept on the device
            during training; needs fixed input shapes).
        freq: int, default 1. Log every `freq` epochs.
        max_probe: int, default 256. Largest probe batch.
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
    ):
        super().__init__()
        if not isinstance(freq, int) or freq < 1:
            raise ValueError(
                f"GateMonitor: `freq` must be a positive int, got {freq!r}."
            )
        if not isinstance(max_probe, int) or max_probe < 1:
            raise ValueError(
                "GateMonitor: `max_probe` must be a positive int, got "
                f"{max_probe!r}."
            )
        if not 0.0 <= left < right <= 1.0:
            raise ValueError(
                "GateMonitor: need 0 <= left < right <= 1, got "
                f"left={left!r}, right={right!r}."
            )
        self.log_dir = os.fspath(log_dir)
        self.probe_data = probe_data
        self.freq = freq
        self.max_probe = max_probe
        self.left, self.right, self.always = left, right, always
        self.heatmap_index = heatmap_index
        self.layers = layers
        self.track_training = track_training
        self.bins, self.cell_range = bins, cell_range
        if track_training and keras.backend.backend() != "tensorflow":
            raise ValueError(
                "GateMonitor: track_training=True needs the TensorFlow "
                f"backend (active: {keras.backend.backend()!r}); the probe "
                "statistics work on every backend."
            )
        if not isinstance(track_rows, int) or track_rows < 1:
            raise ValueError(
                "GateMonitor: `track_rows` must be a positive int, got "
                f"{track_rows!r}."
            )
        self.track_rows = track_rows
        if not isinstance(figures, bool):
            raise ValueError(
                f"GateMonitor: `figures` must be a bool, got {figures!r}."
            )
        self.figures = figures
        for name, value in (
            ("dashboard_sequences", dashboard_sequences),
            ("dashboard_bytes", dashboard_bytes),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"GateMonitor: `{name}` must be a positive int, got "
                    f"{value!r}."
                )
        if not isinstance(dashboard, bool):
            raise ValueError(
                f"GateMonitor: `dashboard` must be a bool, got {dashboard!r}."
            )
        if vocabulary is not None and not hasattr(vocabulary, "__getitem__"):
            raise TypeError(
                "GateMonitor: `vocabulary` must be a sequence or mapping from "
                f"token id to text, got {type(vocabulary).__name__}."
            )
        if steps is not None:
            fine = (
                isinstance(steps, (tuple, list))
                and len(steps) == 2
                and all(isinstance(v, int) for v in steps)
                and 0 <= steps[0] < steps[1]
            )
            if not fine:
                raise ValueError(
                    "GateMonitor: `steps` must be (start, stop) with "
                    f"0 <= start < stop, got {steps!r}."
                )
        self.steps = None if steps is None else tuple(steps)
        self._chief = True
        self._last_step = None  # the last step written, over all fits
        self._offset = None
        self._noted = set()  # runs whose once-only summaries are written
        self._board = None
        if dashboard:
            self._board = board.Board(
                dashboard_sequences,
                dashboard_bytes,
                vocabulary,
                slice(*steps) if steps else slice(None),
            )
        self._figures_due = False
        self._accumulators = []
        self._writers = {}
        self._probe = None
        self._probe_x = None
        self._sample = None
        self._warned = False

    # Writers, created lazily per run as in keras.callbacks.TensorBoard.
    def _writer(self, run):
        if run not in self._writers:
            import tensorflow as tf

            if not self._chief:
                # Another process of this multi-host run writes.
                self._writers[run] = tf.summary.create_noop_writer()
                return self._writers[run]

            path = os.path.join(self.log_dir, run)
            self._writers[run] = tf.summary.create_file_writer(path)
        return self._writers[run]

    def _check_log_dir(self):
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            probe = os.path.join(self.log_dir, ".gate_monitor_write_test")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as error:
            raise ValueError(
                f"GateMonitor: cannot write to log_dir {self.log_dir!r}: "
                f"{error.strerror or error}."
            ) from None

    def on_train_begin(self, logs=None):
        self._chief = writes_summaries(self.model)
        if self._chief:
            self._check_log_dir()
        if hooks.clear_stale(self.model, self):
            # fit made its train function with the stale listeners in it.
            self.model.make_train_function(force=True)
        self._probe = GateProbe(self.model, self.layers, "GateMonitor")
        first_fit = self._last_step is None
        self._offset = None  # set at this fit's first logged epoch
        self._figures_due = self.figures and first_fit
        if self.probe_data is not None:
            self._probe_x = probe_inputs.take(self.probe_data, self.max_probe)
            check_inputs(self.model, self._probe_x, "GateMonitor: probe_data")
        else:
            # Validation data shows up only at the first epoch end: keep
            # training inputs too, in case there is none.
            self._sample = TrainingSample(self.model, self.max_probe)
        listening = self.track_training or (
            self._sample is not None and self._sample.available
        )
        if listening:
            hooks.claim(self.model, self)
        if self._sample is not None and self._sample.available:
            self._sample.start()
        if first_fit:  # once per monitor, not per fit
            self._write_layout()
        if self.track_training:
            self._start_tracking()
        if self._sample is not None or self.track_training:
            # fit made (but has not traced) its train function: make it
            # again so that it is traced with the listeners, and again at
            # the end so that later fits run without them.
            self.model.make_train_function(force=True)

    def _write_layout(self):
        """The dimension tables and the custom_scalars layout, at step 0."""
        table = describe(self.model)
        writer = self._writer("train")
        with writer.as_default(step=0):
            summaries = write.Summaries()
            for name, _ in self._probe.layers:
                summaries.text(f"{name}/dimensions", table.for_layer(name))
            summaries.write()
            write.custom_scalars_layout(
                [n for n, _ in self._probe.layers], self.track_training
            )
        writer.flush()

    def _step(self, epoch):
        """The summary step of a logged `epoch`: the epoch itself, moved
        past the steps this monitor wrote in earlier fits when a fit counts
        its epochs from 0 again (repeated `fit(epochs=1)` calls)."""
        if self._offset is None:
            last = self._last_step
            fresh = last is None or epoch > last
            self._offset = 0 if fresh else last + 1 - epoch
        self._last_step = epoch + self._offset
        return self._last_step

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
            accumulator.start()

    def on_epoch_begin(self, epoch, logs=None):
        for accumulator in self._accumulators:
            accumulator.reset()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.freq:
            return
        step = self._step(epoch)
        if self._accumulators:
            summaries = write.Summaries()
            for accumulator in self._accumulators:
                self._write_training(summaries, accumulator)
            writer = self._writer("train")
            with writer.as_default(step=step):
                summaries.write()
            writer.flush()
        x, run, source = self._probe_batch()
        if x is None or not self._chief:
            return
        records = self._probe.run(x)
        summaries = write.Summaries()
        if run not in self._noted:
            self._noted.add(run)
            summaries.text(
                "gate_monitor/probe",
                f"Gates are computed on {probe_inputs.batch_size(x)} "
                f"sequences of {source}.",
            )
            if self._board:
                self._board.write_layers(
                    summaries,
                    self._probe.layers,
                    records,
                    x,
                    describe(self.model),
                    (self.left, self.right),
                )
        for record in records:
            self._write_layer(summaries, record)
        if self._board:
            self._board.write_tokens(summaries, x, run)
        if self._figures_due:
            self._figures_due = False
            cell_figures.write(summaries, dict(self._probe.layers), records)
        writer = self._writer(run)
        with writer.as_default(step=step):
            summaries.write()
        writer.flush()

    def on_train_end(self, logs=None):
        self.stop_listening()
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def stop_listening(self):
        """Put back every `call` this monitor replaced; later fits of the
        model run without its listeners."""
        listeners = list(self._accumulators)
        if self._sample is not None and self._sample.available:
            listeners.append(self._sample)
        for listener in listeners:
            listener.stop()
        self._accumulators, self._sample = [], None
        if listeners:
            self.model.make_train_function(force=True)
        hooks.release(self.model, self)

    def _write_layer(self, summaries, record):
        name = record.name
        panels = []
        index = min(self.heatmap_index, record.valid.shape[0] - 1)
        layer = dict(self._probe.layers)[name]
        shown = images.window(
            self.steps, record.valid.shape[1], layer.go_backwards
        )
        all_stats = {}
        for gate, values in record.gates.items():
            sigmoid = gate in record.sigmoid_gates
            stats = gate_stats(
                values,
                record.valid,
                sigmoid,
                self.left,
                self.right,
                self.always,
            )
            all_stats[gate] = stats
            tag = f"{name}/{gate}"
            summaries.histogram(f"{tag}/histogram", stats.histogram)
            summaries.scalar(f"{tag}/mean", stats.mean)
            summaries.scalar(f"{tag}/nonfinite", stats.nonfinite)
            if sigmoid:
                summaries.scalar(f"{tag}/saturation_left", stats.left)
                summaries.scalar(f"{tag}/saturation_right", stats.right)
                summaries.scalar(
                    f"{tag}/units_always_closed", stats.always_closed
                )
                summaries.scalar(f"{tag}/units_always_open", stats.always_open)
                panels.append((gate, stats.unit_left, stats.unit_right))
            sequence = values[index, shown][record.valid[index, shown]]
            if sequence.size:
                summaries.image(
                    f"{tag}/heatmap",
                    images.heatmap(sequence, sigmoid),
                    description=images.heatmap_description(
                        index, self.steps, len(sequence)
                    ),
                )
        if panels:
            summaries.image(
                f"{name}/saturation_scatter",
                images.saturation_scatter(panels),
                description=(
                    f"One dot per unit; panels left to right: "
                    f"{', '.join(p[0] for p in panels)}. x: fraction of "
                    f"steps below {self.left}, y: fraction above "
                    f"{self.right}; grey: frame, 0.5 grid and x + y = 1."
                ),
            )
        if self._board:
            self._board.write_epoch(
                summaries,
                record,
                all_stats,
                layer.go_backwards,
                len(self._probe.layers),
            )

    def _write_training(self, summaries, accumulator):
        for gate, stats in accumulator.summary(self.always).items():
            tag = f"{accumulator.name}/{gate}/training"
            summaries.histogram(f"{tag}/histogram", stats.pop("histogram"))
            for key, value in stats.items():
                summaries.scalar(f"{tag}/{key}", value)

    def _probe_batch(self):
        """(inputs, run, description) to probe with, or (None, ...)."""
        if self._probe_x is not None:
            return self._probe_x, "train", "probe_data"
        iterator = getattr(self.model, "_eval_epoch_iterator", None)
        if iterator is not None:
            x = probe_inputs.first_sequences(
                iterator.data_adapter.get_numpy_iterator(), self.max_probe
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
