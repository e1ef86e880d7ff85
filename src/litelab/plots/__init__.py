"""The figures of a run, one function per PNG.

Each ``plot_*`` function builds its figure with a matching ``*_figure`` function and writes
it atomically, returning the path. The figures use matplotlib's object API with the Agg
canvas (no pyplot, no global state, nothing to close), so they are safe in threads and
headless; the ``*_figure`` builders are public so that tests and notebooks can inspect them.
"""

from __future__ import annotations

from litelab.plots.base import CORRECT_COLOR, WRONG_COLOR, new_figure, prediction_color, save_figure
from litelab.plots.history import (
    accuracy_figure,
    confusion_matrix_figure,
    loss_figure,
    per_class_accuracy_figure,
    plot_accuracy,
    plot_confusion_matrix,
    plot_loss,
    plot_per_class_accuracy,
)
from litelab.plots.images import (
    plot_prediction_grid,
    plot_single_prediction,
    prediction_grid_figure,
    single_prediction_figure,
)
from litelab.plots.search import curves_figure, objective_figure, plot_curves, plot_objective

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
