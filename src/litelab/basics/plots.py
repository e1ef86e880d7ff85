"""The warm-ups' figures: data with fitted lines, and decision boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from litelab.plots import new_figure, save_figure

MAX_POINTS = 2000  # a scatter of a million houses says no more than 2,000 of them


def lines_figure(data, lines: dict[str, tuple[float, float]]):
    """The houses, the true line and each fitted line (price against size)."""
    fig = new_figure(8.0, 5.0)
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
    return save_figure(lines_figure(data, lines), path)


def boundaries_figure(points, predictors: dict):
    """Side by side, each model's decision regions over the test points."""
    fig = new_figure(6.0 * len(predictors), 5.0)
    x = np.concatenate([points.x_train, points.x_test])
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = np.c_[gx.ravel(), gy.ravel()]
    for k, (name, predict) in enumerate(predictors.items()):
        ax = fig.add_subplot(1, len(predictors), k + 1)
        zz = np.asarray(predict(grid)).reshape(gx.shape)
        ax.contourf(gx, gy, zz, levels=[-0.5, 0.5, 1.5], colors=["#cfe2f3", "#f4cccc"], alpha=0.8)
        for cls, colour in ((0, "#1f77b4"), (1, "#d62728")):
            pts = points.x_test[points.y_test == cls]
            ax.scatter(pts[:, 0], pts[:, 1], s=12, color=colour, label=f"class {cls}")
        ax.set_title(name)
        ax.set_xlabel("feature 1")
        ax.set_ylabel("feature 2")
        ax.legend(loc="best", fontsize="small")
    return fig


def plot_boundaries(points, predictors: dict, path: str | Path) -> Path:
    return save_figure(boundaries_figure(points, predictors), path)
