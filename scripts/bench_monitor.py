"""Time `model.fit` with and without GateMonitor, in one process.

Four ways of fitting the same model, interleaved round by round: plain
`fit`, `fit` with `GateMonitor` without the Gates dashboard's data, at its
defaults (a probe of 256 sequences every epoch, dashboard data included)
and with `track_training=True` as well. Each round is one
`fit` of a few epochs per way; an epoch is timed from the end of one epoch
to the end of the next (every callback's work included), so the first
epoch, which compiles the train function, is left out.

    python scripts/bench_monitor.py                  # the README numbers
    python scripts/bench_monitor.py --quick
    python scripts/bench_monitor.py --cell gru --jit off
"""

import argparse
import os
import statistics
import tempfile
import time

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
        if self.last is not None:
            self.epochs.append(now - self.last)
            self.ends.append(now - self.step_end)
        self.last = now


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit", default="on", choices=["on", "off"])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.steps, args.units = 256, 10, 8
        args.epochs, args.rounds = 2, 1
    rng = np.random.default_rng(0)
    shape = (args.samples, args.steps, args.features)
    x = rng.standard_normal(shape).astype("float32")
    y = rng.standard_normal((args.samples, 1)).astype("float32")
    logs = tempfile.mkdtemp(prefix="bench_monitor_")
    modes = {
        "plain fit": lambda: [],
        "GateMonitor, dashboard=False": lambda: [
            keras_gates.GateMonitor(logs, probe_data=x[:256], dashboard=False)
        ],
        "GateMonitor": lambda: [
            keras_gates.GateMonitor(logs, probe_data=x[:256])
        ],
        "GateMonitor + track_training": lambda: [
            keras_gates.GateMonitor(
                logs, probe_data=x[:256], track_training=True
            )
        ],
    }
    jit = args.jit == "on"
    times = {mode: ([], [], []) for mode in modes}
    for _ in range(args.rounds):
        for mode, callbacks in modes.items():
            model = build(args.cell, args.steps, args.features, args.units, jit)
            clock = Clock()
            model.fit(
                x,
                y,
                batch_size=64,
                epochs=args.epochs,
                verbose=0,
                callbacks=[*callbacks(), clock],
            )
            for kept, measured in zip(
                times[mode], (clock.epochs, clock.steps, clock.ends)
            ):
                kept.extend(measured)
    print(
        f"# {args.cell.upper()} x2, {shape}, units {args.units}, batch 64, "
        f"XLA {args.jit}, {os.cpu_count()} CPU cores; seconds per epoch, "
        f"median over epochs 2-{args.epochs} of {args.rounds} fits each"
    )
    print(
        "| fit | s / epoch | ratio | ms / training step | ratio "
        "| ms at epoch end |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    epoch_base, step_base, _ = map(statistics.median, times["plain fit"])
    result = {}
    for mode, measured in times.items():
        epoch, step, end = map(statistics.median, measured)
        result[mode] = epoch / epoch_base
        print(
            f"| {mode} | {epoch:.3f} | {epoch / epoch_base:.2f}x | "
            f"{1e3 * step:.1f} | {step / step_base:.2f}x | {1e3 * end:.0f} |"
        )
    return result


if __name__ == "__main__":
    main()
