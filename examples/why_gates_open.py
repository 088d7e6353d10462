"""Why a gate shuts: forget units that reset on a newline, and the
characters that drive them.

Trains the character model of `keras-gates demo` (Embedding -> LSTM ->
Dense, predicting the next character of Python's standard library
source), then:

1. reads the forget gates on held-out text and ranks the units by how much
   lower their forget gate is at newline characters than elsewhere: the
   units that (partly) forget their cell state when a line ends;
2. asks, for the first of them, "which inputs made it shut?": the saliency
   of that forget unit at newline steps, with respect to every earlier
   character (`keras_gates.attribution`), summed by distance from the
   newline and by character;
3. draws one case: the characters coloured by attribution, the unit's
   forget gate beneath (`keras-gates explain` draws the same figure).

During training, `GateMonitor(attribution="saliency")` logs the same kind
of answer for the most saturated units, at the first epoch and then as
often as its budget allows (`attribution_share`, 5% of the training time),
which the Gates dashboard shows under its sequence view.

    python examples/why_gates_open.py            # a few minutes on 2 cores
    python examples/why_gates_open.py --quick    # seconds (used in tests)
    keras-gates board logs/why_gates_open
"""

import argparse
import collections
import os
import pathlib
import shlex

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_gates  # noqa: E402
from keras_gates import explain, figures  # noqa: E402
from keras_gates.text import CharCorpus, stdlib_source  # noqa: E402


def train(args):
    corpus = CharCorpus(stdlib_source(args.max_chars), args.seq_len)
    x, y = corpus.windows()
    model = keras.Sequential(
        [
            keras.Input((args.seq_len,), dtype="int32"),
            keras.layers.Embedding(len(corpus.chars), 32),
            keras_gates.LSTM(args.units, return_sequences=True, name="lstm"),
            keras.layers.Dense(len(corpus.chars)),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    split = len(x) * 9 // 10
    monitor = keras_gates.GateMonitor(
        args.logdir,
        probe_data=x[split:][: args.probe],
        vocabulary=corpus.chars,
        dashboard_sequences=2,
        attribution="saliency",
    )
    model.fit(
        x[:split],
        y[:split],
        epochs=args.epochs,
        batch_size=64,
        verbose=2,
        callbacks=[monitor],
    )
    return corpus, model, x[split:][: args.probe]


def newline_units(forget, is_newline):
    """Units by how much lower their forget gate is at newlines than at
    other characters: `(units, drops)`, largest drop first."""
    at_newline = forget[is_newline].mean(axis=0)
    elsewhere = forget[~is_newline].mean(axis=0)
    drops = elsewhere - at_newline
    order = np.argsort(-drops)
    return order, drops[order]


def attribution_by_offset(model, x, is_newline, unit, cases):
    """Saliency of forget unit `unit` at up to `cases` newline steps,
    summed over the cases by distance before the newline and by
    character. Returns `(by_offset, by_char, one_case)`."""
    rows, steps = np.nonzero(is_newline)
    by_offset = np.zeros(x.shape[1])
    by_char = collections.Counter()
    one_case = None
    # One attribution call per distinct newline step, all its rows at once.
    for step in np.unique(steps)[:cases]:
        chosen = rows[steps == step]
        where = keras_gates.attribution(
            model, x[chosen], layer="lstm", gate="forget", unit=unit, step=step
        )
        for seq, values in zip(chosen, where):
            by_offset[: step + 1] += values[: step + 1][::-1]
            for token, value in zip(x[seq, : step + 1], values[: step + 1]):
                by_char[int(token)] += float(value)
        if one_case is None or step > one_case[1]:
            one_case = (int(chosen[0]), int(step), where[0])
    return by_offset, by_char, one_case


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=400_000)
    parser.add_argument("--probe", type=int, default=256)
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--out", default="why_gates_open")
    parser.add_argument("--logdir", default="logs/why_gates_open")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.units, args.max_chars = 1, 8, 8_000
        args.probe, args.cases = 32, 4

    corpus, model, x = train(args)
    newline = corpus.encode("\n")[0]
    is_newline = x == newline
    forget = keras_gates.gates(model, x)["lstm"]["forget"]
    units, drops = newline_units(forget, is_newline)
    print("forget units that shut most on a newline (mean forget gate")
    print("elsewhere minus at newlines):")
    for unit, drop in zip(units[:5], drops[:5]):
        print(f"  unit {unit:3d}: {drop:+.3f}")

    unit = int(units[0])
    by_offset, by_char, (seq, step, values) = attribution_by_offset(
        model, x, is_newline, unit, args.cases
    )
    share = by_offset / by_offset.sum()
    print(f"\nsaliency of forget unit {unit} at newlines, by distance:")
    for offset in range(min(6, len(share))):
        label = "the newline itself" if offset == 0 else f"{offset} before"
        print(f"  {label:>18}: {share[offset]:.0%}")
    print("characters with the most saliency (summed):")
    for token, total in by_char.most_common(6):
        print(f"  {corpus.decode([token])!r:>6}: {total:.3f}")

    trace = explain.unit_trace(model, x[seq : seq + 1], "lstm", "forget", unit)
    drawn = explain.figure(
        values,
        trace,
        [corpus.decode([t]) for t in x[seq]],
        title=f"Which characters shut forget unit {unit} at a newline "
        f"(saliency, step {step})",
        trace_label=f"forget[{unit}]",
        step=step,
    )
    (path,) = figures.save({"why_gates_open": drawn}, args.out, ("png",))
    print(f"\nfigure: {path}")
    print(f"keras-gates board {shlex.quote(args.logdir)}")
    return {
        "units": units,
        "drops": drops,
        "by_offset": by_offset,
        "case": (seq, step, values),
        "figure": pathlib.Path(path),
    }


if __name__ == "__main__":
    main()
