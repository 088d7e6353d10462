"""Test a reading of a gate: does the demo's model need the forget units
that shut on a newline?

The Gates dashboard suggests readings ("forget unit 18 shuts on a
newline"); `keras_gates.intervene` tests them. This script:

1. trains the character model of `keras-gates demo` (Embedding -> LSTM(128)
   -> Dense, predicting the next character of Python's standard library
   source);
2. cuts held-out text into windows with a newline at step 16 and finds, as
   the dashboard's pattern search does (on "shut" instead of "open", the
   range on the newline), the forget units below 0.5 at the newline and
   above it at the step just before, in at least half of the windows (the
   step just after is not asked: it is the indentation, through which a
   unit that resets on the newline may stay shut);
3. holds those units open (forget = 1) over that range with
   `keras_gates.intervene` (windows grouped by indentation, so that the
   range is the same steps in a group), so that the cell state they carry
   survives the line break, and measures the loss on each character after
   the newline, against the model as it is and against holding open as
   many random forget units (several draws);
4. prints the table and draws the loss by position after the newline.

The steps before the newline cannot change (the edit starts at the
newline), which the table shows as a check.

    python examples/test_a_gate.py            # about 5 minutes on 2 cores
    python examples/test_a_gate.py --model demo_lstm.keras   # keep it
    python examples/test_a_gate.py --quick    # seconds (used in tests)
    python examples/test_a_gate.py --logdir logs/test_a_gate
    keras-gates board logs/test_a_gate

With `--logdir`, GateMonitor(importance=True) also logs the gates of these
windows and the importance of every forget unit on them for the Gates
dashboard (its saturation map sizes each unit's dot by it).
"""

import argparse
import dataclasses
import logging
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_gates  # noqa: E402
from keras_gates import demo  # noqa: E402
from keras_gates.text import CharCorpus, stdlib_source  # noqa: E402
from keras_gates_cli import DemoSettings  # noqa: E402

AT = 16  # the step of the newline in every window
AFTER = 8  # "just after the newline": its first characters
GROUP = 0.02  # indentations in fewer windows than this share are left out


def train(settings, verbose, path=None):
    """The demo's LSTM model on the demo's text (loaded from `path` when
    it exists, else trained and saved there); returns (corpus, model, the
    first id of the held-out text)."""
    corpus = CharCorpus(stdlib_source(settings.max_chars), settings.seq_len)
    x, y = corpus.windows()
    split = len(x) * 9 // 10
    start = split * settings.seq_len
    if path is not None and path.is_file():
        return corpus, keras.saving.load_model(path), start
    model = demo.build("lstm", len(corpus.chars), settings)
    model.fit(
        x[:split],
        y[:split],
        validation_data=(x[split:], y[split:]),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        verbose=verbose,
    )
    if path is not None:
        model.save(path)
    return corpus, model, start


def newline_windows(corpus, start, length, count):
    """`(x, y, ends)`: windows of held-out text with a newline at step
    `AT`, and the last step of the newline's indentation in each (`AT`
    without one); only indentations common enough (`GROUP`)."""
    ids, newline = corpus.ids, corpus.encode("\n")[0]
    space = corpus.encode(" ")[0]
    found = np.flatnonzero(ids[start:] == newline) + start - AT
    found = found[(found >= start) & (found + length + 1 <= len(ids))]
    x = np.stack([ids[p : p + length] for p in found[:count]])
    y = np.stack([ids[p + 1 : p + length + 1] for p in found[:count]])
    spaces = np.cumprod(x[:, AT + 1 :] == space, axis=1).sum(axis=1)
    ends = np.minimum(AT + spaces, length - 2)
    values, counts = np.unique(ends, return_counts=True)
    kept = np.isin(ends, values[counts >= GROUP * len(ends)])
    return x[kept], y[kept], ends[kept]


def shut_at_newline(forget, threshold=0.5, share=0.5, fallback=3):
    """Units shut (below `threshold`) at the newline and open at the step
    before: the dashboard's pattern search on 1 - forget with the range on
    the newline, its "before" side, in every window. Returns `(units, share
    of the windows where each unit matches)`: those matching in `share` of
    them or more, or the `fallback` that match most often."""
    shut = forget[:, AT] < threshold
    before = forget[:, AT - 1] >= threshold
    rate = (shut & before).mean(axis=0)
    units = np.flatnonzero(rate >= share)
    if not len(units):
        units = np.argsort(-rate)[:fallback]
    return sorted(int(u) for u in units), rate


def losses(model, x, y):
    """Cross-entropy (nats) of each character: (windows, steps)."""
    logits = np.asarray(model.predict(x, batch_size=256, verbose=0), "float64")
    top = logits.max(axis=-1, keepdims=True)
    log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
    picked = np.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
    return log_z - picked


def held_open(model, x, y, ends, units):
    """Losses with forget `units` held at 1 from the newline to the end of
    its indentation: one edited model per indentation."""
    found = np.zeros(x.shape)
    for end in np.unique(ends):
        edit = keras_gates.Set(1.0, units=units, steps=list(range(AT, end + 1)))
        edited = keras_gates.intervene(model, {"lstm/forget": edit})
        group = ends == end
        found[group] = losses(edited, x[group], y[group])
    return found


def regions(loss):
    """Mean loss before the newline, on the `AFTER` characters after it
    and on the rest. `loss[:, s]` is the loss of predicting character
    s + 1, so the character k after the newline is at s = AT + k - 1."""
    return {
        "before": loss[:, :AT].mean(),
        "after": loss[:, AT : AT + AFTER].mean(),
        "later": loss[:, AT + AFTER :].mean(),
    }


def table(rows):
    lines = [
        "| held open from the newline | before it | 1st-8th character after "
        "| 9th and later |",
        "|---|---:|---:|---:|",
    ]
    base = rows[0][1]
    for name, means, spread in rows:
        cells = [name]
        for key in ("before", "after", "later"):
            text = f"{means[key]:.3f}"
            if name != rows[0][0]:
                text += f" ({means[key] - base[key]:+.3f}"
                text += f" ± {spread[key]:.3f})" if spread else ")"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw(plain, held, randoms, units, path):
    """The loss by position (top) and its change from the model as it is
    (bottom): the shut units held open, and random units (mean ± sd)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    k = np.arange(plain.shape[1]) - AT + 1  # characters after the newline
    base = plain.mean(axis=0)
    change = np.stack([r.mean(axis=0) - base for r in randoms])
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 5.5), dpi=120, sharex=True, height_ratios=(3, 2)
    )
    top.plot(k, base, "k-", linewidth=1.6, label="the model as it is")
    top.plot(
        k,
        held.mean(axis=0),
        "r-",
        linewidth=1.2,
        label=f"forget units {units} held open",
    )
    top.set_ylabel("loss (nats per character)")
    top.set_title(
        "Holding forget units open from a newline through its indentation"
    )
    top.legend(frameon=False, fontsize=9)
    bottom.axhline(0, color="k", linewidth=0.8)
    bottom.plot(
        k, held.mean(axis=0) - base, "r-", linewidth=1.4, label=f"units {units}"
    )
    bottom.plot(
        k,
        change.mean(axis=0),
        "b--",
        linewidth=1.2,
        label=f"{len(units)} random units (mean ± sd of {len(randoms)})",
    )
    bottom.fill_between(
        k,
        change.mean(axis=0) - change.std(axis=0),
        change.mean(axis=0) + change.std(axis=0),
        color="b",
        alpha=0.15,
    )
    bottom.set_ylabel("change of the loss")
    bottom.set_xlabel(
        "position of the predicted character after the newline (0: the newline)"
    )
    bottom.legend(frameon=False, fontsize=9)
    for axes in (top, bottom):
        axes.axvline(0.5, color="#888", linestyle=":", linewidth=1)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def log_importance(model, x, y, corpus, logdir):
    """GateMonitor's logs of the windows, with every unit's importance, as
    after one epoch (what `keras-gates inspect --logdir` does, plus
    importance)."""
    monitor = keras_gates.GateMonitor(
        logdir,
        probe_data=(x, y),
        vocabulary=corpus.chars,
        importance=True,
        figures=False,
    )
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_end(0)
    monitor.on_train_end()
    print(f"importance logged: keras-gates board {logdir}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--units", type=int)
    parser.add_argument("--max-chars", type=int)
    parser.add_argument("--windows", type=int, default=512)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", default="test_a_gate.png")
    parser.add_argument("--model", help="a .keras file to load or save")
    parser.add_argument("--logdir", help="log importance for the dashboard")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    settings = DemoSettings(cells=("lstm",))
    if args.quick:
        settings = dataclasses.replace(
            settings, epochs=1, units=16, max_chars=40_000
        )
        args.windows, args.draws = 48, 2
    chosen = {
        k: v
        for k, v in vars(args).items()
        if k in ("epochs", "units", "max_chars") and v is not None
    }
    settings = dataclasses.replace(settings, **chosen)
    keras.utils.set_random_seed(0)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing
    verbose = 0 if args.quick else 2
    kept = None if args.model is None else pathlib.Path(args.model)
    corpus, model, start = train(settings, verbose, kept)
    x, y, ends = newline_windows(corpus, start, settings.seq_len, args.windows)
    forget = keras_gates.gates(model, x)["lstm"]["forget"]
    units, rate = shut_at_newline(forget)
    indents = ", ".join(str(n) for n in np.unique(ends - AT))
    print(
        f"{len(x)} held-out windows with a newline at step {AT}, followed "
        f"by {indents} spaces."
    )
    rates = ", ".join(f"{rate[u]:.0%}" for u in units)
    if rate[units].min() >= 0.5:
        print(
            "forget units open before the newline and shut on it, in half "
            f"of the windows or more: {units} (in {rates} of them)"
        )
    else:
        print(
            "no forget unit is open before the newline and shut on it in "
            f"half of the windows; the ones most often: {units} (in {rates} "
            "of them)"
        )

    plain = losses(model, x, y)
    held = held_open(model, x, y, ends, units)
    rng = np.random.default_rng(0)
    others = [u for u in range(settings.units) if u not in units]
    draws = [
        held_open(
            model,
            x,
            y,
            ends,
            list(rng.choice(others, len(units), replace=False)),
        )
        for _ in range(args.draws)
    ]
    randoms = [regions(d) for d in draws]
    spread = {k: float(np.std([r[k] for r in randoms])) for k in randoms[0]}
    rows = [
        ("nothing", regions(plain), None),
        (f"the {len(units)} shut units", regions(held), None),
        (
            f"{len(units)} random units ({args.draws} draws: mean ± sd)",
            {k: float(np.mean([r[k] for r in randoms])) for k in spread},
            spread,
        ),
    ]
    print("\nLoss (nats per character), change from the model as it is:\n")
    print(table(rows))
    path = draw(plain, held, draws, units, pathlib.Path(args.out))
    print(f"\nfigure: {path}")
    if args.logdir:
        log_importance(model, x, y, corpus, args.logdir)
    return {
        "units": units,
        "rate": rate,
        "loss": {"plain": plain, "held": held, "random": draws},
        "rows": rows,
        "figure": path,
    }


if __name__ == "__main__":
    main()
