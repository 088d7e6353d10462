"""The drawing kit of the figures: colours, sizes and shapes on an axes.

Layers are rounded boxes, point-wise operators circles (or pills), wires
polylines with an arrow head; sizes are written on wires as tags. Figures
are drawn on the Agg canvas only, so no `pyplot` window opens.
"""

import numpy as np
from matplotlib import colormaps, colors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

INK = "#333333"  # wires, outlines, text
LAYER = "#fce8a4"  # a neural-network layer that is not a gate
OPERATOR = "#f7c8d4"  # a point-wise operator
GATE = "#f08a3c"  # a gate, when no openness is given
TAG = "#1f4e8c"  # sizes written on wires
CELL = "#f2f2f2"  # the cell's background
OPENNESS_MAP = "viridis"  # as the heatmaps of sigmoid gates

BOX_W, BOX_H, OP_R = 1.7, 1.5, 0.36
CELL_LIMITS = (-2.8, 17.2), (-2, 8.4)  # the 14 x 8 cells, with their ends


def readable_on(face):
    """The colour of text on `face`: white on dark, ink on light."""
    r, g, b = colors.to_rgb(face)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else INK


def gate_colour(openness, gate):
    """A gate's face: its openness on the colour map, else the highlight."""
    if gate in openness:
        return colormaps[OPENNESS_MAP](openness[gate])
    return GATE


def new_axes(figure, rect, xlim, ylim):
    """An axes at `rect`, equal aspect, no frame, showing xlim x ylim."""
    ax = figure.add_axes(rect)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax


def wire(ax, *points, colour=INK, arrow=True, width=1.6):
    """A polyline through `points`, arrow head at the last one."""
    codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
    ax.add_patch(
        FancyArrowPatch(
            path=Path(np.asarray(points, float), codes),
            arrowstyle="-|>" if arrow else "-",
            mutation_scale=11,
            color=colour,
            linewidth=width,
            joinstyle="miter",
            zorder=2,
        )
    )


def dot(ax, x, y):
    """A junction of wires."""
    ax.add_patch(Circle((x, y), 0.09, color=INK, zorder=4))


def box(ax, x, y, lines, face):
    """A neural-network layer: a rounded box with centred lines of text."""
    ax.add_patch(
        FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            boxstyle="round,pad=0,rounding_size=0.18",
            facecolor=face,
            edgecolor=INK,
            linewidth=1.2,
            zorder=5,
        )
    )
    text_colour = readable_on(face)
    sizes = (13, 7.5, 7.5)
    offsets = {1: (0.0,), 2: (0.2, -0.38), 3: (0.33, -0.12, -0.48)}
    for line, size, dy in zip(lines, sizes, offsets[len(lines)]):
        ax.text(
            x,
            y + dy,
            line,
            ha="center",
            va="center",
            fontsize=size,
            color=text_colour,
            zorder=6,
        )


def operator(ax, x, y, symbol, face=OPERATOR, width=None):
    """A point-wise operator: a circle (or a pill `width` wide)."""
    if width is None:
        ax.add_patch(
            Circle((x, y), OP_R, facecolor=face, edgecolor=INK, zorder=5)
        )
    else:
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - OP_R),
                width,
                2 * OP_R,
                boxstyle=f"round,pad=0,rounding_size={OP_R}",
                facecolor=face,
                edgecolor=INK,
                zorder=5,
            )
        )
    ax.text(
        x,
        y,
        symbol,
        ha="center",
        va="center",
        fontsize=10 if width or len(symbol) > 1 else 12,
        color=readable_on(face),
        zorder=6,
    )


def note(ax, x, y, text, **kwargs):
    """Text in ink, centred at (x, y) unless `kwargs` say otherwise."""
    kwargs = {"ha": "center", "va": "center", "fontsize": 8, **kwargs}
    ax.text(x, y, text, color=INK, zorder=6, **kwargs)


def tag(ax, x, y, text, **kwargs):
    """A size written on a wire, on a white background."""
    kwargs = {"ha": "center", "va": "center", "fontsize": 7.5, **kwargs}
    ax.text(
        x,
        y,
        text,
        color=TAG,
        zorder=7,
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
        **kwargs,
    )


def cell_outline(ax, width, height):
    """The cell's grey background, from (0, 0) to (width, height)."""
    ax.add_patch(
        FancyBboxPatch(
            (0, 0),
            width,
            height,
            boxstyle="round,pad=0,rounding_size=0.5",
            facecolor=CELL,
            edgecolor="#9a9a9a",
            linewidth=1.2,
            zorder=0,
        )
    )


def new_figure(width, height, title):
    """A white figure on the Agg canvas, `width` x `height` inches."""
    figure = Figure(figsize=(width, height), dpi=100, facecolor="white")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=13, fontweight="bold", y=0.975)
    return figure


def colorbar(figure, openness, rect):
    """The openness scale, drawn when some gate has a value."""
    if not openness:
        return
    mappable = ScalarMappable(
        colors.Normalize(0.0, 1.0), colormaps[OPENNESS_MAP]
    )
    bar = figure.colorbar(mappable, cax=figure.add_axes(rect))
    bar.set_label("mean gate value: 0 shut, 1 open", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def gate_lines(gate, openness, extra=None):
    """The text of a gate box: σ, its name, then openness or `extra`."""
    lines = ["σ", f"{gate} gate"]
    if gate in openness:
        lines.append(f"{openness[gate]:.2f} open")
    elif extra:
        lines.append(extra)
    return lines
