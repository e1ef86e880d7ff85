"""Every figure writes a real, non-blank PNG; bad inputs are one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from litelab import plots
from litelab.errors import LitelabError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
HISTORY = {
    "accuracy": [0.3, 0.5, 0.6, 0.7],
    "val_accuracy": [0.28, 0.45, 0.55, 0.6],
    "loss": [2.0, 1.4, 1.1, 0.9],
    "val_loss": [2.1, 1.5, 1.3, 1.2],
}


def cm10() -> np.ndarray:
    rng = np.random.default_rng(1)
    cm = rng.integers(0, 12, size=(10, 10))
    np.fill_diagonal(cm, rng.integers(40, 95, size=10))
    return cm


def images(n: int) -> np.ndarray:
    return np.random.default_rng(2).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def assert_png(path: Path, min_side: int = 200) -> np.ndarray:
    """The file is a PNG of a decent size that is not a single colour; returns its pixels."""
    assert path.is_file()
    assert not list(path.parent.glob(".*tmp*"))  # the atomic write left no temp file
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert min(img.size) >= min_side
        pixels = np.asarray(img.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10
    return pixels


def test_accuracy_and_loss_plots(tmp_path: Path) -> None:
    assert plots.plot_accuracy(HISTORY, tmp_path / "acc.png") == tmp_path / "acc.png"
    assert_png(tmp_path / "acc.png")
    assert_png(plots.plot_loss(HISTORY, tmp_path / "loss.png"))

    ax = plots.accuracy_figure(HISTORY).axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["train", "validation"]
    assert list(lines[0].get_xdata()) == [1, 2, 3, 4]  # epochs start at 1
    assert ax.get_xlabel() == "Epoch"


def test_history_without_validation(tmp_path: Path) -> None:
    history = {"accuracy": [0.4], "loss": [1.5]}  # one epoch, no val_ keys
    assert_png(plots.plot_accuracy(history, tmp_path / "acc.png"))
    assert_png(plots.plot_loss(history, tmp_path / "loss.png"))
    assert [ln.get_label() for ln in plots.loss_figure(history).axes[0].get_lines()] == ["train"]


def test_bad_history_raises() -> None:
    with pytest.raises(LitelabError, match="no 'accuracy'"):
        plots.accuracy_figure({"loss": [1.0]})
    with pytest.raises(LitelabError, match="3 'loss' values but 2"):
        plots.loss_figure({"loss": [3, 2, 1], "val_loss": [3, 2]})


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_plot(tmp_path: Path, normalize: bool) -> None:
    cm = cm10()
    assert_png(plots.plot_confusion_matrix(cm, CLASSES, tmp_path / "cm.png", normalize=normalize))

    fig = plots.confusion_matrix_figure(cm, CLASSES, normalize=normalize)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Predicted", "True")
    assert len(fig.axes) == 2  # the colorbar
    cells = {(t.get_position()): t for t in ax.texts}
    assert len(cells) == 100  # a value in every cell
    top_left = cells[(0, 0)]
    expected = f"{cm[0, 0] / cm[0].sum():.2f}" if normalize else str(cm[0, 0])
    assert top_left.get_text() == expected
    values = cm / cm.sum(axis=1, keepdims=True) if normalize else cm
    darkest = np.unravel_index(np.argmax(values), cm.shape)
    lightest = np.unravel_index(np.argmin(values), cm.shape)
    assert cells[darkest[::-1]].get_color() == "white"  # text positions are (x=col, y=row)
    assert cells[lightest[::-1]].get_color() != "white"


def test_per_class_accuracy_plot(tmp_path: Path) -> None:
    cm = cm10()
    assert_png(plots.plot_per_class_accuracy(cm, CLASSES, tmp_path / "pc.png"))
    ax = plots.per_class_accuracy_figure(cm, CLASSES).axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx(list(np.diag(cm) / cm.sum(axis=1)))
    labels = [t.get_text() for t in ax.texts]
    assert labels[0] == f"{100 * cm[0, 0] / cm[0].sum():.1f}%"
    overall = np.trace(cm) / cm.sum()
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xdata()[0] == pytest.approx(overall)


def test_per_class_accuracy_with_an_empty_class(tmp_path: Path) -> None:
    cm = np.array([[3, 1], [0, 0]])
    ax = plots.per_class_accuracy_figure(cm, ["a", "b"]).axes[0]
    assert [t.get_text() for t in ax.texts] == ["75.0%", "n/a"]


@pytest.mark.parametrize(
    ("cm", "classes", "match"),
    [
        (np.zeros((3, 4)), ["a", "b", "c"], "square"),
        (np.zeros((3, 3)), ["a", "b"], r"\(3, 3\) does not match 2 classes"),
        (np.array([[1, -1], [0, 2]]), ["a", "b"], "non-negative"),
    ],
)
def test_bad_confusion_matrix_raises(tmp_path: Path, cm, classes, match) -> None:
    with pytest.raises(LitelabError, match=match):
        plots.plot_confusion_matrix(cm, classes, tmp_path / "cm.png")
    with pytest.raises(LitelabError, match=match):
        plots.plot_per_class_accuracy(cm, classes, tmp_path / "pc.png")
    assert not list(tmp_path.iterdir())


def test_prediction_color() -> None:
    assert plots.prediction_color("cat", "cat") == plots.CORRECT_COLOR
    assert plots.prediction_color("cat", "dog") == plots.WRONG_COLOR
    assert plots.CORRECT_COLOR != plots.WRONG_COLOR


def test_prediction_grid_titles_and_colours(tmp_path: Path) -> None:
    y_true = np.array([3, 5, 0, 1, 9])
    y_pred = np.array([5, 5, 0, 9, 9])
    path = plots.plot_prediction_grid(
        images(5), y_true, y_pred, CLASSES, tmp_path / "g.png", rows=2, cols=3
    )
    assert_png(path)

    fig = plots.prediction_grid_figure(images(5), y_true, y_pred, CLASSES, rows=2, cols=3)
    axes = fig.axes
    assert len(axes) == 6
    titles = [ax.get_title() for ax in axes[:5]]
    assert titles == [
        "cat : dog",
        "dog : dog",
        "airplane : airplane",
        "automobile : truck",
        "truck : truck",
    ]
    colours = [ax.title.get_color() for ax in axes[:5]]
    right, wrong = plots.CORRECT_COLOR, plots.WRONG_COLOR
    assert colours == [wrong, right, right, wrong, right]
    assert not axes[5].axison and not axes[5].images  # blank cell
    for ax in axes[:5]:
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []


def test_prediction_grid_shows_probabilities_and_caps_at_cells() -> None:
    probs = np.full((20, 10), 0.05)
    probs[:, 2] = 0.55
    fig = plots.prediction_grid_figure(
        images(20), np.full(20, 2), np.full(20, 2), CLASSES, probs=probs
    )
    assert len(fig.axes) == 18 and all(ax.images for ax in fig.axes)
    assert fig.axes[0].get_title() == "bird : bird\n(0.55)"


def test_prediction_grid_bad_inputs() -> None:
    with pytest.raises(LitelabError, match="3 images, 2 true labels and 3 predictions"):
        plots.prediction_grid_figure(images(3), [0, 1], [0, 1, 2], CLASSES)
    with pytest.raises(LitelabError, match="class index"):
        plots.prediction_grid_figure(images(2), [0, 10], [0, 1], CLASSES)
    with pytest.raises(LitelabError, match="shape"):
        plots.prediction_grid_figure(np.zeros((2, 32, 32, 2)), [0, 1], [0, 1], CLASSES)
    with pytest.raises(LitelabError, match="probs"):
        plots.prediction_grid_figure(images(2), [0, 1], [0, 1], CLASSES, probs=np.ones((2, 3)))


def test_single_prediction(tmp_path: Path) -> None:
    path = plots.plot_single_prediction(images(1)[0], "cat", "dog", 0.87, tmp_path / "one.png")
    assert_png(path, min_side=300)  # enlarged from 32x32
    ax = plots.single_prediction_figure(images(1)[0], "cat", "dog", 0.87).axes[0]
    assert ax.get_title() == "True: cat / Predicted: dog (0.87)"
    assert ax.title.get_color() == plots.WRONG_COLOR
    assert ax.images[0].get_interpolation() == "nearest"
    right = plots.single_prediction_figure(images(1)[0] / 255.0, "cat", "cat", 0.9).axes[0]
    assert right.title.get_color() == plots.CORRECT_COLOR
    with pytest.raises(LitelabError, match="shape"):
        plots.single_prediction_figure(images(2), "cat", "cat", 0.9)


def test_overlaid_curves_each_get_their_own_colour_and_the_objective_plot_tracks_the_best():
    from litelab.plots import curves_figure, objective_figure

    fig = curves_figure({f"v{i}": [0.1 * i, 0.2, 0.3] for i in range(12)})
    colours = [tuple(line.get_color()) for line in fig.axes[0].lines]
    assert len(colours) == 12 and len(set(colours)) == 12
    fig = objective_figure(["0", "1", "2", "3"], [0.5, None, 0.7, 0.6], "val_accuracy")
    dots, best = fig.axes[0].lines
    assert list(dots.get_xdata()) == [0, 2, 3]  # the failed trial has no dot
    assert list(best.get_ydata()) == [0.5, 0.7, 0.7]
    fig = objective_figure(["0", "1"], [0.9, 0.4], "val_loss", maximize=False)
    assert list(fig.axes[0].lines[1].get_ydata()) == [0.9, 0.4]
