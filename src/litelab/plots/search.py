"""Search and study figures: the objective per trial and validation curves per variant."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from litelab.errors import LitelabError
from litelab.plots.base import TRAIN_COLOR, VAL_COLOR, new_figure, save_figure


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
