"""Pictures of gates as RGBA uint8 arrays, drawn without figures.

They are written every epoch, so they are drawn straight into pixels (a
matplotlib figure costs about 0.2 s each); matplotlib only lends its colour
maps.
"""

import matplotlib
import numpy as np

# Heatmaps show at most this many columns of steps, whatever the length.
MAX_COLUMNS = 1024


def steps_per_column(steps, max_columns=MAX_COLUMNS):
    """How many consecutive steps one heatmap column averages."""
    return max(1, -(-steps // max_columns))


def heatmap_description(index, steps, valid_steps):
    """What a heatmap of probe sequence `index` shows."""
    where = "all valid steps"
    if steps is not None:
        where = f"the valid steps among steps {steps[0]} to {steps[1] - 1}"
    note = f"Probe sequence {index}, {where}; units are rows."
    block = steps_per_column(valid_steps)
    if block > 1:
        note += f" Each column is the mean of {block} steps."
    return note


def heatmap(values, sigmoid, scale=4, max_columns=MAX_COLUMNS):
    """A (units x time) colour image of one sequence's gate values.

    Rendered straight through a colour map, with no figure, so that it is
    cheap enough to write every epoch: time runs left to right, unit 0 is
    the top row, each value a `scale` x `scale` block. Sigmoid gates use
    viridis on [0, 1]; other values a diverging map symmetric around 0.
    A sequence longer than `max_columns` steps is shown as the means of
    blocks of `steps_per_column(T)` steps, one column each (a block holding
    a NaN or an infinity is magenta).
    """
    values = np.asarray(values, np.float64)
    block = steps_per_column(len(values), max_columns)
    if block > 1:
        starts = np.arange(0, len(values), block)
        sizes = np.diff(np.append(starts, len(values)))[:, None]
        with np.errstate(invalid="ignore"):  # inf - inf: a NaN, magenta
            values = np.add.reduceat(values, starts, axis=0) / sizes
    values = values.T
    if sigmoid:
        low, high, cmap = 0.0, 1.0, "viridis"
    else:
        finite = values[np.isfinite(values)]
        high = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)
        low, cmap = -high, "RdBu_r"
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
    pixels = matplotlib.colormaps[cmap](np.nan_to_num(scaled, nan=0.5))
    pixels[~np.isfinite(values)] = (1.0, 0.0, 1.0, 1.0)  # magenta: NaN/Inf
    pixels = (pixels * 255).astype(np.uint8)
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1)


def saturation_scatter(panels, size=160, dot=2):
    """One dot per unit: fraction of time left- (x) vs right-saturated (y).

    Drawn straight into pixels, one `size` x `size` panel per gate side by
    side (in the order of `panels`), with the frame, the grid at 0.5 and the
    line x + y = 1 (units always saturated one way or the other) in grey.

    Args:
        panels: list of (gate name, unit_left, unit_right).
    """
    gap = 8
    width = len(panels) * (size + gap) - gap
    canvas = np.full((size, width, 4), 255, np.uint8)
    grey, blue = (200, 200, 200, 255), (31, 119, 180, 255)
    line = np.arange(size)
    for index, (_, unit_left, unit_right) in enumerate(panels):
        panel = canvas[:, index * (size + gap) : index * (size + gap) + size]
        panel[[0, -1, size // 2], :] = grey
        panel[:, [0, -1, size // 2]] = grey
        panel[line, line] = grey  # x + y = 1, with y up
        cols = np.round(np.asarray(unit_left) * (size - 1)).astype(int)
        rows = np.round((1 - np.asarray(unit_right)) * (size - 1)).astype(int)
        for dr in range(-dot, dot + 1):
            for dc in range(-dot, dot + 1):
                panel[
                    np.clip(rows + dr, 0, size - 1),
                    np.clip(cols + dc, 0, size - 1),
                ] = blue
    return canvas
