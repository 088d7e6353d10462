"""What callers use: `draw`, `shown_by`, `mean_openness`, `save`, `to_pixels`.

`FIGURES` names the four figures; each cell kind (`keras_gates.layers`)
says which of them show it.
"""

import os
import pathlib

import keras
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_gates.figures.checks import check_openness, check_sizes
from keras_gates.figures.panels import (
    lstm_dimensions,
    lstm_gates,
    lstm_vs_gru,
    rnn_cell,
)
from keras_gates.layers.gru import KIND as GRU_KIND
from keras_gates.layers.kind import find_kind
from keras_gates.layers.lstm import KIND as LSTM_KIND

FIGURES = ("rnn_cell", "lstm_gates", "lstm_dimensions", "lstm_vs_gru")

# The figures draw LSTM and GRU cells; each kind says which figures show it.
_SIGMOID_GATES = LSTM_KIND.sigmoid_gates + GRU_KIND.sigmoid_gates


# -------------------------------------------------------------- layers


def _kind(layer):
    """The `CellKind` of a layer's cell."""
    kind = find_kind(layer)
    if kind is not None:
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
    return _kind(layer).figures


def _sizes(layer, d_x, d_h):
    """(kind or None, D_x, D_h) from a built layer or from the sizes."""
    if layer is None:
        if d_x is None or d_h is None:
            raise ValueError(
                "keras_gates.figures: pass a built `layer`, or both `d_x` "
                "and `d_h`."
            )
        return (None, *check_sizes(d_x, d_h))
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
    allowed = _SIGMOID_GATES if kind is None else kind.sigmoid_gates
    openness = check_openness(openness, allowed, "openness")
    unknown = [name for name in names if name not in FIGURES]
    if unknown or isinstance(names, str):
        raise ValueError(
            f"keras_gates.figures: `names` must be some of {FIGURES}, got "
            f"{names!r}."
        )
    lstm = {g: v for g, v in openness.items() if g in LSTM_KIND.sigmoid_gates}
    gru = {g: v for g, v in openness.items() if g in GRU_KIND.sigmoid_gates}
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
