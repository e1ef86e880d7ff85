"""Prediction figures: a grid of test images and one photo, titled by class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from litelab.errors import LitelabError
from litelab.plots.base import new_figure, prediction_color, save_figure


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
