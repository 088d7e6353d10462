"""GateMonitor: every gate of every recurrent layer, in TensorBoard.

The callback is the Keras lifecycle only; the work is done in stages, data
flowing one way: sources (`sources`: probe inputs, the training sample) ->
statistics (`statistics`: one `LayerRecord` per layer, counted on the
device) -> writers (`writers`: TensorBoard's own dashboards and the Gates
dashboard's format), all reading one frozen `settings.Settings`.
"""

import contextlib
import time

import keras

from keras_gates.callbacks import hooks
from keras_gates.callbacks.cost import CostMeter
from keras_gates.callbacks.importance import Importance
from keras_gates.callbacks.matches import ProbeMatches
from keras_gates.callbacks.run_log import RunLog
from keras_gates.callbacks.settings import Settings
from keras_gates.callbacks.sources import (
    ProbeSource,
    layer_steps,
    monitored_layers,
)
from keras_gates.callbacks.statistics import ProbeReducer, TrainingCounters
from keras_gates.callbacks.writers import LAYOUT_TAG, Writers
from keras_gates.probe import GateProbe
from keras_gates.summary.write import Summaries
from tensorboard_plugin_gates import metadata


class GateMonitor(keras.callbacks.Callback):
    """Logs every gate of every recurrent layer to TensorBoard during `fit`.

    Works on any model holding LSTM, GRU or SimpleRNN layers (stock Keras
    or keras-gates, also inside `Bidirectional` and nested models) without
    changing it. Every `freq` epochs it runs the model on a probe batch and
    writes per layer and gate histograms, means, saturation and units
    always closed/open (Karpathy, Johnson & Fei-Fei 2015), heatmaps, once
    the dimension tables and a Custom Scalars layout, and the Gates
    dashboard's data; statistics are counted on the device. It writes its
    own seconds (`gate_monitor/seconds`) and warns once
    (`GateMonitorCostWarning`) past a tenth of the logged epochs' time.
    Every tag, and what it costs: docs/monitor.md.

    Args:
        log_dir: where to write (`log_dir/train`, `log_dir/validation`, the
            runs of `keras.callbacks.TensorBoard`); default "logs".
        probe_data: inputs to probe with (arrays, `(x, y)`, a
            `tf.data.Dataset`); default None: the validation data, else the
            latest training batch.
        freq: log every `freq` epochs; default 1.
        max_probe, probe_values: most probe sequences (256), gate values
            per gate over the monitored layers (2**18).
        left, right, always: saturation thresholds (0.1, 0.9); share of
            steps for a unit always closed/open (0.99).
        heatmap_index: the probe sequence of the heatmaps; default 0.
        layers: names of the layers to monitor; default all.
        track_training, bins, cell_range, track_rows: also count the gates
            of the first `track_rows` (16) sequences of every training
            batch in `bins` (30) bins, the LSTM cell on
            [-cell_range, cell_range] (3.0); default False (TensorFlow).
        figures: also the cell figures as PNG images, once; default False.
        dashboard, dashboard_sequences, dashboard_bytes: write the Gates
            dashboard's data (True): the first 4 sequences, at most 2**20
            bytes of gate codes an epoch.
        vocabulary: token texts by id, to label the steps: a sequence or
            mapping, a Keras lookup layer or `TextVectorization`, a
            KerasHub tokenizer; default None: the model's own vocabulary
            layer, if it has one (docs/text.md).
        steps: `(start, stop)`, the steps heatmaps and the dashboard show.
        attribution, attribution_units, attribution_share: a method of
            `keras_gates.attribution` for the model output and the 1 most
            saturated unit per sigmoid gate on the dashboard's sequences,
            within 0.05 of the training time (None: every logged epoch).
        annotations: {name: bool (sequences, time) aligned with the probe,
            or a function of its inputs}: each unit's match (ROC AUC) per
            logged epoch, for the dashboard's unit cards.
        importance: True (256 units, sigmoid gates first) or a number:
            per logged epoch, the loss (or output) change when each unit is
            held at its mean on the probe; default False.

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
        log_dir: str = "logs",
        probe_data=None,
        freq: int = 1,
        max_probe: int = 256,
        probe_values: int = 2**18,
        left: float = 0.1,
        right: float = 0.9,
        always: float = 0.99,
        heatmap_index: int = 0,
        layers: list[str] | None = None,
        track_training: bool = False,
        bins: int = 30,
        cell_range: float = 3.0,
        track_rows: int = 16,
        figures: bool = False,
        dashboard: bool = True,
        dashboard_sequences: int = 4,
        dashboard_bytes: int = 2**20,
        vocabulary=None,
        steps: tuple[int, int] | None = None,
        attribution: str | None = None,
        attribution_units: int = 1,
        attribution_share: float | None = 0.05,
        annotations: dict | None = None,
        importance: bool | int = False,
    ):
        super().__init__()
        self.settings = Settings.of(
            log_dir,
            freq=freq,
            max_probe=max_probe,
            probe_values=probe_values,
            left=left,
            right=right,
            always=always,
            heatmap_index=heatmap_index,
            layers=layers,
            track_training=track_training,
            bins=bins,
            cell_range=cell_range,
            track_rows=track_rows,
            figures=figures,
            dashboard=dashboard,
            dashboard_sequences=dashboard_sequences,
            dashboard_bytes=dashboard_bytes,
            vocabulary=vocabulary,
            steps=steps,
            attribution=attribution,
            attribution_units=attribution_units,
            attribution_share=attribution_share,
            annotations=annotations,
            importance=importance,
        )
        self.probe_data = probe_data
        self._log = RunLog(self.settings.log_dir)
        self._cost = CostMeter()
        self._writers = Writers(self.settings, self._log)
        self._listening = contextlib.ExitStack()
        self._probe = self._source = None
        self._matches = self._importance = None
        self._counters = []

    @property
    def log_dir(self):
        return self.settings.log_dir

    def on_train_begin(self, logs=None):
        started = time.perf_counter()
        settings, model = self.settings, self.model
        self._log.chief = writes_summaries(model)
        if self._log.chief:
            self._log.check()
        if settings.attribution and len(model.inputs or ()) != 1:
            raise ValueError(
                "GateMonitor: `attribution` explains models with one input; "
                f"model '{model.name}' has {len(model.inputs or ())}."
            )
        if hooks.clear_stale(model, self):
            # fit made its train function with the stale listeners in it.
            model.make_train_function(force=True)
        self._probe = GateProbe(
            model,
            monitored_layers(model, settings.layers),
            "GateMonitor",
            ProbeReducer(settings),
        )
        layers = self._probe.layers
        prefixes = tuple(f"{name}/" for name, _ in layers)
        self._log.start_fit(
            (*prefixes, "gate_monitor/", metadata.TOKENS_TAG, LAYOUT_TAG)
        )
        units = sum(layer.cell.units for _, layer in layers)
        self._source = ProbeSource(
            model, self.probe_data, settings, units, layer_steps(layers)
        )
        if settings.annotations:
            self._matches = ProbeMatches(
                model, layers, settings.annotations, self._source.fixed
            )
        if settings.track_training:
            strategy = model.distribute_strategy
            self._counters = [
                TrainingCounters(name, layer, strategy, settings)
                for name, layer in layers
            ]
        listeners = self._source.listeners() + [
            counters.listener() for counters in self._counters
        ]
        if listeners:
            hooks.claim(model, self)
            for listener in listeners:
                self._listening.enter_context(listener)
        if settings.importance_units:
            self._importance = Importance(
                model, layers, settings.importance_units
            )
        self._writers.begin(model, layers)
        if listeners or self._source.sample is not None:
            # fit made (but has not traced) its train function: make it
            # again so that it is traced with the listeners, and again at
            # the end so that later fits run without them.
            model.make_train_function(force=True)
        self._cost.add(started)

    def on_epoch_begin(self, epoch, logs=None):
        self._cost.epoch_start = time.perf_counter()
        for counters in self._counters:
            counters.reset()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.settings.freq:
            return
        started = time.perf_counter()
        step = self._log.step(epoch)
        summaries = Summaries()
        self._writers.training(
            summaries, [counters.record() for counters in self._counters]
        )
        x, run, source = self._source.batch()
        if x is not None and self._log.chief:
            results = self._probe.run(x)
            reducer = self._probe.reduce
            records = [
                reducer.read(name, layer, results[name])
                for name, layer in self._probe.layers
            ]
            if self._matches is not None:
                self._matches.fill(x, records)
            if self._importance is not None:
                self._importance.measure(x, self._source.labels, records)
            self._writers.probe(
                step, self.model, self._probe.layers, x, run, source, records
            )
        spent = self._cost.take(
            started,
            f"Lower probe_values (now {self.settings.probe_values}) or "
            "importance, raise freq or pass dashboard=False.",
        )
        self._writers.seconds(step, spent, summaries)

    def on_train_end(self, logs=None):
        self.stop_listening()
        self._log.close()

    def stop_listening(self):
        """Put back every `call` this monitor replaced; later fits of the
        model run without its listeners."""
        listened = bool(self._listening._exit_callbacks)
        self._listening.close()
        self._counters = []
        if listened:
            self.model.make_train_function(force=True)
        hooks.release(self.model, self)


def writes_summaries(model):
    """Whether this process writes: the chief of a TensorFlow multi-worker
    run, process 0 of a multi-host JAX run, and any single process."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index() == 0
    extended = getattr(model.distribute_strategy, "extended", None)
    return bool(getattr(extended, "should_save_summary", True))
