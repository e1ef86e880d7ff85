"""Test-set metrics and the one-page Markdown report of a run.

:func:`compute_metrics` turns labels and predicted probabilities into a JSON-ready dict
(plain floats, ints and lists: it goes straight into ``metrics.json``); :func:`write_report`
renders that dict, the run's config and its plots as ``report.md``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from litelab.errors import LitelabError
from litelab.files import atomic_path, markdown_table, md_cell

EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [eps, 1 - eps]

__all__ = [
    "EPSILON",
    "compute_metrics",
    "cross_entropy",
    "most_confused",
    "topk",
    "write_report",
]


# --------------------------------------------------------------------------- metrics


def _check_probs(probs: Any, num_classes: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != num_classes:
        raise LitelabError(
            f"probabilities must have shape (n, {num_classes}) for {num_classes} classes, "
            f"got {probs.shape}"
        )
    if not np.all(np.isfinite(probs)):
        raise LitelabError("probabilities contain NaN or infinite values")
    return probs


def _check_labels(y_true: Any, probs: np.ndarray) -> np.ndarray:
    """Integer labels of shape (n,); one-hot labels of the probs' shape are accepted."""
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape == probs.shape:
        y = y.argmax(axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(probs):
        raise LitelabError(
            f"labels of shape {y.shape} do not match probabilities of shape {probs.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0)):
            raise LitelabError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= probs.shape[1])
    if np.any(bad):
        raise LitelabError(f"label {int(y[bad][0])} is out of range for {probs.shape[1]} classes")
    return y


def cross_entropy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy as Keras computes it from probabilities.

    Each row is rescaled to sum to 1, clipped to ``[EPSILON, 1 - EPSILON]``, and the loss
    is ``-mean(log p[i, y_i])``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    sums = probs.sum(axis=1, keepdims=True)
    probs = np.divide(probs, sums, out=np.zeros_like(probs), where=sums > 0)
    picked = np.clip(probs[np.arange(len(y_true)), y_true], EPSILON, 1.0 - EPSILON)
    return float(-np.mean(np.log(picked)))


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    loss: float | None = None,
) -> dict[str, Any]:
    """Accuracy, loss, confusion matrix and per-class scores, as a JSON-ready dict.

    ``y_true`` holds integer class indices (one-hot is accepted too), ``probs`` the model's
    ``(n, C)`` softmax output. ``test_loss`` is ``loss`` if given, else the mean categorical
    cross-entropy of ``probs``. ``macro_*`` average over the classes that occur in the
    labels or the predictions (sklearn's default); ``top3_accuracy`` is present when C > 3.
    """
    classes = [str(c) for c in classes]
    num_classes = len(classes)
    if num_classes < 2:
        raise LitelabError(f"need at least 2 classes, got {num_classes}")
    probs = _check_probs(probs, num_classes)
    y = _check_labels(y_true, probs)
    if len(y) == 0:
        raise LitelabError("cannot compute metrics on an empty test set")
    pred = probs.argmax(axis=1)
    labels = list(range(num_classes))

    cm = confusion_matrix(y, pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0
    )
    seen = np.union1d(y, pred)  # classes present in labels or predictions
    if loss is None:
        test_loss = cross_entropy(y, probs)
    else:
        test_loss = float(loss)

    metrics: dict[str, Any] = {
        "test_accuracy": float(np.mean(pred == y)),
        "test_loss": test_loss,
        "num_test": len(y),
        "num_classes": num_classes,
        "classes": classes,
        "macro_precision": float(np.mean(precision[seen])),
        "macro_recall": float(np.mean(recall[seen])),
        "macro_f1": float(np.mean(f1[seen])),
    }
    if num_classes > 3:
        top3 = np.argsort(-probs, axis=1, kind="stable")[:, :3]
        metrics["top3_accuracy"] = float(np.mean(np.any(top3 == y[:, None], axis=1)))
    metrics["confusion_matrix"] = [[int(v) for v in row] for row in cm]
    metrics["per_class"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "accuracy": float(recall[i]),
        }
        for i, name in enumerate(classes)
    }
    return metrics


def topk(probs_row: np.ndarray, classes: list[str], k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most likely classes of one prediction, highest first (ties keep class order)."""
    row = np.asarray(probs_row, dtype=np.float64)
    if row.ndim != 1 or len(row) != len(classes):
        raise LitelabError(
            f"a probability row of shape {row.shape} does not match {len(classes)} classes"
        )
    if k < 1:
        raise LitelabError(f"k must be at least 1, got {k}")
    order = np.argsort(-row, kind="stable")[:k]
    return [(str(classes[i]), float(row[i])) for i in order]


def most_confused(cm: Any, classes: list[str], n: int = 3) -> list[tuple[str, str, int | float]]:
    """The ``n`` largest off-diagonal cells as ``(true, predicted, count)``, largest first.

    Cells with a count of 0 are left out; ties keep row-major (class) order.
    """
    matrix = np.asarray(cm)
    if matrix.ndim != 2 or matrix.shape != (len(classes), len(classes)):
        raise LitelabError(
            f"confusion matrix of shape {matrix.shape} does not match {len(classes)} classes"
        )
    off = matrix.astype(np.float64).copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:n]
    pairs = []
    for idx in flat:
        i, j = divmod(int(idx), len(classes))
        if off[i, j] > 0:
            count = matrix[i, j]
            count = int(count) if float(count).is_integer() else float(count)
            pairs.append((str(classes[i]), str(classes[j]), count))
    return pairs


# --------------------------------------------------------------------------- report


def _score(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s ({seconds:.0f} s)"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min ({seconds:.0f} s)"


def _link(target: str) -> str:
    return f"<{target}>" if any(c in target for c in " ()<>") else target


def _image_target(run_dir: Path, name: str) -> str:
    path = Path(name)
    if path.is_absolute():
        try:
            path = path.relative_to(run_dir)
        except ValueError:
            raise LitelabError(
                f"image {name} is not inside the run directory {run_dir}; give a relative name"
            ) from None
    return path.as_posix()


def _float(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _config_rows(config: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    sections = [(k, v) for k, v in config.items() if isinstance(v, dict)]
    order = {"data": 0, "training": 1}
    sections.sort(key=lambda kv: order.get(kv[0], 2))
    if scalars:
        sections.append(("run", scalars))
    for section, values in sections:
        for i, (key, value) in enumerate(values.items()):
            rows.append(
                [f"**{md_cell(section)}**" if i == 0 else "", f"`{md_cell(key)}`", md_cell(value)]
            )
    return rows


def write_report(
    run_dir: Path,
    metrics: dict[str, Any],
    config: dict[str, Any],
    *,
    title: str,
    images: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/report.md`` (atomically) and return its path.

    ``config`` is the nested run config (``{"data": {...}, "training": {...}, ...}``),
    ``images`` maps a caption to an image file name relative to ``run_dir``, and ``extra``
    holds further key/value lines shown under "Notes". Only ``test_accuracy``, ``classes``,
    ``confusion_matrix`` and ``per_class`` are required in ``metrics``.
    """
    run_dir = Path(run_dir)
    missing = [
        k for k in ("test_accuracy", "classes", "confusion_matrix", "per_class") if k not in metrics
    ]
    if missing:
        raise LitelabError(f"metrics lack {', '.join(missing)}; cannot write the report")
    classes = [str(c) for c in metrics["classes"]]
    cm = np.asarray(metrics["confusion_matrix"])
    if cm.shape != (len(classes), len(classes)):
        raise LitelabError(
            f"confusion matrix of shape {cm.shape} does not match {len(classes)} classes"
        )
    config = config or {}
    data_cfg = config.get("data") if isinstance(config.get("data"), dict) else {}

    out: list[str] = [f"# {title}", ""]
    source = metrics.get("data_source") or data_cfg.get("source")
    facts = []
    if source:
        facts.append(f"**Data:** {source}")
    if "num_test" in metrics:
        facts.append(f"**Test images:** {int(metrics['num_test']):,}")
    facts.append(f"**Classes:** {len(classes)}")
    out += [" · ".join(facts), ""]

    # Headline numbers.
    out += ["## Results", ""]
    head = [["Test accuracy", f"**{100 * float(metrics['test_accuracy']):.2f}%**"]]
    if (loss := _float(metrics, "test_loss")) is not None:
        head.append(["Test loss", f"{loss:.4f}"])
    if (top3 := _float(metrics, "top3_accuracy")) is not None:
        head.append(["Top-3 accuracy", f"{100 * top3:.2f}%"])
    if (macro_f1 := _float(metrics, "macro_f1")) is not None:
        head.append(["Macro F1", f"{macro_f1:.4f}"])
    if metrics.get("params") is not None:
        head.append(["Parameters", f"{int(metrics['params']):,}"])
    if (seconds := _float(metrics, "train_seconds")) is not None:
        head.append(["Training time", _duration(seconds)])
    if metrics.get("epochs_run") is not None:
        head.append(["Epochs run", str(metrics["epochs_run"])])
    out += markdown_table(["Metric", "Value"], head, "lr") + [""]

    # Config.
    rows = _config_rows(config)
    if rows:
        out += (
            ["## Configuration", ""] + markdown_table(["Section", "Setting", "Value"], rows) + [""]
        )

    # Plots.
    if images:
        out += ["## Plots", ""]
        for caption, name in images.items():
            target = _link(_image_target(run_dir, name))
            out += [f"### {caption}", "", f"![{caption}]({target})", ""]

    # Per-class scores.
    out += ["## Per-class results", ""]
    per_rows = []
    for name in classes:
        scores = metrics["per_class"].get(name) or {}
        cells = [_score(scores.get(key)) for key in ("precision", "recall", "f1")]
        support = scores.get("support")
        per_rows.append([md_cell(name), *cells, "—" if support is None else f"{int(support):,}"])
    out += markdown_table(["Class", "Precision", "Recall", "F1", "Support"], per_rows, "lrrrr") + [
        ""
    ]

    # Confusion matrix.
    out += ["## Confusion matrix", "", "Rows are the true class, columns the predicted class.", ""]
    cm_rows = []
    for i, name in enumerate(classes):
        cells = []
        for j in range(len(classes)):
            value = cm[i, j]
            text = f"{int(value)}" if float(value).is_integer() else f"{float(value):.3g}"
            cells.append(f"**{text}**" if i == j else text)
        cm_rows.append([f"**{md_cell(name)}**", *cells])
    header = ["true \\ predicted", *(md_cell(c) for c in classes)]
    out += markdown_table(header, cm_rows, "l" + "r" * len(classes)) + [""]

    # Most confused pairs.
    out += ["## Most confused pairs", ""]
    pairs = most_confused(cm, classes, 3)
    if pairs:
        row_sums = cm.sum(axis=1)
        for rank, (true, pred, count) in enumerate(pairs, start=1):
            share = count / row_sums[classes.index(true)]
            out.append(f"{rank}. {true} → {pred}: {count:,} ({100 * share:.1f}% of {true})")
    else:
        out.append("No test image was misclassified.")
    out.append("")

    if extra:
        out += ["## Notes", ""] + [f"- **{k}:** {md_cell(v)}" for k, v in extra.items()] + [""]

    versions = metrics.get("versions")
    if isinstance(versions, dict) and versions:
        out += ["## Versions", ""]
        out += markdown_table(
            ["Package", "Version"], [[md_cell(k), md_cell(v)] for k, v in versions.items()]
        )
        out.append("")

    path = run_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out).rstrip() + "\n", encoding="utf-8")
    return path
