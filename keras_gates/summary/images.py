"""Pictures of gates, rendered with matplotlib to RGBA uint8 arrays."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _to_array(figure):
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba()).copy()
    plt.close(figure)
    return pixels


def heatmap(values, sigmoid, scale=4):
    """A (units x time) colour image of one sequence's gate values.

    Rendered straight through a colour map, with no figure, so that it is
    cheap enough to write every epoch: time runs left to right, unit 0 is
    the top row, each value a `scale` x `scale` block. Sigmoid gates use
    viridis on [0, 1]; other values a diverging map symmetric around 0.
    """
    values = np.asarray(values, np.float64).T
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


def saturation_scatter(panels, title, left=0.1, right=0.9):
    """One dot per unit: fraction of time left- vs right-saturated.

    Args:
        panels: list of (gate name, unit_left, unit_right).
    """
    figure, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.2 * len(panels), 3.4),
        dpi=80,
        squeeze=False,
    )
    for ax, (name, unit_left, unit_right) in zip(axes[0], panels):
        ax.plot([0, 1], [1, 0], color="0.8", linewidth=1)
        ax.scatter(unit_left, unit_right, s=12, alpha=0.7)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(f"{name} gate")
        ax.set_xlabel(f"fraction of time < {left}")
        ax.set_ylabel(f"fraction of time > {right}")
    figure.suptitle(title)
    figure.tight_layout()
    return _to_array(figure)
