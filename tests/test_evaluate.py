"""Metrics against hand-computed values, top-k, and the Markdown report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from litelab.errors import LitelabError
from litelab.evaluate import compute_metrics, cross_entropy, most_confused, topk, write_report

CLASSES3 = ["cat", "dog", "frog"]


def one_hot_probs(pred: list[int], num_classes: int, p: float = 0.8) -> np.ndarray:
    """Probabilities whose argmax is ``pred``: ``p`` on it, the rest spread evenly."""
    probs = np.full((len(pred), num_classes), (1 - p) / (num_classes - 1))
    probs[np.arange(len(pred)), pred] = p
    return probs


def test_three_class_metrics_match_hand_computed_values() -> None:
    # true:  cat cat cat dog dog frog
    # pred:  cat cat dog dog frog frog
    y_true = np.array([0, 0, 0, 1, 1, 2])
    pred = [0, 0, 1, 1, 2, 2]
    m = compute_metrics(y_true, one_hot_probs(pred, 3), CLASSES3)

    assert m["test_accuracy"] == pytest.approx(4 / 6)
    assert m["num_test"] == 6
    assert m["classes"] == CLASSES3
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # cat: P = 2/2, R = 2/3; dog: P = 1/2, R = 1/2; frog: P = 1/2, R = 1/1
    cat, dog, frog = (m["per_class"][c] for c in CLASSES3)
    assert cat["precision"] == pytest.approx(1.0)
    assert cat["recall"] == pytest.approx(2 / 3)
    assert cat["f1"] == pytest.approx(0.8)
    assert cat["support"] == 3
    assert cat["accuracy"] == cat["recall"]
    assert dog["precision"] == pytest.approx(0.5) and dog["recall"] == pytest.approx(0.5)
    assert dog["f1"] == pytest.approx(0.5)
    assert frog["precision"] == pytest.approx(0.5) and frog["recall"] == pytest.approx(1.0)
    assert frog["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert "top3_accuracy" not in m  # only for more than 3 classes
    # The loss from probabilities: -mean(log p_true); p_true is 0.8 when right, 0.1 when wrong.
    assert m["test_loss"] == pytest.approx(-(4 * math.log(0.8) + 2 * math.log(0.1)) / 6)


def test_metrics_are_json_ready_plain_python() -> None:
    m = compute_metrics(np.array([0, 1, 2, 1]), one_hot_probs([0, 1, 1, 1], 3), CLASSES3)
    assert json.loads(json.dumps(m)) == m
    assert type(m["test_accuracy"]) is float and type(m["num_test"]) is int
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)


def test_given_loss_is_used_as_is() -> None:
    m = compute_metrics(np.array([0, 1]), one_hot_probs([0, 1], 3), CLASSES3, loss=1.25)
    assert m["test_loss"] == 1.25


def test_cross_entropy_clips_zero_probabilities() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = cross_entropy(np.array([0, 2]), probs)
    assert loss == pytest.approx(-(math.log(1 - 1e-7) + math.log(1e-7)) / 2)
    assert math.isfinite(loss)


def test_absent_class_still_has_a_row_and_zero_scores() -> None:
    classes = ["a", "b", "c", "d"]
    m = compute_metrics(np.array([0, 0, 1, 1]), one_hot_probs([0, 1, 1, 1], 4), classes)
    cm = m["confusion_matrix"]
    assert len(cm) == 4 and all(len(row) == 4 for row in cm)
    assert cm[2] == [0, 0, 0, 0] and cm[3] == [0, 0, 0, 0]
    assert m["per_class"]["c"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "accuracy": 0.0,
    }
    # macro F1 over the classes that occur (a and b), not diluted by the absent ones
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_top3_accuracy() -> None:
    classes = list("abcde")
    probs = np.array(
        [
            [0.5, 0.2, 0.15, 0.1, 0.05],  # true 2: rank 3 -> in top 3
            [0.5, 0.2, 0.15, 0.1, 0.05],  # true 3: rank 4 -> not
            [0.1, 0.6, 0.1, 0.1, 0.1],  # true 1: rank 1
            [0.1, 0.1, 0.1, 0.2, 0.5],  # true 0: tied at 0.1 with 1 and 2; stable order -> rank 3
        ]
    )
    m = compute_metrics(np.array([2, 3, 1, 0]), probs, classes)
    assert m["test_accuracy"] == pytest.approx(0.25)
    assert m["top3_accuracy"] == pytest.approx(0.75)


def test_one_hot_labels_are_accepted() -> None:
    y = np.eye(3)[[0, 1, 2]]
    m = compute_metrics(y, one_hot_probs([0, 1, 1], 3), CLASSES3)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


@pytest.mark.parametrize(
    ("y", "probs", "match"),
    [
        (np.array([0, 1]), np.zeros((2, 4)), r"\(n, 3\).*\(2, 4\)"),  # wrong number of columns
        (np.array([0, 1]), np.zeros(3), r"\(3,\)"),  # 1-D probs
        (np.array([0, 1, 2]), np.full((2, 3), 1 / 3), r"\(3,\).*\(2, 3\)"),  # length mismatch
        (np.array([0, 5]), np.full((2, 3), 1 / 3), "out of range"),
        (np.array([0.5, 1]), np.full((2, 3), 1 / 3), "integer"),
        (np.array([0, 1]), np.array([[np.nan, 0.5, 0.5], [0.2, 0.4, 0.4]]), "NaN"),
    ],
)
def test_bad_shapes_raise_one_line_errors(y: np.ndarray, probs: np.ndarray, match: str) -> None:
    with pytest.raises(LitelabError, match=match) as info:
        compute_metrics(y, probs, CLASSES3)
    assert "\n" not in str(info.value)


def test_empty_test_set_is_an_error() -> None:
    with pytest.raises(LitelabError, match="empty"):
        compute_metrics(np.array([], dtype=int), np.zeros((0, 3)), CLASSES3)


def test_topk_order_and_values() -> None:
    row = np.array([0.1, 0.5, 0.05, 0.3, 0.05])
    classes = ["a", "b", "c", "d", "e"]
    assert topk(row, classes) == [("b", 0.5), ("d", 0.3), ("a", 0.1)]
    assert topk(row, classes, k=1) == [("b", 0.5)]
    assert [c for c, _ in topk(row, classes, k=10)] == ["b", "d", "a", "c", "e"]
    assert all(type(p) is float for _, p in topk(row, classes))
    with pytest.raises(LitelabError):
        topk(row, classes[:3])
    with pytest.raises(LitelabError):
        topk(row, classes, k=0)


def test_most_confused_pairs() -> None:
    cm = [[5, 1, 7], [3, 9, 0], [0, 7, 2]]
    expected = [("cat", "frog", 7), ("frog", "dog", 7), ("dog", "cat", 3)]  # ties: row order
    assert most_confused(cm, CLASSES3) == expected
    assert most_confused(np.eye(3) * 4, CLASSES3) == []
    with pytest.raises(LitelabError):
        most_confused(cm, ["x", "y"])


# --------------------------------------------------------------------------- report

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_metrics() -> dict:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 20)
    pred = y.copy()
    pred[y == 3] = np.where(np.arange(20) < 9, 5, 3)  # plant: 9 cats predicted as dog
    pred[np.flatnonzero(y == 9)[:2]] = 1  # 2 trucks as automobile
    probs = one_hot_probs(pred.tolist(), 10, p=0.7) + rng.uniform(0, 0.01, (200, 10))
    return compute_metrics(y, probs, CIFAR)


def test_report_contains_the_essentials(tmp_path) -> None:
    metrics = cifar_metrics()
    metrics.update(
        params=122570,
        train_seconds=75.4,
        epochs_run=12,
        versions={"tensorflow": "2.21.0", "keras": "3.15.1"},
    )
    config = {
        "runs_dir": "runs",
        "data": {"source": "cifar10", "val_split": 0.2, "train_limit": None},
        "training": {"model": "baseline", "epochs": 12, "augment": ["flip", "shift"]},
    }
    images = {"Accuracy": "accuracy.png", "Confusion matrix": "plots/confusion matrix.png"}
    path = write_report(
        tmp_path,
        metrics,
        config,
        title="baseline on CIFAR-10",
        images=images,
        extra={"note": "a | pipe"},
    )
    assert path == tmp_path / "report.md"
    text = path.read_text(encoding="utf-8")

    assert text.startswith("# baseline on CIFAR-10\n")
    assert f"{100 * metrics['test_accuracy']:.2f}%" == "94.50%"
    assert "94.50%" in text
    assert "![Accuracy](accuracy.png)" in text
    assert "![Confusion matrix](<plots/confusion matrix.png>)" in text
    for name in CIFAR:
        assert f"| {name} |" in text  # per-class row
        assert f"**{name}**" in text  # confusion-matrix row
    lines = text.splitlines()
    pairs = lines[lines.index("## Most confused pairs") + 2 :]
    assert pairs[0] == "1. cat → dog: 9 (45.0% of cat)"
    assert pairs[1] == "2. truck → automobile: 2 (10.0% of truck)"
    assert "122,570" in text and "1 min 15 s" in text and "| Epochs run | 12 |" in text
    assert "`source` | cifar10" in text and "flip, shift" in text
    assert "| tensorflow | 2.21.0 |" in text
    assert "a \\| pipe" in text
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file


def test_report_with_only_the_required_keys(tmp_path) -> None:
    metrics = {
        "test_accuracy": 0.5,
        "classes": ["x", "y"],
        "confusion_matrix": [[1, 1], [0, 0]],
        "per_class": {"x": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2}},
    }
    text = write_report(tmp_path, metrics, {}, title="t", images={}).read_text()
    assert "50.00%" in text and "x → y: 1" in text
    assert "| y | — | — | — | — |" in text  # missing per-class entry renders as dashes
    assert "Versions" not in text and "Plots" not in text


def test_report_rejects_incomplete_metrics(tmp_path) -> None:
    with pytest.raises(LitelabError, match="confusion_matrix"):
        write_report(
            tmp_path,
            {"test_accuracy": 1.0, "classes": ["a"], "per_class": {}},
            {},
            title="t",
            images={},
        )
    assert not (tmp_path / "report.md").exists()
