"""Time keras-gates layers against the stock Keras layers, in one process.

For each cell, shape and XLA setting it times, interleaved round by round:
the stock Keras layer, the keras-gates layer with gates off, and with gates
on; both a forward pass (every output, gates included, reduced on the device
so that copying to the host is not measured) and a training step (forward,
backward and an SGD update). It prints medians and ratios to stock.

    python scripts/bench_layers.py                 # the README table
    python scripts/bench_layers.py --quick         # one small shape
    python scripts/bench_layers.py --cells lstm --shapes 64,100,64,128
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_gates  # noqa: E402

SHAPES = [(64, 100, 64, 128), (32, 64, 128, 256), (64, 100, 512, 512)]
CELLS = {
    "lstm": (keras.layers.LSTM, keras_gates.LSTM),
    "gru": (keras.layers.GRU, keras_gates.GRU),
    "simple": (keras.layers.SimpleRNN, keras_gates.SimpleRNN),
}


def make_fns(layer, jit):
    """Compiled forward and train-step functions for a built layer."""
    weights = layer.trainable_variables

    def total(outputs):
        flat = tf.nest.flatten(outputs)
        return tf.add_n([tf.reduce_sum(t) for t in flat])

    @tf.function(jit_compile=jit)
    def forward(x):
        return total(layer(x))

    @tf.function(jit_compile=jit)
    def train(x):
        with tf.GradientTape() as tape:
            outputs = layer(x, training=True)
            first = tf.nest.flatten(outputs)[0]
            loss = tf.reduce_mean(tf.square(first))
        grads = tape.gradient(loss, weights)
        for w, g in zip(weights, grads):
            w.assign_sub(1e-4 * g)
        # The gates, when returned, are reduced too, as a monitor would.
        return loss + 0.0 * total(outputs)

    return {"forward": forward, "train": train}


def timed(fn, x, iters):
    fn(x).numpy()  # compile / warm up
    start = time.perf_counter()
    for _ in range(iters):
        result = fn(x)
    result.numpy()
    return (time.perf_counter() - start) / iters


def bench(cell, shape, jit, rounds, iters):
    batch, steps, features, units = shape
    stock_cls, gates_cls = CELLS[cell]
    x = tf.constant(
        np.random.RandomState(0).randn(batch, steps, features), tf.float32
    )
    stock = stock_cls(units, return_sequences=True)
    stock(x)
    variants = {"stock": stock}
    for name, flag in (("gates off", False), ("gates on", True)):
        layer = gates_cls(units, return_sequences=True, return_gates=flag)
        layer(x)
        layer.set_weights(stock.get_weights())
        variants[name] = layer
    fns = {name: make_fns(layer, jit) for name, layer in variants.items()}
    rows = []
    for mode in ("forward", "train"):
        times = {name: [] for name in variants}
        for name in variants:
            fns[name][mode](x).numpy()
        for _ in range(rounds):
            for name in variants:
                times[name].append(timed(fns[name][mode], x, iters))
        med = {name: statistics.median(t) for name, t in times.items()}
        rows.append(
            (
                cell,
                shape,
                "on" if jit else "off",
                mode,
                med["stock"] * 1e3,
                med["gates off"] / med["stock"],
                med["gates on"] / med["stock"],
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument(
        "--shapes",
        nargs="*",
        help="batch,time,input,units (default: the three README shapes)",
    )
    parser.add_argument("--jit", default="on,off")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    shapes = (
        [tuple(int(v) for v in s.split(",")) for s in args.shapes]
        if args.shapes
        else SHAPES
    )
    if args.quick:
        shapes, args.rounds, args.iters = [(16, 20, 8, 16)], 2, 1
    print(
        f"# keras {keras.__version__}, tensorflow {tf.__version__}, "
        f"{platform.machine()} with {os.cpu_count()} CPU cores, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}"
    )
    print(
        "| cell | (B, T, D, H) | XLA | pass | stock ms | gates off | gates on |"
    )
    print("|---|---|---|---|---:|---:|---:|")
    for cell in args.cells.split(","):
        for shape in shapes:
            for jit in args.jit.split(","):
                for row in bench(
                    cell, shape, jit == "on", args.rounds, args.iters
                ):
                    c, s, j, mode, ms, off, on = row
                    print(
                        f"| {c} | {s} | {j} | {mode} | {ms:.1f} | "
                        f"{off:.2f}x | {on:.2f}x |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
