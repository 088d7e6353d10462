"""Time `model.fit` with and without GateMonitor, in one process.

Four ways of fitting the same model, interleaved round by round: plain
`fit`, `fit` with `GateMonitor` without the Gates dashboard's data, at its
defaults (dashboard data included) and with `track_training=True` as well.
Each round is one `fit` of a few epochs per way; an epoch is timed from the
end of one epoch to the end of the next (every callback's work included),
so the first epoch, which compiles the train function, is left out of the
per-epoch figures and shown on its own: the first epoch's extra time over
plain `fit` (from the start of `fit`, tracing and figures included).

Two models: `lstm`, two keras-gates LSTM (or GRU) layers on float
sequences; `text`, a text classifier of stock Keras layers (Embedding ->
Bidirectional(LSTM(64)) x 2 -> Dense, 200 steps).

    python scripts/bench_monitor.py                  # the README numbers
    python scripts/bench_monitor.py --model text --rounds 3
    python scripts/bench_monitor.py --quick
    python scripts/bench_monitor.py --cell gru --jit off
    python scripts/bench_monitor.py --attribution saliency   # a fifth way
    python scripts/bench_monitor.py --importance             # another

`--attribution METHOD` adds a fifth way: GateMonitor at its defaults with
`attribution=METHOD` (the model output and the most saturated unit of every
sigmoid gate, on the dashboard's 4 sequences, every epoch). `--importance`
adds GateMonitor at its defaults with `importance=True` (256 units
mean-ablated, each a forward pass over the probe's 256 sequences with their
labels, every epoch).
"""

import argparse
import os
import statistics
import tempfile
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_gates  # noqa: E402


def build(cell, steps, features, units, jit):
    layer = {"lstm": keras_gates.LSTM, "gru": keras_gates.GRU}[cell]
    model = keras.Sequential(
        [
            keras.Input((steps, features)),
            layer(units, return_sequences=True),
            layer(units),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse", jit_compile=jit)
    return model


def build_text(steps, vocabulary, jit):
    """Embedding -> Bidirectional(LSTM(64)) x 2 -> Dense, stock layers."""
    model = keras.Sequential(
        [
            keras.Input((steps,), dtype="int32"),
            keras.layers.Embedding(vocabulary, 32),
            keras.layers.Bidirectional(
                keras.layers.LSTM(64, return_sequences=True)
            ),
            keras.layers.Bidirectional(keras.layers.LSTM(64)),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse", jit_compile=jit)
    return model


class Start(keras.callbacks.Callback):
    """Notes when `fit` starts, for `Clock`. Put it first."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def on_train_begin(self, logs=None):
        self.clock.start = time.perf_counter()


class Clock(keras.callbacks.Callback):
    """After the first epoch: seconds between consecutive epoch ends, of
    each training step, and from the last step's end to the epoch's end
    (the callbacks' epoch-end work). Put it last."""

    def __init__(self):
        super().__init__()
        self.last, self.epochs, self.steps, self.ends = None, [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_end = time.perf_counter()
        if self.last is not None:
            self.steps.append(self.step_end - self.step_start)

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if self.last is None:
            self.first = now - self.start
        else:
            self.epochs.append(now - self.last)
            self.ends.append(now - self.step_end)
        self.last = now


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lstm", choices=["lstm", "text"])
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit", default="on", choices=["on", "off"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--attribution",
        choices=["saliency", "smoothgrad", "gradient_x_input", "gradcam"],
    )
    parser.add_argument("--importance", action="store_true")
    args = parser.parse_args(argv)
    text = args.model == "text"
    args.samples = args.samples or (1024 if text else 4096)
    args.steps = args.steps or (200 if text else 50)
    if args.quick:
        args.samples, args.steps, args.units = 256, 10, 8
        args.epochs, args.rounds = 2, 1
    rng = np.random.default_rng(0)
    if text:
        shape = (args.samples, args.steps)
        x = rng.integers(1, 2000, shape).astype("int32")
    else:
        shape = (args.samples, args.steps, args.features)
        x = rng.standard_normal(shape).astype("float32")
    y = rng.standard_normal((args.samples, 1)).astype("float32")

    # A fresh log dir per fit: a GateMonitor on a used one carries on
    # (no figures, layout or tables again), which is not a first run.
    def fresh():
        return tempfile.mkdtemp(prefix="bench_monitor_")

    modes = {
        "plain fit": lambda: [],
        "GateMonitor, dashboard=False": lambda: [
            keras_gates.GateMonitor(
                fresh(), probe_data=x[:256], dashboard=False
            )
        ],
        "GateMonitor": lambda: [
            keras_gates.GateMonitor(fresh(), probe_data=x[:256])
        ],
        "GateMonitor + track_training": lambda: [
            keras_gates.GateMonitor(
                fresh(), probe_data=x[:256], track_training=True
            )
        ],
    }
    if args.attribution:
        modes[f"GateMonitor, attribution={args.attribution}"] = lambda: [
            keras_gates.GateMonitor(
                fresh(), probe_data=x[:256], attribution=args.attribution
            )
        ]
    if args.importance:
        modes["GateMonitor, importance=True"] = lambda: [
            keras_gates.GateMonitor(
                fresh(), probe_data=(x[:256], y[:256]), importance=True
            )
        ]
    jit = args.jit == "on"
    # The monitor's own cost is what is measured here, not warned about.
    warnings.simplefilter(
        "ignore", keras_gates.callbacks.GateMonitorCostWarning
    )
    times = {mode: ([], [], [], []) for mode in modes}
    for _ in range(args.rounds):
        for mode, callbacks in modes.items():
            if text:
                model = build_text(args.steps, 2000, jit)
            else:
                model = build(
                    args.cell, args.steps, args.features, args.units, jit
                )
            clock = Clock()
            model.fit(
                x,
                y,
                batch_size=64,
                epochs=args.epochs,
                verbose=0,
                callbacks=[Start(clock), *callbacks(), clock],
            )
            for kept, measured in zip(
                times[mode],
                (clock.epochs, clock.steps, clock.ends, [clock.first]),
            ):
                kept.extend(measured)
    name = "Embedding, Bidirectional(LSTM(64)) x2"
    if not text:
        name = f"{args.cell.upper()}({args.units}) x2"
    print(
        f"# {name}, {shape}, batch 64, "
        f"XLA {args.jit}, {os.cpu_count()} CPU cores; seconds per epoch, "
        f"median over epochs 2-{args.epochs} of {args.rounds} fits each"
    )
    print(
        "| fit | s / epoch | ratio | ms / training step | ratio "
        "| ms at epoch end | first epoch extra s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = [statistics.median(t) for t in times["plain fit"]]
    result = {}
    for mode, measured in times.items():
        epoch, step, end, first = map(statistics.median, measured)
        result[mode] = epoch / base[0]
        print(
            f"| {mode} | {epoch:.3f} | {epoch / base[0]:.2f}x | "
            f"{1e3 * step:.1f} | {step / base[1]:.2f}x | {1e3 * end:.0f} | "
            f"{first - base[3]:+.2f} |"
        )
    return result


if __name__ == "__main__":
    main()
