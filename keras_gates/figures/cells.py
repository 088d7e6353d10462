"""The cells drawn: LSTM, GRU and simple RNN, and a layer as neurons.

Each draws on an axes whose units are those of the cell's frame (14 x 8
for the LSTM and the GRU, 8 x 6 for the simple RNN). The parameter counts
they write are Keras's: (D_x + D_h) D_h weights and D_h per bias vector.
"""

import numpy as np
from matplotlib.patches import Circle

from keras_gates.figures.kit import (
    BOX_H,
    BOX_W,
    INK,
    LAYER,
    OP_R,
    box,
    cell_outline,
    dot,
    gate_colour,
    gate_lines,
    note,
    operator,
    tag,
    wire,
)
from keras_gates.layers import GRUCell, LSTMCell


def layer_params(d_x, d_h, biases=1):
    """A layer of D_h neurons on D_x + D_h inputs, `biases` vectors of D_h."""
    return (d_x + d_h) * d_h + biases * d_h


def gru_biases(use_bias, reset_after):
    """Bias vectors per GRU layer: reset_after adds a recurrent one."""
    return int(use_bias) * (2 if reset_after else 1)


def draw_lstm(ax, d_x, d_h, openness, sizes):
    """The LSTM cell on a 14 x 8 frame: c along the top, inputs below.

    `sizes`: write D_x, D_h and each layer's mapping on the wires and
    boxes; otherwise name what each gate's multiplication acts on.
    """
    cell_outline(ax, 14, 8)
    mapping = f"{d_x + d_h} → {d_h}" if sizes else None
    colour = {g: gate_colour(openness, g) for g in LSTMCell.sigmoid_gates}
    # Inputs joined: h_{t-1} from the left, x_t from below.
    wire(ax, (-1.2, 1), (10, 1), arrow=False)
    wire(ax, (1, -1.2), (1, 1), arrow=False)
    dot(ax, 1, 1)
    # The four layers, fed from the joined inputs.
    for x in (3, 5.5, 7.5, 10):
        wire(ax, (x, 1), (x, 3 - BOX_H / 2))
    for x, gate in ((3, "forget"), (5.5, "input"), (10, "output")):
        box(ax, x, 3, gate_lines(gate, openness, mapping), colour[gate])
    candidate = ["tanh", "candidate"] + ([mapping] if sizes else [])
    box(ax, 7.5, 3, candidate, LAYER)
    # Cell state along the top: forget x, then + the new information.
    wire(ax, (-1.2, 7), (3 - OP_R, 7))
    wire(ax, (3 + OP_R, 7), (7.5 - OP_R, 7))
    wire(ax, (7.5 + OP_R, 7), (15.2, 7))
    wire(ax, (3, 3 + BOX_H / 2), (3, 7 - OP_R), colour=colour["forget"])
    operator(ax, 3, 7, "×", colour["forget"])
    operator(ax, 7.5, 7, "+")
    # Input gate x candidate, added to the cell state.
    wire(
        ax,
        (5.5, 3 + BOX_H / 2),
        (5.5, 5),
        (7.5 - OP_R, 5),
        colour=colour["input"],
    )
    wire(ax, (7.5, 3 + BOX_H / 2), (7.5, 5 - OP_R))
    operator(ax, 7.5, 5, "×", colour["input"])
    wire(ax, (7.5, 5 + OP_R), (7.5, 7 - OP_R))
    # Output gate x tanh(c_t) gives h_t.
    dot(ax, 12, 7)
    wire(ax, (12, 7), (12, 5 + OP_R))
    operator(ax, 12, 5, "tanh", width=1.3)
    wire(ax, (12, 5 - OP_R), (12, 3 + OP_R))
    wire(ax, (10 + BOX_W / 2, 3), (12 - OP_R, 3), colour=colour["output"])
    operator(ax, 12, 3, "×", colour["output"])
    wire(ax, (12 + OP_R, 3), (15.2, 3))
    # Ends of the wires.
    ends = {
        "c_{t-1}": (-1.35, 7, "right"),
        "h_{t-1}": (-1.35, 1, "right"),
        "c_t": (15.35, 7, "left"),
        "h_t": (15.35, 3, "left"),
    }
    for name, (x, y, ha) in ends.items():
        note(ax, x, y, f"${name}$", ha=ha, fontsize=11)
    note(ax, 1, -1.55, "$x_t$", fontsize=11)
    if sizes:
        tag(ax, 1.6, -0.5, f"D_x = {d_x}", ha="left")
        tag(ax, -0.6, 1.45, f"D_h = {d_h}")
        tag(ax, 2.0, 1.45, f"{d_x} + {d_h} = {d_x + d_h}")
        for x, y in ((-0.6, 7), (5.2, 7), (10, 7), (13.6, 7), (13.6, 3)):
            tag(ax, x, y, str(d_h))
    else:
        note(ax, 3, 7.6, "forget × $c_{t-1}$")
        note(ax, 7.95, 5, "input × candidate", ha="left")
        note(ax, 12.3, 1.85, "output × tanh($c_t$)")


def draw_gru(ax, openness):
    """The GRU cell on the 14 x 8 frame of `draw_lstm`: h along the top."""
    cell_outline(ax, 14, 8)
    colour = {g: gate_colour(openness, g) for g in GRUCell.sigmoid_gates}
    reset, update, keep, one_minus, new = 2.8, 5.2, 8.0, 9.5, 11.0
    # h_{t-1} along the top, and down to join x_t for the two gates.
    wire(ax, (-1.2, 7), (keep - OP_R, 7))
    dot(ax, 0.8, 7)
    wire(ax, (0.8, 7), (0.8, 1.2), (update, 1.2), arrow=False)
    wire(ax, (1.6, -1.2), (1.6, 1.2), arrow=False)
    dot(ax, 1.6, 1.2)
    for x in (reset, update):
        wire(ax, (x, 1.2), (x, 3 - BOX_H / 2))
    box(ax, reset, 3, gate_lines("reset", openness), colour["reset"])
    box(ax, update, 3, gate_lines("update", openness), colour["update"])
    # Reset x h_{t-1}, joined to x_t, into the candidate layer; its wire
    # breaks where the update gate's wire crosses it.
    dot(ax, 0.8, 4.6)
    wire(ax, (0.8, 4.6), (reset - OP_R, 4.6))
    wire(
        ax,
        (reset, 3 + BOX_H / 2),
        (reset, 4.6 - OP_R),
        colour=colour["reset"],
    )
    operator(ax, reset, 4.6, "×", colour["reset"])
    wire(ax, (reset + OP_R, 4.6), (update - 0.2, 4.6), arrow=False)
    wire(ax, (update + 0.2, 4.6), (9.6, 4.6), (9.6, 3), (new - BOX_W / 2, 3))
    dot(ax, 1.6, 0.4)
    wire(ax, (1.6, 0.4), (new, 0.4), (new, 3 - BOX_H / 2))
    box(ax, new, 3, ["tanh", "candidate"], LAYER)
    # Update x h_{t-1} plus (1 - update) x candidate gives h_t.
    wire(
        ax,
        (update, 3 + BOX_H / 2),
        (update, 5.7),
        (keep, 5.7),
        (keep, 7 - OP_R),
        colour=colour["update"],
    )
    dot(ax, keep, 5.7)
    wire(ax, (keep, 5.7), (one_minus - OP_R, 5.7), colour=colour["update"])
    operator(ax, one_minus, 5.7, "1−")
    wire(ax, (one_minus + OP_R, 5.7), (new - OP_R, 5.7))
    wire(ax, (new, 3 + BOX_H / 2), (new, 5.7 - OP_R))
    operator(ax, new, 5.7, "×")
    wire(ax, (new, 5.7 + OP_R), (new, 7 - OP_R))
    operator(ax, keep, 7, "×", colour["update"])
    wire(ax, (keep + OP_R, 7), (new - OP_R, 7))
    operator(ax, new, 7, "+")
    wire(ax, (new + OP_R, 7), (15.2, 7))
    note(ax, -1.35, 7, "$h_{t-1}$", ha="right", fontsize=11)
    note(ax, 15.35, 7, "$h_t$", ha="left", fontsize=11)
    note(ax, 1.6, -1.55, "$x_t$", fontsize=11)
    note(ax, reset, 5.25, "reset × $h_{t-1}$")
    note(ax, keep, 7.6, "update × $h_{t-1}$")
    note(ax, new + 0.55, 4.7, "(1 − update)\n× candidate", ha="left")


def draw_rnn(ax, d_x, d_h):
    """The simple RNN cell on an 8 x 6 frame: one tanh layer."""
    cell_outline(ax, 8, 6)
    wire(ax, (-1.2, 1), (4, 1), (4, 3 - BOX_H / 2))
    wire(ax, (1.5, -1.2), (1.5, 1), arrow=False)
    dot(ax, 1.5, 1)
    box(ax, 4, 3, ["tanh", "layer", f"{d_h} neurons"], LAYER)
    wire(ax, (4, 3 + BOX_H / 2), (4, 4.8), (9.2, 4.8))
    note(ax, -1.35, 1, "$h_{t-1}$", ha="right", fontsize=11)
    note(ax, 1.5, -1.55, "$x_t$", fontsize=11)
    note(ax, 9.35, 4.8, "$h_t$", ha="left", fontsize=11)
    tag(ax, 2.0, -0.5, f"D_x = {d_x}", ha="left")
    tag(ax, -0.6, 1.45, f"D_h = {d_h}")
    tag(ax, 2.75, 1.45, f"{d_x} + {d_h} = {d_x + d_h}")
    tag(ax, 6.8, 4.8, f"D_h = {d_h}")


def _neurons(ax, x, top, count, colour, shown=4):
    """A column of neurons from `top` down; returns the circles' heights.

    More than `shown` neurons: the first `shown - 1`, a vertical ellipsis
    and the last.
    """
    heights = [top - 0.6 * i for i in range(min(count, shown))]
    if count > shown:
        note(ax, x, heights[-1], "⋮", fontsize=11)
        heights[-1] -= 0.6
    for y in heights:
        ax.add_patch(Circle((x, y), 0.2, fc=colour, ec=INK, lw=0.8, zorder=5))
    return heights


def draw_layer(ax, d_x, d_h, use_bias):
    """The tanh layer as neurons: D_x + D_h inputs, all joined to D_h."""
    note(ax, 5, 8.7, "inside the tanh layer", fontsize=10, fontweight="bold")
    x_in = _neurons(ax, 2.6, 7.7, d_x, "#a6c8ec", shown=3)
    h_in = _neurons(ax, 2.6, x_in[-1] - 0.9, d_h, "#b5dfb0", shown=3)
    out = _neurons(ax, 6.6, 7.1, d_h, LAYER)
    for y_in in x_in + h_in:
        for y_out in out:
            ax.plot([2.6, 6.6], [y_in, y_out], color="#b0b0b0", lw=0.6)
    note(ax, 2.1, np.mean(x_in), f"$x_t$: {d_x}", ha="right", fontsize=9)
    note(ax, 2.1, np.mean(h_in), f"$h_{{t-1}}$: {d_h}", ha="right", fontsize=9)
    note(ax, 2.6, h_in[-1] - 0.65, f"{d_x} + {d_h} = {d_x + d_h} inputs")
    note(ax, 7.1, np.mean(out), f"{d_h} neurons\n(tanh)", ha="left", fontsize=9)
    note(
        ax,
        5,
        0.9,
        f"{d_x + d_h} × {d_h} = {(d_x + d_h) * d_h:,} weights + "
        f"{d_h if use_bias else 'no'} biases = "
        f"{layer_params(d_x, d_h, int(use_bias)):,} params",
        fontsize=9,
    )
    note(
        ax,
        5,
        0.3,
        f"({d_x + d_h}, 1) → ({d_h}, 1): dimensions first, one sample",
        fontsize=9,
    )
