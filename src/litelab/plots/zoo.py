"""The zoo at a glance: accuracy against int8 bytes, tensor arena and MACs, beside MLPerf.

``litelab zoo --plot [PATH]`` draws every shipped model (one row of
:func:`litelab.zoo.summary_rows` each) as a point in three panels that share the accuracy
axis, with the MLPerf Tiny ResNet-8 reference as the anchor and its budget as dashed
lines: a model left of a line is smaller than the reference on that axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, PercentFormatter

from litelab.errors import LitelabError
from litelab.plots.base import new_figure, save_figure

# MLPerf Tiny's image-classification reference, pretrainedResnet_quant.tflite
# (../shared/anchors/mlperf-tiny-ic), measured by litelab on the full 10,000-image test split
# of the CIFAR-10 (JPEG copy): LiteRT accuracy, size, TFLM arena and MACs
# (benchmarks/export_table.py -> benchmarks/results/export_table.json, "mlperf_shipped_int8").
MLPERF_ANCHOR: dict[str, Any] = {
    "name": "MLPerf Tiny ResNet-8 (int8)",
    "accuracy": 0.7542,
    "int8_bytes": 98_496,
    "arena_bytes": 55_984,
    "macs": 12_501_632,
}
PANELS = (
    ("int8_bytes", "int8 flatbuffer (bytes)"),
    ("arena_bytes", "TFLite Micro tensor arena (bytes)"),
    ("macs", "MACs per image"),
)
ZOO_COLOR = "#1f77b4"
ANCHOR_COLOR = "#cf222e"


def accuracy_of(row: dict[str, Any]) -> float | None:
    """A zoo row's int8 accuracy through TFLite Micro (the file that ships), else None."""
    value = row.get("int8_tflm_accuracy")
    return float(value) if isinstance(value, int | float) else None


def plotted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that have every figure a panel needs."""
    keys = [key for key, _ in PANELS]
    return [
        r
        for r in rows
        if accuracy_of(r) is not None and all(isinstance(r.get(k), int | float) for k in keys)
    ]


def label_at(ax: Any, right: float, x: float, y: float, text: str, color: str, dy: int) -> None:
    """Name a point; the rightmost point's label (x == ``right``) goes to its left."""
    left = x >= right
    ax.annotate(
        text,
        (x, y),
        textcoords="offset points",
        xytext=(-6 if left else 6, dy),
        ha="right" if left else "left",
        fontsize=9,
        color=color,
    )


def zoo_figure(rows: list[dict[str, Any]], anchor: dict[str, Any] | None = MLPERF_ANCHOR) -> Figure:
    """Three panels (int8 bytes, arena, MACs) of int8 TFLM accuracy, one point per model."""
    points = plotted_rows(rows)
    fig = new_figure(12.0, 4.2)
    axes = fig.subplots(1, len(PANELS), sharey=True)
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        xs = [r[key] for r in points] + ([anchor[key]] if anchor is not None else [])
        right = max(xs, default=0)

        for r in points:
            ax.scatter([r[key]], [accuracy_of(r)], color=ZOO_COLOR, s=40, zorder=3)
            label_at(ax, right, r[key], accuracy_of(r), f"zoo:{r['name']}", "black", 4)
        if anchor is not None:
            ax.scatter(
                [anchor[key]], [anchor["accuracy"]], color=ANCHOR_COLOR, marker="s", s=44, zorder=3
            )
            ax.axvline(anchor[key], color=ANCHOR_COLOR, linestyle="--", linewidth=0.8, zorder=1)
            label_at(
                ax, right, anchor[key], anchor["accuracy"], "MLPerf ResNet-8", ANCHOR_COLOR, -12
            )
        ax.margins(x=0.12)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(EngFormatter(places=0, sep=""))
        ax.xaxis.set_minor_formatter(EngFormatter(places=0, sep=""))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("int8 accuracy through TFLite Micro")
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ys = [accuracy_of(r) for r in points] + ([anchor["accuracy"]] if anchor else [])
    if ys:
        axes[0].set_ylim(min(ys) - 0.04, min(1.0, max(ys) + 0.04))
    fig.suptitle(
        "The shipped zoo on the CIFAR-10 (JPEG copy) test split (10,000 images); "
        "dashed: the MLPerf Tiny reference's budget",
        fontsize=10,
    )
    return fig


def plot_zoo(
    rows: list[dict[str, Any]],
    path: str | Path,
    anchor: dict[str, Any] | None = MLPERF_ANCHOR,
    *,
    overwrite: bool = True,
) -> Path:
    """Write :func:`zoo_figure` to ``path`` (PNG unless its suffix names another format);
    with ``overwrite=False`` an existing file is an error, never replaced."""
    path = Path(path)
    if not overwrite and path.exists():
        raise LitelabError(f"{path} already exists; not replacing it (pass --plot PATH)")
    return save_figure(zoo_figure(rows, anchor), path)
