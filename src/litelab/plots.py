"""The figures of a run, one function per PNG.

Each ``plot_*`` function builds its figure with a matching ``*_figure`` function and writes
it atomically, returning the path. The figures use matplotlib's object API with the Agg
canvas (no pyplot, no global state, nothing to close), so they are safe in threads and
headless; the ``*_figure`` builders are public so that tests and notebooks can inspect them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from litelab.errors import LitelabError
from litelab.files import atomic_path

__all__ = [
    "CORRECT_COLOR",
    "WRONG_COLOR",
    "accuracy_figure",
    "confusion_matrix_figure",
    "curves_figure",
    "loss_figure",
    "new_figure",
    "objective_figure",
    "per_class_accuracy_figure",
    "plot_accuracy",
    "plot_confusion_matrix",
    "plot_curves",
    "plot_loss",
    "plot_objective",
    "plot_per_class_accuracy",
    "plot_prediction_grid",
    "plot_single_prediction",
    "prediction_color",
    "prediction_grid_figure",
    "save_figure",
    "single_prediction_figure",
]

DPI = 110
CORRECT_COLOR = "#1a7f37"  # green
WRONG_COLOR = "#cf222e"  # red
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"


def prediction_color(true_label: Any, pred_label: Any) -> str:
    """The title colour of a prediction: green when right, red when wrong."""
    return CORRECT_COLOR if str(true_label) == str(pred_label) else WRONG_COLOR


def new_figure(width: float, height: float) -> Figure:
    """A blank figure (constrained layout, Agg canvas) of ``width`` x ``height`` inches."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (PNG default)."""
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise LitelabError(f"cannot write a plot as {path.name}: unknown image format {fmt!r}")
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp, format=fmt, dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.1
        )
    return path


# --------------------------------------------------------------------------- history


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


# --------------------------------------------------------------------------- images


def _as_display(images: Any, single: bool = False) -> np.ndarray:
    """Images as (n, H, W, 3) or (n, H, W) arrays that imshow shows as intended.

    uint8 is shown as is; floats are taken as [0, 1] when their max is <= 1, else [0, 255].
    """
    arr = np.asarray(images)
    want = 3 if single else 4
    if arr.ndim == want and arr.shape[-1] == 1:
        arr = arr[..., 0]
    ok_shape = arr.ndim == want - 1 or (arr.ndim == want and arr.shape[-1] in (3, 4))
    if not ok_shape or arr.size == 0:
        kind = "an image (H, W, 3)" if single else "images (n, H, W, 3)"
        raise LitelabError(f"expected {kind}, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise LitelabError("images must hold finite numbers")
    arr = arr.astype(np.float64)
    if arr.max() > 1.0:
        arr = arr / 255.0
    return np.clip(arr, 0.0, 1.0)


def _show(ax: Any, image: np.ndarray) -> None:
    if image.ndim == 2:
        vmax = 255 if image.dtype == np.uint8 else 1
        ax.imshow(image, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def prediction_grid_figure(
    images: np.ndarray,
    y_true: Any,
    y_pred: Any,
    classes: list[str],
    rows: int = 3,
    cols: int = 6,
    probs: np.ndarray | None = None,
) -> Figure:
    """A ``rows x cols`` grid of images titled "truth : predicted", green if right, red if not.

    Only the first ``rows * cols`` images are shown; with fewer, the remaining cells stay
    blank. ``probs`` is either the ``(n, C)`` probabilities (the predicted class's one is
    shown) or ``(n,)`` confidences; it adds the value under each title.
    """
    classes = [str(c) for c in classes]
    imgs = _as_display(images)
    true = np.asarray(y_true).ravel()
    pred = np.asarray(y_pred).ravel()
    if rows < 1 or cols < 1:
        raise LitelabError(f"the grid needs at least 1 row and 1 column, got {rows}x{cols}")
    if not (len(imgs) == len(true) == len(pred)):
        raise LitelabError(
            f"got {len(imgs)} images, {len(true)} true labels and {len(pred)} predictions"
        )
    for name, labels in (("true label", true), ("prediction", pred)):
        if labels.size and (
            not np.issubdtype(labels.dtype, np.integer)
            or labels.min() < 0
            or labels.max() >= len(classes)
        ):
            raise LitelabError(f"a {name} is not a class index in 0..{len(classes) - 1}")
    conf = None
    if probs is not None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim == 2 and p.shape == (len(imgs), len(classes)):
            conf = p[np.arange(len(imgs)), pred]
        elif p.ndim == 1 and len(p) == len(imgs):
            conf = p
        else:
            raise LitelabError(
                f"probs of shape {p.shape} match neither ({len(imgs)}, {len(classes)}) "
                f"nor ({len(imgs)},)"
            )

    fig = new_figure(1.75 * cols, (2.05 if conf is not None else 1.9) * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(imgs):
            ax.set_axis_off()
            continue
        t, p_ = classes[int(true[k])], classes[int(pred[k])]
        _show(ax, imgs[k])
        title = f"{t} : {p_}"
        if conf is not None:
            title += f"\n({conf[k]:.2f})"
        ax.set_title(
            title,
            fontsize=8.5,
            color=prediction_color(t, p_),
            fontweight="bold" if t != p_ else "normal",
        )
    return fig


def plot_prediction_grid(
    images: np.ndarray,
    y_true: Any,
    y_pred: Any,
    classes: list[str],
    path: str | Path,
    rows: int = 3,
    cols: int = 6,
    probs: np.ndarray | None = None,
) -> Path:
    """Write the grid of test images with their true and predicted classes to ``path``."""
    fig = prediction_grid_figure(images, y_true, y_pred, classes, rows=rows, cols=cols, probs=probs)
    return save_figure(fig, path)


def single_prediction_figure(
    image: np.ndarray, true_label: str, pred_label: str, prob: float | None = None
) -> Figure:
    """One image, enlarged without smoothing, titled "True: cat / Predicted: dog (0.87)"."""
    img = _as_display(image, single=True)
    title = f"True: {true_label} / Predicted: {pred_label}"
    if prob is not None:
        prob = float(prob)
        if not np.isfinite(prob):
            raise LitelabError(f"the prediction's probability must be a number, got {prob}")
        title += f" ({prob:.2f})"
    fig = new_figure(4.6, 4.9)
    ax = fig.add_subplot()
    _show(ax, img)
    ax.set_title(
        title, fontsize=11, color=prediction_color(true_label, pred_label), fontweight="bold"
    )
    return fig


def plot_single_prediction(
    image: np.ndarray, true_label: str, pred_label: str, prob: float | None, path: str | Path
) -> Path:
    """Write one enlarged image with its true and predicted class to ``path``."""
    return save_figure(single_prediction_figure(image, true_label, pred_label, prob), path)


# --------------------------------------------------------------------------- searches


def objective_figure(
    trials: list[str], values: list[float | None], name: str, maximize: bool = True
) -> Figure:
    """The objective of each trial (dots, in start order) and the best so far (a step line).

    Trials without a value (failed or stopped before an epoch ended) are left out.
    """
    if len(trials) != len(values):
        raise LitelabError(f"{len(trials)} trial names but {len(values)} objective values")
    fig = new_figure(max(6.0, 0.35 * len(trials) + 2), 4.0)
    ax = fig.add_subplot()
    xs = [i for i, v in enumerate(values) if v is not None]
    ys = [float(values[i]) for i in xs]
    ax.plot(xs, ys, "o", color=VAL_COLOR, label=name)
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (max if maximize else min)(best[-1], y))
    if ys:
        ax.step(xs, best, where="post", color=TRAIN_COLOR, label="best so far")
        i = ys.index(best[-1])
        ax.annotate(f"{best[-1]:.4f}", (xs[i], ys[i]), textcoords="offset points", xytext=(4, 6))
    ax.set_xticks(range(len(trials)), trials, rotation=90 if len(trials) > 12 else 0)
    ax.set_xlabel("Trial")
    ax.set_ylabel(name)
    if "accuracy" in name and ys:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_title(f"{name} per trial")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return fig


def plot_objective(
    trials: list[str], values: list[float | None], name: str, path: str | Path, maximize=True
) -> Path:
    """Write :func:`objective_figure` to ``path``."""
    return save_figure(objective_figure(trials, values, name, maximize), path)


def curves_figure(curves: dict[str, list[float]], ylabel: str = "val_accuracy") -> Figure:
    """Several runs' curves (one per label) overlaid against the epoch, from 1."""
    if not curves:
        raise LitelabError("no curves to plot")
    fig = new_figure(8.0, 4.8)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(curves) <= 10 else "tab20"].colors
    styles = ("-", "--", ":", "-.")
    for i, (label, ys) in enumerate(curves.items()):
        ys = [float(y) for y in ys]
        ax.plot(
            range(1, len(ys) + 1),
            ys,
            marker="o",
            markersize=3,
            color=palette[i % len(palette)],
            linestyle=styles[(i // len(palette)) % len(styles)],
            label=label,
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Epoch")
    ax.set_ylabel(ylabel)
    if "accuracy" in ylabel:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", ncol=2 if len(curves) > 6 else 1)
    return fig


def plot_curves(
    curves: dict[str, list[float]], path: str | Path, ylabel: str = "val_accuracy"
) -> Path:
    """Write :func:`curves_figure` to ``path``."""
    return save_figure(curves_figure(curves, ylabel), path)
