"""What `keras_gates.match_units` costs against one plain `predict`.

A two-layer LSTM(128) (token ids -> Embedding(64, 32) -> LSTM(128), all
steps -> LSTM(128) -> Dense(1)) on sequences of 200 random tokens, with an
annotation marking one token in seven; every unit of every gate of both
layers is matched. Each measurement runs in a fresh process, so that its
peak resident memory (the process's high-water mark) is its own:
`match_units` and `predict` on 1,000 and on 10,000 sequences, both with
batches of 128, times including tracing and compiling.

    python scripts/bench_discovery.py         # the table of docs/discovery.md
    python scripts/bench_discovery.py --sizes 200 --steps 50   # a quick look
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

BATCH = 128


def model_and_data(sequences, steps):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    inputs = keras.Input((steps,), dtype="int32")
    h = keras.layers.Embedding(64, 32)(inputs)
    h = keras.layers.LSTM(128, return_sequences=True)(h)
    h = keras.layers.LSTM(128)(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(loss="mse")
    x = np.random.default_rng(0).integers(0, 64, (sequences, steps))
    return model, x.astype("int32"), x % 7 == 0


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(what, sequences, steps):
    """One measurement in this process; prints JSON."""
    import keras_gates

    model, x, marked = model_and_data(sequences, steps)
    before = peak_mb()
    started = time.perf_counter()
    if what == "match":
        found = keras_gates.match_units(
            model, x, marked, top=3, batch_size=BATCH, verbose=0
        )
        best = found[0]["score"]
    else:
        model.predict(x, batch_size=BATCH, verbose=0)
        best = None
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_mb(),
                "before_mb": before,
                "best": best,
            }
        )
    )


def measure(what, sequences, steps):
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, str(sequences), str(steps)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, sequences, steps = args.child
        return child(what, int(sequences), int(steps))
    print(
        f"{datetime.date.today()}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"`python scripts/bench_discovery.py "
        f"--sizes {' '.join(map(str, args.sizes))} --steps {args.steps}`\n"
    )
    print(
        "| sequences | match_units (s) | predict (s) | ratio | "
        "peak memory, match_units (MB) | peak memory, predict (MB) | "
        "memory before (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for sequences in args.sizes:
        match = measure("match", sequences, args.steps)
        predict = measure("predict", sequences, args.steps)
        print(
            f"| {sequences:,} | {match['seconds']:.1f} | "
            f"{predict['seconds']:.1f} | "
            f"{match['seconds'] / predict['seconds']:.2f} | "
            f"{match['peak_mb']:.0f} | {predict['peak_mb']:.0f} | "
            f"{match['before_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
