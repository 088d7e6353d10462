"""The `keras-gates` command: demo, describe, figures, inspect, explain,
match, search, ablate, board.

Every subcommand prints its results to stdout; a failure is one line on
stderr (`keras-gates <subcommand>: error: ...`) and exit status 1 (2 for
bad arguments), with no traceback. The arguments are parsed by the
top-level module `keras_gates_cli`, the command's entry point, which calls
`run(args)` here; this module does not import it.
"""

import dataclasses
import json
import shlex
import sys
import time

import keras

from keras_gates import demo, figures, layers, unit_commands
from keras_gates.callbacks import GateMonitor
from keras_gates.cli_files import load_data as _load_data
from keras_gates.cli_files import load_model as _load_model
from keras_gates.cli_files import load_vocabulary as _load_vocabulary
from keras_gates.describe import describe
from keras_gates.lookup import no_recurrent_layer, recurrent_layers
from keras_gates.probe import GateProbe
from keras_gates.report import saturation_table


def _sizes(args, parser):
    """Checks MODEL xor (--cell) --units --input-dim."""
    names = ["units", "input_dim"] + (["cell"] if "cell" in args else [])
    given = [n for n in names if getattr(args, n) is not None]
    if args.model is not None and given:
        parser.error(
            f"give a model file or --{given[0].replace('_', '-')}, not both"
        )
    if args.model is None and len(given) < len(names):
        missing = sorted(set(names) - set(given))
        parser.error(
            "give a model file, or "
            + " and ".join(f"--{n.replace('_', '-')}" for n in missing)
        )


def _demo(args, parser):
    settings = args.settings.quick() if args.quick else args.settings
    chosen = {
        name: getattr(args, name)
        for name in ("epochs", "units", "seq_len", "max_chars")
        if getattr(args, name) is not None
    }
    settings = dataclasses.replace(
        settings,
        cells=tuple(dict.fromkeys(args.cell)),
        logdir=args.logdir,
        **chosen,
    )
    text = None
    if args.text is not None:
        try:
            text = args.text.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(
                f"cannot read --text {args.text}: {error}"
            ) from None
    demo.run(settings, text)


def _one_layer(args):
    layer_class = getattr(layers, args.cell_layers[args.cell])
    layer = layer_class(args.units, name=args.cell)
    layer(keras.Input((None, args.input_dim)))
    return layer


def _describe(args, parser):
    _sizes(args, parser)
    target = _one_layer(args) if args.model is None else _load_model(args.model)
    print(describe(target).to_markdown(), end="")


def _figures(args, parser):
    _sizes(args, parser)
    if args.model is None:
        drawn = {"": figures.draw(d_x=args.input_dim, d_h=args.units)}
    else:
        model = _load_model(args.model)
        drawn = {
            name: figures.draw(layer) for name, layer in recurrent_layers(model)
        }
        if not drawn:
            raise no_recurrent_layer("figures", model)
    for name, figs in drawn.items():
        for path in figures.save(figs, args.out / name, args.format):
            print(path)


def _inspect(args, parser):
    model = _load_model(args.model)
    x = _load_data(args.data, model)[: args.max_samples]
    records = GateProbe(model, args.layers, "inspect").run(x)
    print(f"Gates of {args.model} on {len(x)} sequences of {args.data}:\n")
    print(saturation_table(records))
    if not args.no_table:
        print(describe(model).to_markdown(), end="")
    if args.logdir:
        monitor = GateMonitor(
            args.logdir,
            probe_data=x,
            layers=args.layers,
            vocabulary=_load_vocabulary(args.vocabulary),
        )
        monitor.set_model(model)
        monitor.on_train_begin()
        monitor.on_epoch_end(0)
        monitor.on_train_end()
        print(
            "\nTensorBoard logs written; see them with:\n"
            f"  keras-gates board {shlex.quote(args.logdir)}"
        )


def _explain(args, parser):
    from keras_gates import explain

    gate_args = [args.layer, args.gate, args.unit]
    if args.output is None and None in gate_args:
        parser.error("give --layer, --gate and --unit, or --output")
    model = _load_model(args.model)
    x = _load_data(args.data, model)
    if not 0 <= args.sample < len(x):
        raise ValueError(
            f"--sample {args.sample} is not a sequence index of {args.data} "
            f"(it holds {len(x)})"
        )
    target = dict(output=args.output, step=args.step)
    if args.output is None:
        target.update(layer=args.layer, gate=args.gate, unit=args.unit)
    values, trace = explain.explain(
        model, x, sample=args.sample, method=args.method, **target
    )
    vocabulary = _load_vocabulary(args.vocabulary)
    one = x[args.sample : args.sample + 1]
    tokens = explain.token_texts(model, one, vocabulary)
    what = (
        f"output {args.output}"
        if args.output is not None
        else f"{args.layer} {args.gate} unit {args.unit}"
    )
    when = "all steps" if args.step is None else f"step {args.step}"
    print(f"{args.method} of {what} ({when}), sequence {args.sample}:\n")
    print("| rank | step | token | attribution | unit value |")
    print("|---:|---:|---|---:|---:|")
    for rank, step in enumerate(explain.top_steps(values, args.top), 1):
        token = "" if tokens is None else json.dumps(tokens[step])[1:-1]
        token = token.replace(" ", "\u2423")
        value = "" if trace is None else f"{trace[step]:.3f}"
        print(f"| {rank} | {step} | {token} | {values[step]:.4g} | {value} |")
    drawn = explain.figure(
        values,
        trace,
        tokens,
        title=f"{args.method} of {what}, {when}",
        trace_label=None if trace is None else f"{args.gate}[{args.unit}]",
        step=args.step,
    )
    name = "explain_" + what.replace("/", "_").replace(" ", "_")
    for path in figures.save({name: drawn}, args.out, ("png", "svg")):
        print(path)


def _board(args, parser):
    if not args.logdir.is_dir():
        raise ValueError(f"no such log directory: {args.logdir}")
    from tensorboard import program

    board = program.TensorBoard()
    argv = [None, "--logdir", str(args.logdir), "--host", "127.0.0.1"]
    argv += ["--samples_per_plugin", "gates=1000"]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    board.configure(argv=argv)
    try:
        url = board.launch()
    except program.TensorBoardServerException as error:
        raise ValueError(str(error)) from None
    print(f"The Gates dashboard: {url}#gates (Ctrl-C stops)", flush=True)
    while True:
        time.sleep(3600)


COMMANDS = {
    "demo": _demo,
    "describe": _describe,
    "figures": _figures,
    "inspect": _inspect,
    "explain": _explain,
    "match": unit_commands.match,
    "search": unit_commands.run_search,
    "ablate": unit_commands.ablate,
    "board": _board,
}


def run(args):
    """Run the parsed command `args`; returns the exit status."""
    try:
        COMMANDS[args.command](args, args.parser)
    except (ValueError, TypeError, OSError) as error:
        message = " ".join(str(error).split())
        # Library errors may name the function the command ran: said once.
        message = message.removeprefix(f"{args.command}: ")
        print(f"keras-gates {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"keras-gates {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
