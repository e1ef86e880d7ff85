"""What every figure shares: the Agg figure, the atomic PNG writer and the colours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from litelab.errors import LitelabError
from litelab.files import atomic_path

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
