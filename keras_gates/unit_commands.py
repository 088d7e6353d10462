"""The `keras-gates match` and `keras-gates search` subcommands: the units
that track an annotation, and the ranges where some units are on together
(`keras_gates.match_units`, `keras_gates.search`), as tables."""

import json
import re

from keras_gates import annotations
from keras_gates.cli_files import (
    load_data,
    load_model,
    load_npy,
    load_vocabulary,
)
from keras_gates.discovery import match_units
from keras_gates.pattern_search import search


def match(args, parser):
    if (args.annotation is None) == (args.regex is None):
        parser.error("give --annotation or --regex (with --vocabulary)")
    if args.regex is not None and args.vocabulary is None:
        parser.error("--regex needs --vocabulary, to read the tokens")
    model = load_model(args.model)
    x = load_data(args.data, model)
    vocabulary = load_vocabulary(args.vocabulary)
    if args.regex is not None:
        join = "" if all(len(str(t)) == 1 for t in vocabulary) else " "
        try:
            marked = annotations.regex(x, vocabulary, args.regex, join)
        except re.error as error:
            raise ValueError(f"--regex {args.regex!r}: {error}") from None
        what = f"the regex {args.regex!r}"
    else:
        marked, what = load_npy(args.annotation), str(args.annotation)
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
    vocabulary = load_vocabulary(args.vocabulary)
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
            joined = (
                "".join if all(len(t) == 1 for t in vocabulary) else " ".join
            )
            parts = (joined(f[k]) for k in ("before", "tokens", "after"))
            text = json.dumps("{}[{}]{}".format(*parts))[1:-1]
        print(
            f"| {rank} | {f['sequence']} | {f['start']}-{f['end']} | "
            f"{f['score']:.3f} | {text} |"
        )
