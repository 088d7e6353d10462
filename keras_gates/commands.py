"""The `keras-gates` command: demo, describe, figures, inspect, explain,
ablate, board.

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
import numpy as np

from keras_gates import demo, figures, layers
from keras_gates.callbacks import GateMonitor
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


# What keras.saving.load_model reads: the Keras format and legacy HDF5.
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def _load_model(path):
    if not path.is_file():
        raise ValueError(f"no such model file: {path}")
    if path.suffix not in MODEL_SUFFIXES:
        raise ValueError(
            f"{path} is not a model file Keras loads (a "
            f"{', '.join(MODEL_SUFFIXES)} file)"
        )
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds here
        raise ValueError(f"cannot load {path}: {error}") from None


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
    tokens = explain.token_texts(x[args.sample], vocabulary)
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


def _load_vocabulary(path):
    if path is None:
        return None
    try:
        vocabulary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(
            f"cannot read --vocabulary {path} as JSON: {error}"
        ) from None
    if not isinstance(vocabulary, list):
        raise ValueError(
            f"--vocabulary {path} must hold a JSON list of token texts, got "
            f"{type(vocabulary).__name__}"
        )
    return vocabulary


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


def _ablate(args, parser):
    from keras_gates.ablation import ablate, input_batches, unit_statistics
    from keras_gates.layers.kind import kind_of
    from keras_gates.lookup import check_gate, find_recurrent

    model = _load_model(args.model)
    x = _load_data(args.data, model)
    y = _load_array(args.labels, "labels")
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


def _load_array(path, what="data"):
    """A numeric array from a .npy file, with clear errors."""
    if not path.is_file():
        raise ValueError(f"no such {what} file: {path}")
    _check_npy_size(path)
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(
            f"cannot read {path} as a .npy array: {error}"
        ) from None
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{path} holds several arrays; give one .npy array")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{path} holds {x.dtype} values, not numbers")
    return x


def _load_data(path, model):
    x = _load_array(path)
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ValueError(
            f"the model takes {len(inputs) or 'unknown'} inputs; keras-gates "
            "feeds one array to a model with one input"
        )
    expected = tuple(inputs[0].shape)
    fits = len(x.shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected[1:], x.shape[1:])
    )
    if not fits or not len(x):
        wanted = ", ".join("any" if e is None else str(e) for e in expected[1:])
        raise ValueError(
            f"{path} has shape {x.shape}; the model expects (N, {wanted}) "
            "with N >= 1"
        )
    return x


def _check_npy_size(path):
    """A clear error for a .npy file shorter than its header says (an empty
    file, or a header claiming more than the file holds), before loading."""
    size = path.stat().st_size
    with path.open("rb") as file:
        try:
            major, _ = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(file)
        except (ValueError, EOFError, OSError):
            raise ValueError(
                f"cannot read {path} as a .npy array ({size} bytes, no .npy "
                "header)"
            ) from None
        count = int(np.prod(shape, dtype=object))
        claimed = file.tell() + count * dtype.itemsize
    if dtype.hasobject or claimed > size:
        raise ValueError(
            f"{path} says it holds a {dtype} array of shape {shape} "
            f"({claimed:,} bytes) but the file has {size:,} bytes"
        )


COMMANDS = {
    "demo": _demo,
    "describe": _describe,
    "figures": _figures,
    "inspect": _inspect,
    "explain": _explain,
    "ablate": _ablate,
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
