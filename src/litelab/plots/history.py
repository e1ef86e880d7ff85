"""Training figures: accuracy and loss per epoch, the confusion matrix, per-class accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from litelab.errors import LitelabError
from litelab.plots.base import TRAIN_COLOR, VAL_COLOR, new_figure, save_figure


def _series(history: dict[str, Any], names: tuple[str, ...]) -> np.ndarray | None:
    for name in names:
        if name in history and history[name] is not None:
            values = np.asarray(history[name], dtype=np.float64).ravel()
            if values.size:
                return np.where(np.isfinite(values), values, np.nan)
    return None


def _history_figure(
    history: dict[str, Any], metric: str, aliases: tuple[str, ...], label: str
) -> Figure:
    if not isinstance(history, dict):
        raise LitelabError(f"history must be a dict of lists, got {type(history).__name__}")
    train = _series(history, (metric, *aliases))
    val = _series(history, tuple(f"val_{m}" for m in (metric, *aliases)))
    if train is None and val is None:
        raise LitelabError(f"history has no {metric!r} or 'val_{metric}' values to plot")
    if train is not None and val is not None and len(train) != len(val):
        raise LitelabError(
            f"history has {len(train)} {metric!r} values but {len(val)} 'val_{metric}' values"
        )
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    marker = "o" if max(len(s) for s in (train, val) if s is not None) <= 40 else None
    for values, name, color in ((train, "train", TRAIN_COLOR), (val, "validation", VAL_COLOR)):
        if values is not None:
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker=marker, markersize=4, color=color, label=name)
    n = max(len(s) for s in (train, val) if s is not None)
    ax.set_xlim(0.5, n + 0.5)
    if n <= 12:
        ax.set_xticks(range(1, n + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Epoch")
    ax.set_ylabel(label)
    ax.set_title(f"{label} per epoch")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return fig


def accuracy_figure(history: dict[str, list[float]]) -> Figure:
    """Train ``accuracy`` and ``val_accuracy`` per epoch (either may be missing)."""
    fig = _history_figure(history, "accuracy", ("acc",), "Accuracy")
    ax = fig.axes[0]
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    return fig


def loss_figure(history: dict[str, list[float]]) -> Figure:
    """Train ``loss`` and ``val_loss`` per epoch (either may be missing)."""
    fig = _history_figure(history, "loss", (), "Loss")
    fig.axes[0].set_ylim(bottom=0.0)
    return fig


def plot_accuracy(history: dict[str, list[float]], path: str | Path) -> Path:
    """Write the accuracy curves (epochs from 1, y in [0, 1]) to ``path``."""
    return save_figure(accuracy_figure(history), path)


def plot_loss(history: dict[str, list[float]], path: str | Path) -> Path:
    """Write the loss curves to ``path``."""
    return save_figure(loss_figure(history), path)


# --------------------------------------------------------------------------- confusion


def _check_cm(cm: Any, classes: list[str]) -> np.ndarray:
    try:
        matrix = np.asarray(cm, dtype=np.float64)
    except (TypeError, ValueError):
        raise LitelabError("confusion matrix must be a square array of numbers") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise LitelabError(f"confusion matrix must be square, got shape {matrix.shape}")
    if matrix.shape[0] != len(classes):
        raise LitelabError(
            f"confusion matrix of shape {matrix.shape} does not match {len(classes)} classes"
        )
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise LitelabError("confusion matrix must hold finite, non-negative counts")
    return matrix


def _row_normalize(matrix: np.ndarray) -> np.ndarray:
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def confusion_matrix_figure(cm: Any, classes: list[str], normalize: bool = False) -> Figure:
    """A heatmap of ``cm`` (rows true, columns predicted) with a value in every cell.

    ``normalize`` divides each row by its total, so a cell is the share of that true class.
    """
    classes = [str(c) for c in classes]
    matrix = _check_cm(cm, classes)
    values = _row_normalize(matrix) if normalize else matrix
    n = len(classes)
    side = max(4.5, 0.62 * n + 2.4)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax, shrink=0.85)
    colorbar.set_label("share of true class" if normalize else "count")

    integral = not normalize and np.all(np.mod(matrix, 1) == 0)
    fontsize = 9 if n <= 10 else max(5, 9 - (n - 10) // 3)
    for i in range(n):
        for j in range(n):
            v = values[i, j]
            text = f"{int(v)}" if integral else (f"{v:.2f}" if normalize else f"{v:.3g}")
            dark = v > 0.55 * vmax
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if dark else "#1b1b1b",
            )

    ax.set_xticks(range(n), classes, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title("Confusion matrix" + (" (normalized by true class)" if normalize else ""))
    return fig


def plot_confusion_matrix(
    cm: Any, classes: list[str], path: str | Path, normalize: bool = False
) -> Path:
    """Write the confusion-matrix heatmap to ``path``."""
    return save_figure(confusion_matrix_figure(cm, classes, normalize=normalize), path)


def per_class_accuracy_figure(cm: Any, classes: list[str]) -> Figure:
    """Horizontal bars of each class's accuracy (diagonal / row sum), in class order.

    A class with no test images gets no bar and the label "n/a"; the dashed line is the
    overall accuracy (trace / total).
    """
    classes = [str(c) for c in classes]
    matrix = _check_cm(cm, classes)
    totals = matrix.sum(axis=1)
    acc = np.divide(np.diag(matrix), totals, out=np.full(len(classes), np.nan), where=totals > 0)
    overall = float(np.trace(matrix) / matrix.sum()) if matrix.sum() > 0 else float("nan")

    n = len(classes)
    fig = new_figure(6.8, max(2.8, 0.42 * n + 1.4))
    ax = fig.add_subplot()
    y = np.arange(n)
    ax.barh(y, np.nan_to_num(acc), color=TRAIN_COLOR, height=0.7)
    for i, value in enumerate(acc):
        if np.isnan(value):
            ax.text(0.01, i, "n/a", va="center", ha="left", fontsize=9, color="#555555")
        elif value >= 0.18:
            ax.text(
                value - 0.01,
                i,
                f"{100 * value:.1f}%",
                va="center",
                ha="right",
                fontsize=9,
                color="white",
                fontweight="bold",
            )
        else:
            ax.text(
                value + 0.01,
                i,
                f"{100 * value:.1f}%",
                va="center",
                ha="left",
                fontsize=9,
                color="#1b1b1b",
            )
    if np.isfinite(overall):
        ax.axvline(
            overall,
            color="#444444",
            linestyle="--",
            linewidth=1.2,
            label=f"overall {100 * overall:.1f}%",
        )
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=9)
    ax.set_yticks(y, classes)
    ax.set_ylim(n - 0.5, -0.5)  # first class on top
    ax.set_xlim(0.0, 1.0)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xlabel("Accuracy (correct / images of the class)")
    ax.set_title("Per-class accuracy", loc="right")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def plot_per_class_accuracy(cm: Any, classes: list[str], path: str | Path) -> Path:
    """Write the per-class accuracy bars to ``path``."""
    return save_figure(per_class_accuracy_figure(cm, classes), path)
