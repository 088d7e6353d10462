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


def heatmap(values, title, sigmoid):
    """A (time x units) heatmap of one sequence's gate values."""
    values = np.asarray(values, np.float64)
    if sigmoid:
        vmin, vmax, cmap = 0.0, 1.0, "viridis"
    else:
        finite = values[np.isfinite(values)]
        limit = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)
        vmin, vmax, cmap = -limit, limit, "RdBu_r"
    figure, axes = plt.subplots(figsize=(6, 3.2), dpi=80)
    image = axes.imshow(
        values.T,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    axes.set_xlabel("time step")
    axes.set_ylabel("unit")
    axes.set_title(title)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    return _to_array(figure)


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
