"""What callers use: `draw`, `shown_by`, `mean_openness`, `save`, `to_pixels`.

`FIGURES` names the four figures; `_KINDS` says which cell kinds they show.
"""

import os
import pathlib

import keras
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_gates.figures.cells import (
    draw_gru,
    draw_layer,
    draw_lstm,
    draw_rnn,
    gru_biases,
    layer_params,
)
from keras_gates.figures.kit import (
    CELL_LIMITS,
    INK,
    colorbar,
    new_axes,
    new_figure,
    note,
)
from keras_gates.layers import GRUCell, LSTMCell, SimpleRNNCell

FIGURES = ("rnn_cell", "lstm_gates", "lstm_dimensions", "lstm_vs_gru")

# Cell kind -> (stock cell class, sigmoid gate names, figures showing it).
_KINDS = {
    "LSTM": (
        keras.layers.LSTMCell,
        LSTMCell.sigmoid_gates,
        ("lstm_gates", "lstm_dimensions", "lstm_vs_gru"),
    ),
    "GRU": (keras.layers.GRUCell, GRUCell.sigmoid_gates, ("lstm_vs_gru",)),
    "SimpleRNN": (
        keras.layers.SimpleRNNCell,
        SimpleRNNCell.sigmoid_gates,
        ("rnn_cell",),
    ),
}
_SIGMOID_GATES = LSTMCell.sigmoid_gates + GRUCell.sigmoid_gates


# ----------------------------------------------------------------- sizes


def _check_sizes(d_x, d_h):
    for name, value in (("d_x", d_x), ("d_h", d_h)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(
                f"keras_gates.figures: `{name}` must be an int, got "
                f"{type(value).__name__} {value!r}."
            )
        if value < 1:
            raise ValueError(
                f"keras_gates.figures: `{name}` must be positive, got {value}."
            )
    return int(d_x), int(d_h)


def _check_openness(openness, allowed, argument):
    """A validated copy of `openness` ({sigmoid gate name: value in [0, 1]})."""
    if openness is None:
        return {}
    if not isinstance(openness, dict):
        raise TypeError(
            f"keras_gates.figures: `{argument}` must be a dict gate name -> "
            f"mean value, got {type(openness).__name__}."
        )
    unknown = sorted(set(openness) - set(allowed))
    if unknown:
        raise ValueError(
            f"keras_gates.figures: `{argument}` names {unknown}, which are "
            f"not sigmoid gates here; expected some of {list(allowed)}."
        )
    checked = {}
    for name, value in openness.items():
        if not isinstance(value, (int, float, np.number)) or not (
            0.0 <= value <= 1.0
        ):
            raise ValueError(
                f"keras_gates.figures: `{argument}['{name}']` must be a "
                f"number in [0, 1], got {value!r}."
            )
        checked[name] = float(value)
    return checked


def _table(ax, rows, widths):
    """Rows of text in columns on an axes of unit size; first row bold."""
    starts = np.cumsum([0.0, *widths[:-1]])
    for i, row in enumerate(rows):
        for start, cell in zip(starts, row):
            note(
                ax,
                start,
                1 - (i + 0.5) / len(rows),
                cell,
                ha="left",
                fontsize=9,
                fontweight="bold" if i == 0 else "normal",
            )


# ---------------------------------------------------------------- figures


def rnn_cell(d_x: int, d_h: int, *, use_bias: bool = True) -> Figure:
    """The simple RNN cell: one tanh layer on x_t joined to h_{t-1}.

    Left, the cell; right, its layer as neurons, with the number of inputs
    (D_x + D_h), of neurons (D_h), of weights and biases, and the mapping
    in dims-first notation, `(D_x + D_h, 1) -> (D_h, 1)`.

    Args:
        d_x: int. Input features per step.
        d_h: int. Units (neurons, size of h_t).
        use_bias: bool, default True. Whether the layer has biases.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    >>> figure = rnn_cell(7, 16)
    >>> figure.get_suptitle()
    'Simple RNN cell, D_x = 7, D_h = 16'
    """
    d_x, d_h = _check_sizes(d_x, d_h)
    figure = new_figure(11, 5, f"Simple RNN cell, D_x = {d_x}, D_h = {d_h}")
    cell = new_axes(figure, [0.01, 0.03, 0.5, 0.85], (-2.8, 10.2), (-2, 7))
    draw_rnn(cell, d_x, d_h)
    layer = new_axes(figure, [0.52, 0.03, 0.47, 0.85], (0, 10), (0, 9.2))
    draw_layer(layer, d_x, d_h, use_bias)
    return figure


def lstm_gates(d_x: int, d_h: int, openness: dict | None = None) -> Figure:
    """The LSTM cell with its three gates highlighted.

    A gate is a sigmoid layer and the multiplication it feeds, named after
    what it multiplies: the forget gate c_{t-1}, the input gate the
    candidate, the output gate tanh(c_t).

    Args:
        d_x: int. Input features per step.
        d_h: int. Units.
        openness: optional dict, gate name (`"input"`, `"forget"`,
            `"output"`) -> mean gate value in [0, 1]; those gates are
            coloured by it (viridis, with a colour bar) and their value
            written. Without a value a gate has a fixed highlight colour.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    d_x, d_h = _check_sizes(d_x, d_h)
    openness = _check_openness(openness, _KINDS["LSTM"][1], "openness")
    figure = new_figure(
        10, 6, f"LSTM cell, D_x = {d_x}, D_h = {d_h}: its gates"
    )
    ax = new_axes(figure, [0.01, 0.12, 0.86, 0.78], *CELL_LIMITS)
    draw_lstm(ax, d_x, d_h, openness, sizes=False)
    colorbar(figure, openness, [0.9, 0.3, 0.015, 0.45])
    figure.text(
        0.5,
        0.03,
        "A gate is a sigmoid layer (σ: each of its D_h outputs lies between "
        "0, shut, and 1, open) feeding a multiplication (×).\nBoxes are "
        "neural-network layers, (D_x + D_h) → D_h; round shapes are "
        "point-wise operators, without weights.",
        ha="center",
        fontsize=8.5,
        color=INK,
    )
    return figure


def lstm_dimensions(d_x: int, d_h: int, *, use_bias: bool = True) -> Figure:
    """The sizes inside an LSTM cell: each of its four layers' mapping.

    Every layer maps x_t joined to h_{t-1} (D_x + D_h numbers) to D_h, with
    a (D_x + D_h) x D_h weight matrix and D_h biases; the point-wise
    operators keep D_h. The total, 4 ((D_x + D_h) D_h + D_h), is Keras's
    `count_params()` of `LSTM(d_h)` on `d_x` features (without the D_h
    terms when `use_bias=False`).

    Args:
        d_x: int. Input features per step.
        d_h: int. Units.
        use_bias: bool, default True. Whether the layers have biases.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    d_x, d_h = _check_sizes(d_x, d_h)
    figure = new_figure(
        10, 9, f"LSTM cell, D_x = {d_x}, D_h = {d_h}: its sizes"
    )
    ax = new_axes(figure, [0.01, 0.36, 0.98, 0.56], *CELL_LIMITS)
    draw_lstm(ax, d_x, d_h, {}, sizes=True)
    inputs, weights = d_x + d_h, (d_x + d_h) * d_h
    params = layer_params(d_x, d_h, int(use_bias))
    layer_row = [
        f"{inputs} × {d_h} = {weights:,}",
        str(d_h) if use_bias else "none",
        f"{params:,}",
        f"({inputs}, 1) → ({d_h}, 1)",
    ]
    rows = [["part", "weights", "biases", "params", "dims first"]]
    for part in ("forget gate (σ)", "input gate (σ)", "candidate (tanh)"):
        rows.append([part, *layer_row])
    rows += [
        ["output gate (σ)", *layer_row],
        ["×, +, tanh (point-wise)", "none", "none", "0", f"({d_h}, 1) kept"],
        [
            "total",
            f"4 × {params:,}",
            "",
            f"{4 * params:,}",
            "= Keras count_params()",
        ],
    ]
    table = figure.add_axes([0.08, 0.03, 0.88, 0.3])
    table.set_axis_off()
    _table(table, rows, [0.27, 0.2, 0.1, 0.13, 0.3])
    return figure


def lstm_vs_gru(
    d_x: int,
    d_h: int,
    lstm_openness: dict | None = None,
    gru_openness: dict | None = None,
    *,
    use_bias: bool = True,
    reset_after: bool = True,
) -> Figure:
    """LSTM and GRU cells side by side, with their parameter counts.

    The GRU merges the forget and input gates into one update gate (the
    "1 -" lets in what it does not keep), has no output gate (its state is
    its output) and a reset gate on h_{t-1} before the candidate layer:
    three layers to the LSTM's four.

    Args:
        d_x: int. Input features per step.
        d_h: int. Units.
        lstm_openness: optional dict, LSTM gate name (`"input"`,
            `"forget"`, `"output"`) -> mean value in [0, 1], as in
            `lstm_gates`.
        gru_openness: the same for the GRU (`"update"`, `"reset"`).
        use_bias: bool, default True. Whether both cells have biases.
        reset_after: bool, default True (Keras's default). The GRU applies
            its reset gate after the recurrent matmul, with a second bias
            vector per layer.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    d_x, d_h = _check_sizes(d_x, d_h)
    lstm_openness = _check_openness(
        lstm_openness, _KINDS["LSTM"][1], "lstm_openness"
    )
    gru_openness = _check_openness(
        gru_openness, _KINDS["GRU"][1], "gru_openness"
    )
    lstm = 4 * layer_params(d_x, d_h, int(use_bias))
    gru = 3 * layer_params(d_x, d_h, gru_biases(use_bias, reset_after))
    figure = new_figure(
        16, 6.2, f"LSTM and GRU cells, D_x = {d_x}, D_h = {d_h}"
    )
    left = new_axes(figure, [0.0, 0.2, 0.46, 0.66], *CELL_LIMITS)
    draw_lstm(left, d_x, d_h, lstm_openness, sizes=False)
    left.set_title(f"LSTM: 4 layers, {lstm:,} params", fontsize=11)
    right = new_axes(figure, [0.46, 0.2, 0.46, 0.66], *CELL_LIMITS)
    draw_gru(right, gru_openness)
    right.set_title(
        f"GRU: 3 layers, {gru:,} params = {gru / lstm:.2f} × LSTM",
        fontsize=11,
    )
    colorbar(figure, {**lstm_openness, **gru_openness}, [0.94, 0.3, 0.01, 0.45])
    figure.text(
        0.5,
        0.03,
        "The GRU merges the forget and input gates into one update gate: "
        "it keeps update × $h_{t-1}$ and lets in (1 − update) × candidate."
        "\nIt has no output gate (its state is its output); its reset gate "
        "scales $h_{t-1}$ before the candidate layer.\nParameters as Keras "
        f"counts them, {'with' if use_bias else 'without'} biases"
        + (
            f"; GRU with reset_after={reset_after} "
            f"({gru_biases(use_bias, reset_after)} bias vectors per layer)."
            if use_bias
            else "."
        ),
        ha="center",
        fontsize=9,
        color=INK,
        linespacing=1.5,
    )
    return figure


# -------------------------------------------------------------- layers


def _kind(layer):
    """ "LSTM", "GRU" or "SimpleRNN": the kind of a layer's cell."""
    for kind, (cell_class, _, _) in _KINDS.items():
        if isinstance(layer, keras.layers.RNN) and isinstance(
            layer.cell, cell_class
        ):
            return kind
    hint = (
        "; pass its forward_layer or backward_layer"
        if isinstance(layer, keras.layers.Bidirectional)
        else ""
    )
    raise TypeError(
        "keras_gates.figures: `layer` must be an LSTM, GRU or SimpleRNN "
        f"layer (stock or keras-gates), got {type(layer).__name__}{hint}."
    )


def shown_by(layer) -> tuple:
    """The names of the figures that show this layer's kind of cell.

    `rnn_cell` for a SimpleRNN; `lstm_gates`, `lstm_dimensions` and
    `lstm_vs_gru` for an LSTM; `lstm_vs_gru` for a GRU.
    """
    return _KINDS[_kind(layer)][2]


def _sizes(layer, d_x, d_h):
    """(kind or None, D_x, D_h) from a built layer or from the sizes."""
    if layer is None:
        if d_x is None or d_h is None:
            raise ValueError(
                "keras_gates.figures: pass a built `layer`, or both `d_x` "
                "and `d_h`."
            )
        return (None, *_check_sizes(d_x, d_h))
    if d_x is not None or d_h is not None:
        raise ValueError(
            "keras_gates.figures: pass either `layer` or `d_x` and `d_h`, "
            "not both."
        )
    kind = _kind(layer)
    if not layer.cell.built:
        raise ValueError(
            f"keras_gates.figures: `layer` '{layer.name}' is not built yet; "
            "call it on data or build it with an input shape first."
        )
    return kind, layer.cell.kernel.shape[0], layer.cell.units


def _bias_options(layer):
    """The keyword arguments that make the parameter counts the layer's."""
    if layer is None:
        return {}, {}
    options = {"use_bias": bool(layer.cell.use_bias)}
    versus = dict(options)
    if hasattr(layer.cell, "reset_after"):
        versus["reset_after"] = bool(layer.cell.reset_after)
    return options, versus


def draw(
    layer=None,
    *,
    d_x: int | None = None,
    d_h: int | None = None,
    openness: dict | None = None,
    names: tuple = FIGURES,
) -> dict:
    """The four figures, for a layer's sizes or for given sizes.

    Args:
        layer: a built `LSTM`, `GRU` or `SimpleRNN` layer, stock Keras or
            keras-gates: D_x is its input features, D_h its units, and the
            parameter counts follow its `use_bias` (and a GRU's
            `reset_after`).
        d_x, d_h: ints, the sizes, instead of `layer`.
        openness: optional dict, sigmoid gate name -> mean value in [0, 1]
            (as from `mean_openness`), colouring the figures that show
            those gates: LSTM gates in `lstm_gates` and the left half of
            `lstm_vs_gru`, GRU gates in its right half. With `layer`, only
            the gates of its kind of cell are allowed.
        names: which of `FIGURES` to draw, default all four.

    Returns:
        A dict figure name -> `matplotlib.figure.Figure`, in `names` order.

    Example:

    >>> figures = draw(d_x=3, d_h=5, openness={"update": 0.8},
    ...                names=("lstm_vs_gru",))
    >>> list(figures)
    ['lstm_vs_gru']
    """
    kind, d_x, d_h = _sizes(layer, d_x, d_h)
    allowed = _SIGMOID_GATES if kind is None else _KINDS[kind][1]
    openness = _check_openness(openness, allowed, "openness")
    unknown = [name for name in names if name not in FIGURES]
    if unknown or isinstance(names, str):
        raise ValueError(
            f"keras_gates.figures: `names` must be some of {FIGURES}, got "
            f"{names!r}."
        )
    lstm = {g: v for g, v in openness.items() if g in _KINDS["LSTM"][1]}
    gru = {g: v for g, v in openness.items() if g in _KINDS["GRU"][1]}
    bias, versus = _bias_options(layer)
    makers = {
        "rnn_cell": lambda: rnn_cell(d_x, d_h, **bias),
        "lstm_gates": lambda: lstm_gates(d_x, d_h, lstm),
        "lstm_dimensions": lambda: lstm_dimensions(d_x, d_h, **bias),
        "lstm_vs_gru": lambda: lstm_vs_gru(d_x, d_h, lstm, gru, **versus),
    }
    return {name: makers[name]() for name in names}


def mean_openness(gates: dict, valid=None) -> dict:
    """The mean value of each sigmoid gate of one layer.

    Args:
        gates: dict gate name -> array (batch, time, units) of one layer,
            e.g. `keras_gates.gates(model, x)["lstm"]`. Only the sigmoid
            gates (LSTM `input`, `forget`, `output`; GRU `update`,
            `reset`) are kept.
        valid: optional bool array (batch, time), False at masked steps,
            which are left out (as `LayerGates.valid` of the probe).

    Returns:
        A dict gate name -> float: the mean of the finite values over valid
        steps, units and sequences; a gate without any finite value is
        left out.

    Example:

    >>> import numpy as np
    >>> gates = {"update": np.full((2, 3, 4), 0.25), "hidden": np.ones(1)}
    >>> mean_openness(gates)
    {'update': 0.25}
    """
    if not isinstance(gates, dict) or any(
        isinstance(v, dict) for v in gates.values()
    ):
        raise TypeError(
            "keras_gates.figures: `gates` must be one layer's dict gate name "
            "-> array, e.g. keras_gates.gates(model, x)['lstm']."
        )
    if valid is not None:
        valid = np.asarray(valid)
        if valid.dtype != bool or valid.ndim != 2:
            raise ValueError(
                "keras_gates.figures: `valid` must be a bool array (batch, "
                f"time), got {valid.dtype} of shape {valid.shape}."
            )
        if not valid.any():
            raise ValueError(
                "keras_gates.figures: `valid` marks no step as valid."
            )
    means = {}
    for name in (g for g in gates if g in _SIGMOID_GATES):
        values = np.asarray(gates[name], np.float64)
        if values.ndim != 3 or values.size == 0:
            raise ValueError(
                f"keras_gates.figures: gate '{name}' must be a non-empty "
                f"(batch, time, units) array, got shape {values.shape}."
            )
        if valid is not None:
            if valid.shape != values.shape[:2]:
                raise ValueError(
                    f"keras_gates.figures: `valid` has shape {valid.shape}, "
                    f"gate '{name}' {values.shape}; expected (batch, time) "
                    "to match."
                )
            values = values[valid]
        values = values[np.isfinite(values)]
        if values.size:
            means[name] = float(values.mean())
    return means


# ---------------------------------------------------------------- output


def save(
    figures: dict, directory, formats: tuple = ("png", "svg")
) -> list[pathlib.Path]:
    """Write each figure as `<directory>/<name>.<format>`.

    Args:
        figures: dict name -> `Figure`, as from `draw`.
        directory: path; created if missing.
        formats: file formats matplotlib writes, default PNG and SVG.

    Returns:
        The paths written, figure by figure, format by format.
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    supported = FigureCanvasAgg.get_supported_filetypes()
    unknown = [f for f in formats if f not in supported]
    if unknown or not formats:
        raise ValueError(
            f"keras_gates.figures: `formats` must be some of "
            f"{sorted(supported)}, got {formats!r}."
        )
    directory = pathlib.Path(os.fspath(directory))
    paths = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, figure in figures.items():
            for file_format in formats:
                path = directory / f"{name}.{file_format}"
                # SVG text stays text: searchable and editable.
                with matplotlib.rc_context({"svg.fonttype": "none"}):
                    figure.savefig(path, format=file_format)
                paths.append(path)
    except OSError as error:
        raise ValueError(
            f"keras_gates.figures: cannot write to `directory` "
            f"{str(directory)!r}: {error.strerror or error}."
        ) from None
    return paths


def to_pixels(figure: Figure) -> np.ndarray:
    """A figure rendered by Agg, e.g. for a TensorBoard image.

    Args:
        figure: a `matplotlib.figure.Figure`.

    Returns:
        A uint8 RGBA array (height, width, 4).

    Example:

    >>> to_pixels(rnn_cell(2, 3)).shape
    (500, 1100, 4)
    """
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.array(canvas.buffer_rgba())
