"""Time keras-gates layers against the stock Keras layers, in one process.

For each cell, shape and XLA setting it times, interleaved round by round:
the stock Keras layer, the keras-gates layer with gates off, and with gates
on; both a forward pass (every output, gates included, reduced on the device
so that copying to the host is not measured) and a training step (forward,
backward and an SGD update, loss on the output sequence). It prints medians
and ratios to stock, and the memory floor: the time NumPy takes to copy the
gates' bytes once (`np.copyto`, timed in the same rounds), with
`(gates on - gates off) / copy` for the forward pass.

`--long` times the long-sequence shapes instead (batch 4, 16 features, 64
units, T = 100 to 10,000 and 100,000 without gates); there the gates-on
training step puts its loss on every gate, and the peak RSS of one training
step at T = 10,000 is measured in a fresh process per variant.

It runs on the active Keras backend: `KERAS_BACKEND=jax` times `jax.jit`
functions (XLA is always on there).

    python scripts/bench_layers.py                 # the docs/speed.md table
    python scripts/bench_layers.py --quick         # one small shape
    python scripts/bench_layers.py --long          # long sequences
    python scripts/bench_layers.py --cells lstm --shapes 64,100,64,128
    python scripts/bench_layers.py --gate-dtype float16
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_gates  # noqa: E402

BACKEND = keras.backend.backend()
SHAPES = [(64, 100, 64, 128), (32, 64, 128, 256), (64, 100, 512, 512)]
LONG = [(4, 100, 16, 64), (4, 1000, 16, 64), (4, 10_000, 16, 64)]
LONGEST = (4, 100_000, 16, 64)
CELLS = {
    "lstm": (keras.layers.LSTM, keras_gates.LSTM),
    "gru": (keras.layers.GRU, keras_gates.GRU),
    "simple": (keras.layers.SimpleRNN, keras_gates.SimpleRNN),
}
VARIANTS = ("stock", "gates off", "gates on")
# Issue 19's targets met or missed in this run, printed at the end.
TARGETS = []


def target(text, value, limit):
    """Note a measured target: `value` against its upper `limit`."""
    verdict = "met" if value <= limit else "missed"
    TARGETS.append(f"target: {text} <= {limit}: {value:.2f} ({verdict})")


def total(outputs):
    """Sum of every output tensor, as one float32 scalar."""
    flat = keras.tree.flatten(outputs)
    return sum(keras.ops.sum(keras.ops.cast(t, "float32")) for t in flat)


def loss_of(outputs, gate_loss):
    """Mean square of the output sequence (and of every gate)."""
    flat = keras.tree.flatten(outputs)
    loss = keras.ops.mean(keras.ops.square(flat[0]))
    if gate_loss and len(flat) > 1:
        loss += sum(
            keras.ops.mean(keras.ops.square(keras.ops.cast(g, "float32")))
            for g in flat[1:]
        )
    return loss


def make_fns_tf(layer, jit, gate_loss):
    """Compiled forward and train-step functions (TensorFlow)."""
    import tensorflow as tf

    weights = layer.trainable_variables

    @tf.function(jit_compile=jit)
    def forward(x):
        return total(layer(x))

    @tf.function(jit_compile=jit)
    def train(x):
        with tf.GradientTape() as tape:
            outputs = layer(x, training=True)
            loss = loss_of(outputs, gate_loss)
        grads = tape.gradient(loss, weights)
        for w, g in zip(weights, grads):
            w.assign_sub(1e-4 * g)
        # The gates, when returned, are reduced too, as a monitor would.
        return loss + 0.0 * total(outputs)

    return {"forward": forward, "train": train}


def make_fns_jax(layer, jit, gate_loss):
    """Jitted forward and train-step functions (JAX; `jit` must be on)."""
    import jax

    if not jit:
        raise ValueError("bench_layers: on JAX only --jit on is measured.")
    trainable = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    @jax.jit
    def forward(x):
        return total(layer.stateless_call(trainable, fixed, x)[0])

    def loss_fn(values, x):
        outputs, _ = layer.stateless_call(values, fixed, x, training=True)
        return loss_of(outputs, gate_loss), total(outputs)

    @jax.jit
    def train_step(values, x):
        grad = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, reduced), grads = grad(values, x)
        new = [w - 1e-4 * g for w, g in zip(values, grads)]
        return new, loss + 0.0 * reduced

    def train(x):
        return train_step(trainable, x)[1]

    return {"forward": forward, "train": train}


def make_fns(layer, jit, gate_loss=False):
    maker = make_fns_jax if BACKEND == "jax" else make_fns_tf
    return maker(layer, jit, gate_loss)


def timed(fn, x, iters):
    start = time.perf_counter()
    for _ in range(iters):
        result = fn(x)
    np.asarray(result)
    return (time.perf_counter() - start) / iters


def build(cell, shape, gate_dtype, variants=VARIANTS):
    """Input and built layers (sharing the stock layer's weights)."""
    batch, steps, features, units = shape
    stock_cls, gates_cls = CELLS[cell]
    x = keras.ops.convert_to_tensor(
        np.random.RandomState(0).randn(batch, steps, features), "float32"
    )
    stock = stock_cls(units, return_sequences=True)
    stock.build(x.shape)
    layers = {"stock": stock}
    for name, flag in (("gates off", False), ("gates on", True)):
        if name not in variants:
            continue
        extra = {"gate_dtype": gate_dtype} if flag and gate_dtype else {}
        layer = gates_cls(
            units, return_sequences=True, return_gates=flag, **extra
        )
        layer.build(x.shape)
        layer.set_weights(stock.get_weights())
        layers[name] = layer
    return x, layers


def gate_bytes(layer, shape):
    batch, steps, _, units = shape
    itemsize = np.dtype(keras.backend.standardize_dtype(layer.gate_dtype))
    return len(layer.gate_names) * batch * steps * units * itemsize.itemsize


def medians(fns, x, rounds, iters, floor=None):
    """Median seconds per call of each function, in interleaved rounds;
    `floor` (bytes) adds "copy": NumPy copying that many bytes once."""
    for fn in fns.values():
        np.asarray(fn(x))  # compile and warm up
    calls = dict(fns)
    if floor:
        src = np.ones(floor // 4, "float32")
        dst = np.empty_like(src)
        calls["copy"] = lambda _: np.copyto(dst, src)
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            times[name].append(timed(fn, x, iters))
    return {name: statistics.median(t) for name, t in times.items()}


def bench(cell, shape, jit, rounds, iters, gate_dtype):
    """Rows of the main table for one cell, shape and XLA setting."""
    x, layers = build(cell, shape, gate_dtype)
    fns = {name: make_fns(layer, jit) for name, layer in layers.items()}
    floor = gate_bytes(layers["gates on"], shape)
    rows = []
    for mode in ("forward", "train"):
        med = medians(
            {n: f[mode] for n, f in fns.items()},
            x,
            rounds,
            iters,
            floor if mode == "forward" else None,
        )
        over = "-"
        if mode == "forward":
            extra = med["gates on"] - med["gates off"]
            over = f"{extra / med['copy']:.1f} ({med['copy'] * 1e3:.2f} ms)"
            target(
                f"{BACKEND} {cell} {shape} XLA {'on' if jit else 'off'} "
                "gates on (on - off) / copy",
                extra / med["copy"],
                1.5,
            )
        target(
            f"{BACKEND} {cell} {shape} XLA {'on' if jit else 'off'} {mode} "
            "gates off / stock",
            med["gates off"] / med["stock"],
            1.05,
        )
        rows.append(
            f"| {cell} | {shape} | {'on' if jit else 'off'} | {mode} | "
            f"{med['stock'] * 1e3:.1f} | "
            f"{med['gates off'] / med['stock']:.2f}x | "
            f"{med['gates on'] / med['stock']:.2f}x | {over} |"
        )
    return rows


def bench_long(shape, jit, rounds, gate_dtype):
    """Rows of the long table: milliseconds per call, gates-on training
    with its loss on the gates."""
    x, layers = build("lstm", shape, gate_dtype)
    fns = {
        name: make_fns(layer, jit, gate_loss=name == "gates on")
        for name, layer in layers.items()
    }
    rows = []
    for mode in ("forward", "train"):
        med = medians({n: f[mode] for n, f in fns.items()}, x, rounds, 1)
        ms = " | ".join(f"{med[n] * 1e3:.1f}" for n in VARIANTS)
        off = med["gates off"] / med["stock"]
        rows.append(
            f"| {shape[1]} | {'on' if jit else 'off'} | {mode} | {ms} | "
            f"{off:.2f}x | {med['gates on'] / med['stock']:.2f}x |"
        )
    return rows


def bench_longest(rounds):
    """Forward pass at T = 100,000 without gates (XLA on)."""
    x, layers = build("lstm", LONGEST, None, ("stock", "gates off"))
    fns = {n: make_fns(layer, True)["forward"] for n, layer in layers.items()}
    med = medians(fns, x, rounds, 1)
    target(
        f"{BACKEND} lstm {LONGEST} forward gates off / stock",
        med["gates off"] / med["stock"],
        1.05,
    )
    return (
        f"| {LONGEST[1]} | on | forward | {med['stock'] * 1e3:.1f} | "
        f"{med['gates off'] * 1e3:.1f} | - | "
        f"{med['gates off'] / med['stock']:.2f}x | - |"
    )


def peak_rss(variant, shape, gate_dtype):
    """Peak RSS growth (MB) during one compiled XLA training step, in a
    fresh process. Large allocations are mapped and unmapped one by one
    (a fixed glibc mmap threshold), so memory freed by the first (compiling)
    call leaves the resident set before the measured one."""
    args = [sys.executable, __file__, "--rss-of", variant]
    args += ["--shapes", ",".join(map(str, shape))]
    if gate_dtype:
        args += ["--gate-dtype", gate_dtype]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(1 << 20))
    out = subprocess.run(
        args, capture_output=True, text=True, check=True, env=env
    )
    return float(out.stdout.split()[-1])


def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_child(variant, shape, gate_dtype):
    x, layers = build("lstm", shape, gate_dtype, ("stock", variant))
    train = make_fns(layers[variant], True, variant == "gates on")["train"]
    np.asarray(train(x))  # compile
    before = resident_mb()
    peak, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], resident_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    np.asarray(train(x))
    done.set()
    sampler.join()
    print(peak[0] - before)


def header():
    if BACKEND == "jax":
        import jax

        version = f"jax {jax.__version__}"
        devices = jax.devices()[0].platform
    else:
        import tensorflow as tf

        version = f"tensorflow {tf.__version__}"
        devices = f"GPUs: {len(tf.config.list_physical_devices('GPU'))}"
    print(
        f"# keras {keras.__version__}, {version}, {platform.machine()} with "
        f"{os.cpu_count()} CPU cores, {devices}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument(
        "--shapes",
        nargs="*",
        help="batch,time,input,units (default: the three docs shapes)",
    )
    parser.add_argument("--jit", default="on" if BACKEND == "jax" else "on,off")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--long", action="store_true")
    parser.add_argument(
        "--gate-dtype", help="gate_dtype of the gates-on layer (float16...)"
    )
    parser.add_argument("--rss-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shapes = (
        [tuple(int(v) for v in s.split(",")) for s in args.shapes]
        if args.shapes
        else SHAPES
    )
    if args.rss_of:
        return rss_child(args.rss_of, shapes[0], args.gate_dtype)
    header()
    jits = [j == "on" for j in args.jit.split(",")]
    if args.long:
        return main_long(args, jits)
    if args.quick:
        shapes, args.rounds, args.iters = [(16, 20, 8, 16)], 2, 1
    print(
        "| cell | (B, T, D, H) | XLA | pass | stock ms | gates off | "
        "gates on | (on - off) / copy (copy) |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|")
    for cell in args.cells.split(","):
        for shape in shapes:
            for jit in jits:
                rows = bench(
                    cell, shape, jit, args.rounds, args.iters, args.gate_dtype
                )
                print("\n".join(rows), flush=True)
    print("\n".join(["", *TARGETS]))


def main_long(args, jits):
    rounds = min(args.rounds, 3)
    print(
        "| T | XLA | pass | stock ms | gates off ms | gates on ms | "
        "gates off | gates on |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for shape in LONG:
        for jit in jits:
            rows = bench_long(shape, jit, rounds, args.gate_dtype)
            print("\n".join(rows), flush=True)
    print(bench_longest(rounds), flush=True)
    print("\n".join(["", *TARGETS]))
    shape = LONG[-1]
    rss = {v: peak_rss(v, shape, args.gate_dtype) for v in VARIANTS[1:]}
    print(
        f"\nPeak RSS growth during one compiled XLA training step at T = "
        f"{shape[1]} (fresh process each): "
        + ", ".join(f"{v} {mb:.0f} MB" for v, mb in rss.items())
    )


if __name__ == "__main__":
    main()
