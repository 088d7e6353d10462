"""Time `model.fit` with and without GateMonitor, in one process.

Four ways of fitting the same model, interleaved round by round: plain
`fit`, `fit` with `GateMonitor` without the Gates dashboard's data, at its
defaults (dashboard data included) and with `track_training=True` as well.
Each round is one `fit` of a few epochs per way; an epoch is timed from the
end of one epoch to the end of the next (every callback's work included),
so the first epoch, which compiles the train function, is left out of the
per-epoch figures and shown on its own: the first epoch's extra time over
plain `fit` (from the start of `fit`, tracing and figures included).

Three models: `lstm`, two keras-gates LSTM (or GRU) layers on float
sequences; `text`, a text classifier of stock Keras layers (Embedding ->
Bidirectional(LSTM(64)) x 2 -> Dense, 200 steps); `words`, a small
word-level model of stock layers (Embedding -> Bidirectional(GRU(32)) ->
LSTM(48) -> Dense, 1,196 sequences of 40 steps).

After the table it prints each target of issue 19 that the run measures,
with its ratio: GateMonitor + track_training <= 1.15x per epoch, the first
epoch's extra <= 1 s at GateMonitor's defaults, and with `--attribution`
GateMonitor's work within a tenth of the epochs (its own warning, counted).

    python scripts/bench_monitor.py                  # the README numbers
    python scripts/bench_monitor.py --model text --rounds 3
    python scripts/bench_monitor.py --model words --attribution saliency
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

COST_WARNING = keras_gates.callbacks.GateMonitorCostWarning


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


def build_on_ids(steps, vocabulary, jit, recurrent):
    """Embedding(vocabulary, 32) -> the `recurrent` layers -> Dense(1)."""
    model = keras.Sequential(
        [
            keras.Input((steps,), dtype="int32"),
            keras.layers.Embedding(vocabulary, 32),
            *recurrent,
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse", jit_compile=jit)
    return model


def build_text(steps, vocabulary, jit):
    """Embedding -> Bidirectional(LSTM(64)) x 2 -> Dense, stock layers."""
    first = keras.layers.LSTM(64, return_sequences=True)
    recurrent = [first, keras.layers.LSTM(64)]
    return build_on_ids(
        steps,
        vocabulary,
        jit,
        [keras.layers.Bidirectional(layer) for layer in recurrent],
    )


def build_words(steps, vocabulary, jit):
    """Embedding -> Bidirectional(GRU(32)) -> LSTM(48) -> Dense, stock."""
    first = keras.layers.GRU(32, return_sequences=True)
    recurrent = [keras.layers.Bidirectional(first), keras.layers.LSTM(48)]
    return build_on_ids(steps, vocabulary, jit, recurrent)


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
    parser.add_argument(
        "--model", default="lstm", choices=["lstm", "text", "words"]
    )
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
    text = args.model != "lstm"  # token ids in
    sizes = {"lstm": (4096, 50), "text": (1024, 200), "words": (1196, 40)}
    args.samples = args.samples or sizes[args.model][0]
    args.steps = args.steps or sizes[args.model][1]
    vocabulary = 3000 if args.model == "words" else 2000
    if args.quick:
        args.samples, args.steps, args.units = 256, 10, 8
        args.epochs, args.rounds = 2, 1
    rng = np.random.default_rng(0)
    if text:
        shape = (args.samples, args.steps)
        x = rng.integers(1, vocabulary, shape).astype("int32")
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
    times = {mode: ([], [], [], []) for mode in modes}
    warned = dict.fromkeys(modes, 0)
    for _ in range(args.rounds):
        for mode, callbacks in modes.items():
            if args.model == "text":
                model = build_text(args.steps, vocabulary, jit)
            elif args.model == "words":
                model = build_words(args.steps, vocabulary, jit)
            else:
                model = build(
                    args.cell, args.steps, args.features, args.units, jit
                )
            clock = Clock()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", COST_WARNING)
                model.fit(
                    x,
                    y,
                    batch_size=64,
                    epochs=args.epochs,
                    verbose=0,
                    callbacks=[Start(clock), *callbacks(), clock],
                )
            warned[mode] += any(
                issubclass(w.category, COST_WARNING) for w in caught
            )
            for kept, measured in zip(
                times[mode],
                (clock.epochs, clock.steps, clock.ends, [clock.first]),
            ):
                kept.extend(measured)
    name = {
        "text": "Embedding, Bidirectional(LSTM(64)) x2",
        "words": "Embedding, Bidirectional(GRU(32)), LSTM(48)",
        "lstm": f"{args.cell.upper()}({args.units}) x2",
    }[args.model]
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
    print_targets(times, warned, base)
    return result


def print_targets(times, warned, base):
    """Each issue-19 target this run measures, with its number."""

    def verdict(ok):
        return "met" if ok else "missed"

    tracked = times.get("GateMonitor + track_training")
    if tracked:
        ratio = statistics.median(tracked[0]) / base[0]
        print(
            f"target: track_training <= 1.15x per epoch: {ratio:.2f}x "
            f"({verdict(ratio <= 1.15)})"
        )
    extra = statistics.median(times["GateMonitor"][3]) - base[3]
    print(
        f"target: first epoch extra <= 1 s at the defaults: {extra:+.2f} s "
        f"({verdict(extra <= 1.0)})"
    )
    for mode in times:
        if "attribution" in mode:
            epochs, _, ends, _ = times[mode]
            share = (sum(ends) - base[2] * len(ends)) / sum(epochs)
            print(
                f"target: {mode} within 10% of the epochs: its epoch-end "
                f"work over plain fit's {share:.1%}, cost warning in "
                f"{warned[mode]} of the fits ({verdict(not warned[mode])})"
            )


if __name__ == "__main__":
    main()
