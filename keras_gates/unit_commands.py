"""The `keras-gates` subcommands about single units, as tables: `match`
(the units that track an annotation, `keras_gates.match_units`), `search`
(the ranges where some units are on together, `keras_gates.search`) and
`ablate` (what each unit of a gate costs the loss, `keras_gates.ablate`).
"""

import json
import re

import numpy as np

from keras_gates import annotations
from keras_gates.cli_files import (
    load_data,
    load_model,
    load_npy,
    load_vocabulary,
)
from keras_gates.discovery import match_units
from keras_gates.pattern_search import search
from keras_gates.vocabulary import Tokens


def match(args, parser):
    if (args.annotation is None) == (args.regex is None):
        parser.error("give --annotation or --regex (with --vocabulary)")
    model = load_model(args.model)
    x = load_data(args.data, model)
    tokens = Tokens(model, load_vocabulary(args.vocabulary))
    if args.regex is not None:
        if tokens.texts is None:
            parser.error(
                "--regex needs --vocabulary (the model has no vocabulary "
                "layer of its own), to read the tokens"
            )
        ids, _ = tokens.steps(x)
        texts = list(_texts(tokens.texts))
        join = "" if all(len(t) == 1 for t in texts) else " "
        try:
            marked = annotations.regex(ids, tokens.texts, args.regex, join)
        except re.error as error:
            raise ValueError(f"--regex {args.regex!r}: {error}") from None
        what = f"the regex {args.regex!r}"
    else:
        marked = load_npy(args.annotation, "annotation")
        what = str(args.annotation)
    found = match_units(
        model, x, marked, layer=args.layer, gate=args.gate, top=args.top
    )
    print(
        f"Units of {args.model} that best track {what} on {len(x)} "
        f"sequences of {args.data} (ROC AUC folded: 1 perfect, 0.5 none):\n"
    )
    print("| rank | layer | gate | unit | score | direction | error |")
    print("|---:|---|---|---:|---:|---|---:|")
    for rank, f in enumerate(found, 1):
        print(
            f"| {rank} | {f['layer']} | {f['gate']} | {f['unit']} | "
            f"{f['score']:.3f} | {f['direction']} | {f['error']:.3f} |"
        )


def run_search(args, parser):
    model = load_model(args.model)
    x = load_data(args.data, model)
    vocabulary = Tokens(model, load_vocabulary(args.vocabulary)).texts
    found = search(
        model,
        x,
        args.layer,
        args.gate,
        args.units,
        args.length,
        threshold=args.threshold,
        top=args.top,
        vocabulary=vocabulary,
    )
    units = " ".join(map(str, args.units))
    print(
        f"Ranges of {args.data} where {args.layer} {args.gate} units "
        f"{units} are >= {args.threshold} for about {args.length} steps:\n"
    )
    if not found:
        print("None found.")
        return
    print("| rank | sequence | steps | score | tokens |")
    print("|---:|---:|---|---:|---|")
    for rank, f in enumerate(found, 1):
        text = ""
        if vocabulary is not None:
            single = all(len(t) == 1 for t in _texts(vocabulary))
            joined = "".join if single else " ".join
            parts = (joined(f[k]) for k in ("before", "tokens", "after"))
            text = json.dumps("{}[{}]{}".format(*parts))[1:-1]
        print(
            f"| {rank} | {f['sequence']} | {f['start']}-{f['end']} | "
            f"{f['score']:.3f} | {text} |"
        )


def _texts(vocabulary):
    """The token texts of a vocabulary (a list, or a dict by id)."""
    return vocabulary.values() if isinstance(vocabulary, dict) else vocabulary


def ablate(args, parser):
    from keras_gates.ablation import ablate, input_batches, unit_statistics
    from keras_gates.layers.kind import kind_of
    from keras_gates.lookup import check_gate, find_recurrent

    model = load_model(args.model)
    x = load_data(args.data, model)
    y = load_npy(args.labels, "labels")
    if len(y) != len(x):
        raise ValueError(
            f"{args.labels} holds {len(y)} labels for {len(x)} sequences"
        )
    ((_, layer),) = find_recurrent(model, [args.layer], "ablate")
    check_gate(layer, args.gate, "ablate", args.layer)
    kind = kind_of(layer)
    found = unit_statistics(model, input_batches(x), [args.layer])
    row = kind.gate_names.index(args.gate)
    stats = {k: v[row] for k, v in found[args.layer].items()}
    value = args.value
    if value != "mean":
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"--value must be 'mean' or a number, got {value!r}"
            ) from None
    rows = ablate(
        model,
        x,
        y,
        args.layer,
        args.gate,
        value=np.nan_to_num(stats["mean"]) if value == "mean" else value,
    )
    base = rows[0]["loss"] - rows[0]["delta"]
    held = "its mean" if value == "mean" else f"{value:g}"
    print(
        f"{args.layer}/{args.gate} of {args.model} on {len(x)} sequences of "
        f"{args.data}: each unit held at {held} at every step. Loss "
        f"without a change: {base:.6g}.\n"
    )
    sigmoid = args.gate in kind.sigmoid_gates
    print(
        "| rank | unit | loss | delta | mean |"
        + (" < 0.1 | > 0.9 |" if sigmoid else "")
    )
    print("|---:|---:|---:|---:|---:|" + ("---:|---:|" if sigmoid else ""))
    for rank, row in enumerate(rows[: args.top], 1):
        unit = row["unit"]
        cells = [rank, unit, f"{row['loss']:.6g}", f"{row['delta']:+.4g}"]
        cells.append(f"{stats['mean'][unit]:.3f}")
        if sigmoid:
            cells += [f"{stats[side][unit]:.1%}" for side in ("left", "right")]
        print("| " + " | ".join(map(str, cells)) + " |")
