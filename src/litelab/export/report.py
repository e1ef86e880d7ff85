"""Writing an export's comparison: CSV, JSON, a text or Markdown table, and the figure."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from litelab.errors import LitelabError
from litelab.files import markdown_table, write_json, write_text
from litelab.runs import LABELS_FILE

KERAS_FORMATS = ("keras", "h5", "saved_model")
CSV_FILE = "comparison.csv"
JSON_FILE = "comparison.json"
FIGURE_FILE = "comparison.png"
REPORT_FILES = (CSV_FILE, JSON_FILE, FIGURE_FILE, LABELS_FILE)
CSV_COLUMNS = (
    "format",
    "file",
    "size_bytes",
    "size_kb",
    "params",
    "test_accuracy",
    "accuracy_change",
    "agreement",
    "latency_ms_median",
    "note",
)
PARAMS_NOTE = (
    "params is the Keras model's parameter count on every row: TFLite has no parameter API"
)
TABLE_HEADER = ("format", "file", "size KB", "params", "accuracy", "change pp", "agree %", "ms")
TABLE_NOTES = (
    "params: the Keras model's count on every row (TFLite has no parameter API)",
    "change: accuracy points vs the in-memory Keras model; agree: same class as",
    "Keras, % of test images; ms: host batch-1 median latency",
)


def latency_note(repeats: int) -> str:
    """How the latency column was measured, for comparison.json."""
    return (
        f"host CPU, batch 1, median of {repeats} calls after warm-up: LiteRT "
        "invoke (its default thread count) for TFLite; model(x, training=False) for the "
        "Keras formats, which runs eagerly layer by layer for .keras/.h5 (Python "
        "overhead dominates at batch 1) but as one traced graph for the SavedModel"
    )


def write_report(
    out: Path,
    *,
    rows: list[dict[str, Any]],
    classes: list[str],
    summary: dict[str, Any],
    title: str,
) -> str:
    """labels.txt, comparison.csv, comparison.json and comparison.png in ``out``; returns
    the text table."""
    write_text(out / LABELS_FILE, "\n".join(classes) + "\n")
    table = format_table(rows)
    write_text(out / CSV_FILE, rows_to_csv(rows))
    write_json(out / JSON_FILE, summary)
    plot_comparison(rows, out / FIGURE_FILE, title=title)
    return table


def _table_cells(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    def num(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return [
        (
            r["format"],
            r["file"],
            f"{r['size_kb']:,.1f}",
            f"{r['params']:,}",
            num(r["test_accuracy"], ".4f"),
            num(r["accuracy_change"], "+.2f"),
            num(r["agreement"], ".2f"),
            num(r["latency_ms_median"], ".3f"),
        )
        for r in rows
    ]


def format_markdown(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table, with the notes under it."""
    lines = markdown_table(list(TABLE_HEADER), [list(c) for c in _table_cells(rows)], "llrrrrrr")
    return "\n".join([*lines, "", *TABLE_NOTES])


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """The comparison rows as CSV text (empty cells where there was no test data)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return buf.getvalue()


def format_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as an aligned text table, with the params note under it."""
    header = TABLE_HEADER
    body = _table_cells(rows)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = []
    for cells in (header, *body):
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.extend(TABLE_NOTES)
    return "\n".join(lines)


def comparison_figure(rows: list[dict[str, Any]], title: str = "litelab export") -> Any:
    """Two panels: file size per format (KB, log scale) and test accuracy per format."""
    from litelab.plots import new_figure

    if not rows:
        raise LitelabError("no formats to plot")
    names = [r["format"] for r in rows]
    colors = ["#1f77b4" if n in KERAS_FORMATS else "#ff7f0e" for n in names]
    fig = new_figure(11.0, 4.4)
    ax_size, ax_acc = fig.subplots(1, 2)
    y = np.arange(len(rows))
    sizes = [max(r["size_kb"], 1e-3) for r in rows]
    ax_size.barh(y, sizes, color=colors)
    ax_size.set_xscale("log")
    ax_size.set_yticks(y, names)
    ax_size.invert_yaxis()
    ax_size.set_xlabel("File size (KB, log scale)")
    ax_size.set_title("Size")
    for yi, s in zip(y, sizes, strict=True):
        ax_size.text(s, yi, f" {s:,.0f}" if s >= 10 else f" {s:.2g}", va="center", fontsize=8)
    ax_size.set_xlim(min(sizes) / 2, max(sizes) * 4)
    ax_size.grid(True, axis="x", alpha=0.3)
    accs = [r["test_accuracy"] for r in rows]
    if all(a is None for a in accs):
        ax_acc.text(0.5, 0.5, "no test data", ha="center", va="center", transform=ax_acc.transAxes)
        ax_acc.set_axis_off()
    else:
        vals = [np.nan if a is None else a * 100 for a in accs]
        ax_acc.barh(y, vals, color=colors)
        ax_acc.set_yticks(y, names)
        ax_acc.invert_yaxis()
        ax_acc.set_xlim(0, 100)
        ax_acc.set_xlabel("Test accuracy (%)")
        ax_acc.set_title("Accuracy")
        for yi, v in zip(y, vals, strict=True):
            if np.isfinite(v):
                ax_acc.text(v, yi, f" {v:.2f}", va="center", fontsize=8)
        ax_acc.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_comparison(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write :func:`comparison_figure` as a PNG, atomically."""
    from litelab.plots import save_figure

    return save_figure(comparison_figure(rows, title or "litelab export"), path)
