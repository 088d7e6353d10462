"""Time `intervene` and `ablate`, in one process, on the active backend.

1. `predict`: a stock LSTM model as it is, through `intervene` with no
   edits, with `Scale(1.0)` on the forget gate (the keras-gates loop runs
   with an edit that changes nothing), with `Set(1.0)` on ten forget units,
   and `transparent(model)` for comparison; interleaved round by round,
   medians and ratios to the model as it is.
2. `ablate` over the 128 forget units of the demo's character model
   (Embedding(32) -> LSTM(128) -> Dense, 64 steps) on 256 sequences, against
   128 `evaluate` calls of the model as it is (warm: one trace), and against
   the way without `ablate`: a new `intervene(model, {...: Set(mean,
   units=[u])})` and its `evaluate` per unit (one trace each; timed on
   `--naive` units and scaled to 128).

    python scripts/bench_interventions.py                # the docs numbers
    KERAS_BACKEND=jax python scripts/bench_interventions.py
    python scripts/bench_interventions.py --quick
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_gates  # noqa: E402
from keras_gates import demo  # noqa: E402
from keras_gates_cli import DemoSettings  # noqa: E402

BACKEND = keras.backend.backend()


def predict_models(batch, steps, features, units):
    inputs = keras.Input((steps, features))
    h = keras.layers.LSTM(units, return_sequences=True, name="lstm")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    forget = "lstm/forget"
    return {
        "the model as it is": model,
        "intervene, no edits": keras_gates.intervene(model, {}),
        "intervene, Scale(1.0) on forget": keras_gates.intervene(
            model, {forget: keras_gates.Scale(1.0)}
        ),
        "intervene, Set(1.0) on 10 forget units": keras_gates.intervene(
            model,
            {forget: keras_gates.Set(1.0, units=list(range(min(10, units))))},
        ),
        "transparent(model)": keras_gates.transparent(model),
    }


def time_predict(args):
    batch, steps, features, units = args.shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.sequences, steps, features), "float32")
    models = predict_models(batch, steps, features, units)
    for model in models.values():
        model.predict(x, batch_size=batch, verbose=0)  # trace
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            started = time.perf_counter()
            model.predict(x, batch_size=batch, verbose=0)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["the model as it is"])
    print(
        f"# predict, {BACKEND}: {args.sequences} sequences of {steps} x "
        f"{features}, LSTM({units}), batch {batch}; median of {args.rounds}"
    )
    print("| model | s | ratio |\n|---|---:|---:|")
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"| {name} | {median:.3f} | {median / base:.2f}x |")


def time_ablate(args):
    settings = DemoSettings(cells=("lstm",), units=args.units)
    vocabulary = 98
    model = demo.build("lstm", vocabulary, settings)
    rng = np.random.default_rng(0)
    shape = (args.ablate_sequences, settings.seq_len)
    x = rng.integers(0, vocabulary, shape).astype("int32")
    y = rng.integers(0, vocabulary, shape).astype("int32")
    model.evaluate(x, y, verbose=0)  # trace

    started = time.perf_counter()
    for _ in range(args.units):
        model.evaluate(x, y, verbose=0)
    plain = time.perf_counter() - started

    started = time.perf_counter()
    rows = keras_gates.ablate(model, x, y, "lstm", "forget", verbose=0)
    ablated = time.perf_counter() - started
    assert len(rows) == args.units

    means = keras_gates.gates(model, x)["lstm"]["forget"].mean(axis=(0, 1))
    started = time.perf_counter()
    for unit in range(args.naive):
        edit = keras_gates.Set(float(means[unit]), units=[unit])
        edited = keras_gates.intervene(model, {"lstm/forget": edit})
        edited.evaluate(x, y, verbose=0)
    naive = (time.perf_counter() - started) * args.units / args.naive
    print(
        f"\n# ablate, {BACKEND}: the {args.units} forget units of the demo's "
        f"LSTM({args.units}) on {shape[0]} sequences of {shape[1]} "
        "characters"
    )
    print("| way | s | ablate's ratio to it |\n|---|---:|---:|")
    print(f"| ablate (one trace for every unit) | {ablated:.1f} | 1 |")
    print(
        f"| {args.units} evaluate calls of the model as it is (warm) | "
        f"{plain:.1f} | {ablated / plain:.2f}x |"
    )
    scaled = f"{args.naive} timed, x{args.units / args.naive:g}"
    print(
        f"| intervene + evaluate per unit (a trace each; {scaled}) | "
        f"{naive:.1f} | {ablated / naive:.2f}x |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sequences", type=int, default=1024)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--ablate-sequences", type=int, default=256)
    parser.add_argument("--naive", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    args.shape = (64, 100, 64, 128)
    if args.quick:
        args.shape, args.sequences, args.rounds = (8, 10, 4, 8), 32, 1
        args.units, args.ablate_sequences, args.naive = 8, 16, 2
    time_predict(args)
    time_ablate(args)


if __name__ == "__main__":
    main()
