"""Explain one gate unit (or a model output) on one input sequence: the
steps that move it most, and a figure of the input coloured by attribution
with the unit's trace beneath. Used by `keras-gates explain` and the
`why_gates_open` example.
"""

import numpy as np
from matplotlib import colormaps, colors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from keras_gates.attribution import attribution
from keras_gates.probe import GateProbe
from keras_gates.vocabulary import Tokens
from tensorboard_plugin_gates.writer import row_texts, subwords

# Steps shown with their token text; longer sequences show colours only.
MAX_LABELLED_STEPS = 80


def token_texts(model, x, vocabulary=None):
    """The text shown at each step of one input sequence `x` (a batch of
    one), as the dashboard shows it (`row_texts`): the token ids along the
    steps (for texts, those the model's own vocabulary layer makes), with
    `vocabulary` or the model's own, padding unlabelled; None for float
    features."""
    tokens = Tokens(model, vocabulary)
    ids, valid = tokens.steps(x)
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        return None
    return row_texts(
        ids[0],
        tokens.texts,
        None if valid is None else valid[0],
        subwords(tokens.texts),
    )


def visible(text):
    """A token's text with its whitespace made visible."""
    return text.replace("\n", "\u21b5").replace(" ", "\u2423")


def unit_trace(model, x, layer, gate, unit):
    """One gate unit's values over the steps of `x` (batch 1), in input
    order, NaN at masked steps."""
    probe = GateProbe(model, [layer], "explain")
    (record,) = probe.run(x)
    values = record.gates[gate][0, :, unit].astype("float64")
    values[~record.valid[0]] = np.nan
    ((_, found),) = probe.layers
    return values[::-1] if found.go_backwards else values


def top_steps(values, count):
    """Indices of the `count` largest |values|, largest first."""
    order = np.argsort(-np.abs(values), kind="stable")
    return [int(i) for i in order[:count] if values[i] != 0]


def explain(model, x, *, sample=0, method="saliency", **target):
    """Attribution of a target (see `keras_gates.attribution`) on one
    sequence `x[sample]`; returns `(values (time,), trace or None)`, the
    trace being the gate unit's values when the target is a gate unit."""
    one = np.asarray(x)[sample : sample + 1]
    values = attribution(model, one, method=method, seed=0, **target)[0]
    trace = None
    if target.get("layer") is not None:
        trace = unit_trace(
            model, one, target["layer"], target["gate"], target["unit"]
        )
    return values, trace


def figure(
    values, trace=None, tokens=None, title="", trace_label="", step=None
):
    """The input steps coloured by attribution, the trace beneath.

    Signed attributions use a diverging map centred on zero, the others a
    sequential map from zero. `step` marks the target's step.
    """
    values = np.asarray(values, "float64")
    time = len(values)
    width = min(max(6.0, 0.28 * time + 1.5), 24.0)
    # Words stand above the strip, turned: room for them.
    words = tokens is not None and max(map(len, tokens), default=0) > 2
    height = (3.6 if trace is not None else 2.0) + (1.0 if words else 0.0)
    shown = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(shown)
    shown.suptitle(title, fontsize=11)
    rows = (1, 2) if trace is not None else (1,)
    above = 0.45 + (1.0 if words else 0.0)  # inches: the title, the words
    grid = shown.add_gridspec(
        len(rows),
        1,
        height_ratios=rows,
        hspace=0.15,
        top=1.0 - above / height,
        bottom=0.5 / height,
    )
    strip = shown.add_subplot(grid[0])
    peak = float(np.nanmax(np.abs(values))) or 1.0
    signed = bool((values < 0).any())
    if signed:
        cmap, norm = colormaps["RdBu_r"], colors.Normalize(-peak, peak)
    else:
        cmap, norm = colormaps["Oranges"], colors.Normalize(0.0, peak)
    strip.imshow(
        values[None, :],
        aspect="auto",
        cmap=cmap,
        norm=norm,
        extent=(-0.5, time - 0.5, 0, 1),
    )
    strip.set_yticks([])
    strip.set_xlim(-0.5, time - 0.5)
    if tokens is not None and time <= MAX_LABELLED_STEPS:
        _label(strip, [visible(t) for t in tokens], values, cmap, norm)
    shown.colorbar(
        ScalarMappable(norm, cmap),
        ax=strip,
        pad=0.01,
        fraction=0.03,
        label="attribution",
    )
    if trace is None:
        strip.set_xlabel("step")
        return shown
    strip.tick_params(labelbottom=False, bottom=False)
    line = shown.add_subplot(grid[1], sharex=strip)
    line.plot(np.arange(time), trace, color="#1f4e8c", linewidth=1.4)
    line.set_ylabel(trace_label)
    line.set_xlabel("step")
    line.grid(alpha=0.3)
    if step is not None:
        for axes in (strip, line):
            axes.axvline(step, color="#c0392b", linewidth=1.0, linestyle="--")
    # An invisible colour bar beside the trace keeps both x axes aligned.
    shown.colorbar(ScalarMappable(norm, cmap), ax=line, pad=0.01, fraction=0.03)
    shown.axes[-1].set_visible(False)
    return shown


def _label(strip, texts, values, cmap, norm):
    """Each step's text: single characters inside the strip's cells, in
    ink that reads on their colour; longer texts (words) above the strip,
    turned so that they do not run into each other."""
    if max(map(len, texts), default=0) > 2:
        # An axis of its own: the strip shares its x axis with the trace.
        top = strip.secondary_xaxis("top")
        top.set_xticks(range(len(texts)), texts, fontsize=9)
        top.tick_params(axis="x", labelrotation=60)
        for label in top.get_xticklabels():
            label.set_horizontalalignment("left")
        return
    for t, text in enumerate(texts):
        shade = cmap(norm(values[t]))
        ink = "white" if sum(shade[:3]) < 1.2 else "#222222"
        strip.text(
            t,
            0.5,
            text,
            ha="center",
            va="center",
            fontsize=9,
            color=ink,
            family="monospace",
        )
