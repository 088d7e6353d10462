"""The `keras-gates` command's entry point, arguments and demo defaults.

Outside the `keras_gates` package, whose import imports Keras (to register
its layers), so that `--help` and bad arguments answer at once; a valid
command runs `keras_gates.commands`, TensorFlow's start-up log kept off the
terminal unless it fails. `python -m keras_gates_cli` is the same command.
"""

import argparse
import dataclasses
import os
import pathlib
import sys
import tempfile
import types

# The cell kinds `--cell` offers: each one's `keras_gates.layers` class, by
# name, so that this module needs no Keras (`keras_gates.commands` and
# `keras_gates.demo` look the classes up).
CELLS = types.MappingProxyType(
    {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}
)


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """What `keras-gates demo` trains: `keras_gates.demo.run` reads it.

    Its defaults are the command's, and its help shows them; `quick()` is
    the under-a-minute version (`--quick`).
    """

    cell_layers = CELLS  # not a field: the kinds `cells` chooses from

    cells: tuple = ("lstm", "gru")
    epochs: int = 10
    units: int = 128
    seq_len: int = 64
    max_chars: int = 1_000_000
    logdir: str = "logs/demo"
    embed_dim: int = 32
    batch_size: int = 64
    probe: int = 64
    sample_chars: int = 240
    sample_start: str = "    def "

    def quick(self):
        """These settings with small models on a little text."""
        return dataclasses.replace(self, epochs=3, units=64, max_chars=200_000)


# Examples shown by each subcommand's --help.
EXAMPLES = {
    "demo": (
        "demo                     # LSTM and GRU, a few minutes",
        "demo --quick             # under a minute",
        "demo --cell gru --epochs 20 --units 256",
        "demo --text my_book.txt --logdir logs/book",
    ),
    "describe": (
        "describe --cell lstm --units 128 --input-dim 32",
        "describe model.keras",
    ),
    "figures": (
        "figures --units 16 --input-dim 8 --out figures",
        "figures model.keras --out figures --format svg",
    ),
    "inspect": (
        "inspect model.keras --data x.npy --logdir logs/inspect",
        "inspect model.keras --data x.npy --layers lstm --max-samples 64",
        "inspect model.keras --data ids.npy --vocabulary vocab.json",
        "inspect text_model.keras --data texts.npy --logdir logs/text",
    ),
    "explain": (
        "explain model.keras --data x.npy --layer lstm --gate forget --unit 3",
        "explain model.keras --data ids.npy --layer lstm --gate forget "
        "--unit 3 --step 40 --method smoothgrad --vocabulary vocab.json",
        "explain model.keras --data x.npy --output 1 --method gradcam",
    ),
    "match": (
        "match model.keras --data ids.npy --annotation in_quotes.npy",
        "match model.keras --data ids.npy --vocabulary vocab.json "
        '--regex \'"[^"\\n]*"\' --gate input --top 20',
    ),
    "search": (
        "search model.keras --data ids.npy --vocabulary vocab.json "
        "--layer lstm --gate forget --units 3 17 --length 5",
    ),
    "ablate": (
        "ablate model.keras --data x.npy --labels y.npy --layer lstm "
        "--gate forget --top 10",
        "ablate model.keras --data x.npy --labels y.npy --layer lstm "
        "--gate forget --value 1",
    ),
    "board": ("board logs/demo", "board logs/demo --port 6007"),
}


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    return value


def parser():
    parser = _Parser(
        prog="keras-gates",
        description="See inside Keras recurrent layers: gates, dimensions, "
        "figures and TensorBoard logs.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )

    def command(name, help):
        shown = (f"  keras-gates {line}" for line in EXAMPLES[name])
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            epilog="examples:\n" + "\n".join(shown) + "\n",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(parser=sub)
        return sub

    demo_ = command(
        "demo",
        "Train character-level LSTM and GRU models on Python's own source "
        "code with GateMonitor, then report their gates.",
    )
    defaults = DemoSettings()
    demo_.set_defaults(settings=defaults)
    demo_.add_argument(
        "--cell",
        nargs="+",
        choices=list(CELLS),
        default=list(defaults.cells),
        help=f"which models to train (default: {' '.join(defaults.cells)})",
    )
    for flag, value, what in (
        ("--epochs", defaults.epochs, "training epochs"),
        ("--units", defaults.units, "units of the recurrent layer"),
        ("--seq-len", defaults.seq_len, "characters per sequence"),
        ("--max-chars", defaults.max_chars, "characters of text to use"),
    ):
        demo_.add_argument(
            flag, type=_positive, default=None, help=f"{what} ({value})"
        )
    demo_.add_argument(
        "--logdir",
        default=defaults.logdir,
        help=f"TensorBoard log directory ({defaults.logdir})",
    )
    demo_.add_argument(
        "--text",
        type=pathlib.Path,
        help="train on this UTF-8 text file instead of the library source",
    )
    demo_.add_argument(
        "--quick",
        action="store_true",
        help="small models on a little text: under a minute",
    )

    describe_ = command(
        "describe",
        "Print the dimension table of a cell of given sizes, or of every "
        "recurrent layer of a saved model.",
    )
    _add_sizes(describe_, CELLS)

    figures_ = command(
        "figures",
        "Draw the four figures (simple RNN cell, LSTM gates, LSTM "
        "dimensions, LSTM vs GRU) for given sizes or for every recurrent "
        "layer of a saved model.",
    )
    _add_sizes(figures_, None)
    figures_.add_argument(
        "--out", type=pathlib.Path, default="figures", help="output folder"
    )
    figures_.add_argument(
        "--format",
        nargs="+",
        choices=["png", "svg"],
        default=["png", "svg"],
        help="file formats (default: png svg)",
    )

    inspect = command(
        "inspect",
        "Print the gate statistics of a saved model on data, and optionally "
        "write them as TensorBoard logs.",
    )
    _add_model_and_data(inspect)
    inspect.add_argument(
        "--layers", nargs="+", help="recurrent layer names (default: all)"
    )
    inspect.add_argument(
        "--max-samples",
        type=_positive,
        default=256,
        help="use the first N sequences of the data (256)",
    )
    inspect.add_argument(
        "--logdir", help="also write GateMonitor's TensorBoard summaries"
    )
    inspect.add_argument(
        "--no-table",
        action="store_true",
        help="leave out the dimension table of every layer",
    )
    _add_vocabulary(inspect)

    explain = command(
        "explain",
        "Print which input steps move a gate unit (or a model output) most "
        "on one sequence, and draw the sequence coloured by attribution "
        "with the unit's values beneath.",
    )
    _add_model_and_data(explain)
    explain.add_argument(
        "--sample", type=int, default=0, help="which sequence (0)"
    )
    _add_layer_and_gate(explain, required=False)
    explain.add_argument("--unit", type=int, help="unit index")
    explain.add_argument("--output", type=int, help="or an output index")
    explain.add_argument("--step", type=int, help="its step (default: all)")
    explain.add_argument(
        "--method",
        choices=["saliency", "smoothgrad", "gradient_x_input", "gradcam"],
        default="saliency",
    )
    _add_top_and_vocabulary(explain, 10)
    explain.add_argument(
        "--out", type=pathlib.Path, default="explain", help="figure folder"
    )

    match = command(
        "match",
        "Rank the units of every gate by how well they track an annotation "
        "over a data set (ROC AUC, folded: 1 perfect, 0.5 none).",
    )
    _add_model_and_data(match)
    match.add_argument(
        "--annotation", type=pathlib.Path, help=".npy bool array (N, time)"
    )
    match.add_argument("--regex", help="or the tokens a regex matches")
    _add_layer_and_gate(match, required=False)
    _add_top_and_vocabulary(match, 10)

    search = command(
        "search",
        "Find the ranges of a data set where some units are on together, "
        "off just before and after (LSTMVis's match).",
    )
    _add_model_and_data(search)
    _add_layer_and_gate(search, required=True)
    search.add_argument("--units", type=int, nargs="+", required=True)
    search.add_argument("--length", type=_positive, required=True)
    search.add_argument("--threshold", type=float, default=0.5)
    _add_top_and_vocabulary(search, 20)

    ablate = command(
        "ablate",
        "Print how much the model's loss grows when each unit of a gate is "
        "held at its mean (or a number) at every step, largest first.",
    )
    _add_model_and_data(ablate)
    ablate.add_argument(
        "--labels", type=pathlib.Path, required=True, help=".npy labels"
    )
    _add_layer_and_gate(ablate, required=True)
    ablate.add_argument(
        "--value", default="mean", help="mean (default) or a number, e.g. 0"
    )
    ablate.add_argument("--top", type=_positive, help="units to print (all)")

    board_ = command(
        "board",
        "Start TensorBoard on 127.0.0.1 for a log directory and print the "
        "address of its Gates dashboard; Ctrl-C stops it.",
    )
    board_.add_argument("logdir", type=pathlib.Path, help="log directory")
    board_.add_argument(
        "--port", type=_positive, help="port (default: 6006 or the next free)"
    )
    return parser


def _add_model_and_data(parser):
    parser.add_argument(
        "model", type=pathlib.Path, help="a .keras (or .h5) model file"
    )
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        required=True,
        help=".npy array of model inputs: (batch, time, features), "
        "(batch, time) token ids for a model that starts with an Embedding, "
        "or texts (str), one per sequence, for a model that takes strings",
    )


def _add_top_and_vocabulary(parser, top):
    parser.add_argument(
        "--top", type=_positive, default=top, help=f"how many to print ({top})"
    )
    _add_vocabulary(parser)


def _add_vocabulary(parser):
    parser.add_argument(
        "--vocabulary",
        type=pathlib.Path,
        help="JSON list of the token texts, by id (default: the model's "
        "own TextVectorization, lookup or tokenizer)",
    )


def _add_layer_and_gate(parser, required):
    optional = "" if required else " (default: all)"
    parser.add_argument(
        "--layer", required=required, help=f"recurrent layer name{optional}"
    )
    parser.add_argument(
        "--gate", required=required, help=f"gate, e.g. forget{optional}"
    )


def _add_sizes(parser, cells):
    parser.add_argument(
        "model",
        nargs="?",
        type=pathlib.Path,
        help="a .keras (or .h5) model file",
    )
    if cells is not None:
        parser.add_argument(
            "--cell", choices=list(cells), help="cell kind (without a model)"
        )
        parser.set_defaults(cell_layers=cells)
    parser.add_argument("--units", type=_positive, help="D_h, the units")
    parser.add_argument(
        "--input-dim", type=_positive, help="D_x, features per step"
    )


def main(argv=None):
    """Run `keras-gates` with `argv` (default `sys.argv[1:]`); exit status.

    `--help` and bad arguments exit (`SystemExit`) before anything is
    imported; a command's own errors are one line on stderr and status 1.
    """
    args = parser().parse_args(argv)
    real_stderr = os.dup(2)
    previous = sys.stderr
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = os.fdopen(os.dup(real_stderr), "w", buffering=1)
        failed = True
        try:
            from keras_gates import commands

            status = commands.run(args)
            failed = False
            return status
        except SystemExit:  # a bad argument found late: already said
            failed = False
            raise
        finally:
            sys.stderr.close()
            os.dup2(real_stderr, 2)
            os.close(real_stderr)
            sys.stderr = previous
            if failed:  # an unexpected error: its context may be in there
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))


if __name__ == "__main__":
    sys.exit(main())
