"""The four figures: `rnn_cell`, `lstm_gates`, `lstm_dimensions`, `lstm_vs_gru`.

Each takes the sizes D_x and D_h (and what it shows of biases or gate
openness) and returns a `matplotlib.figure.Figure` on the Agg canvas.
"""

import numpy as np
from matplotlib.figure import Figure

from keras_gates.figures.cells import (
    draw_gru,
    draw_layer,
    draw_lstm,
    draw_rnn,
    gru_biases,
    layer_params,
)
from keras_gates.figures.checks import check_openness, check_sizes
from keras_gates.figures.kit import (
    CELL_LIMITS,
    INK,
    colorbar,
    new_axes,
    new_figure,
    note,
)
from keras_gates.layers import GRUCell, LSTMCell


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
    d_x, d_h = check_sizes(d_x, d_h)
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
    d_x, d_h = check_sizes(d_x, d_h)
    openness = check_openness(openness, LSTMCell.sigmoid_gates, "openness")
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
    d_x, d_h = check_sizes(d_x, d_h)
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
    d_x, d_h = check_sizes(d_x, d_h)
    lstm_openness = check_openness(
        lstm_openness, LSTMCell.sigmoid_gates, "lstm_openness"
    )
    gru_openness = check_openness(
        gru_openness, GRUCell.sigmoid_gates, "gru_openness"
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
