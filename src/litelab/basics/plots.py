"""The warm-ups' figures: data with fitted lines, and decision boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litelab.plots import _new_figure, _save

MAX_POINTS = 2000  # a scatter of a million houses says no more than 2,000 of them


def lines_figure(data, lines: dict[str, tuple[float, float]]):
    """The houses, the true line and each fitted line (price against size)."""
    fig = _new_figure(8.0, 5.0)
    ax = fig.add_subplot()
    x, y = data.x[:, 0], data.y[:, 0]
    if len(x) > MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(x), MAX_POINTS, replace=False)
        x, y = x[keep], y[keep]
    ax.scatter(x, y, s=8 if len(x) > 50 else 40, alpha=0.5, color="gray", label="houses")
    grid = np.linspace(data.x.min(), data.x.max(), 50)
    ax.plot(grid, data.true_slope * grid + data.true_intercept, "k--", lw=2, label="true line")
    for name, (slope, intercept) in lines.items():
        ax.plot(
            grid, slope * grid + intercept, lw=1.5, label=f"{name}: {slope:.4f} x + {intercept:.1f}"
        )
    ax.set_xlabel("size")
    ax.set_ylabel("price")
    ax.set_title(f"{data.name}: price against size")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_lines(data, lines: dict[str, tuple[float, float]], path: str | Path) -> Path:
    return _save(lines_figure(data, lines), path)
