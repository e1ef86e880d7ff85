"""What the notebook API hands back: a :class:`Run` that shows itself, tables and verdicts.

:class:`Run` is :class:`litelab.runs.Run` (the one authority on a run folder's files) with
the steps a notebook takes next: ``plot`` (a matplotlib Figure from :mod:`litelab.plots`),
``export`` (:func:`litelab.export.exporter.export_model`, the code of ``litelab export``)
and ``deploy`` (:func:`litelab.export.deploy.deploy`, the code of ``litelab deploy``), and
a short HTML summary in Jupyter. Nothing here computes what the CLI does not.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from litelab import runs
from litelab.errors import LitelabError, one_of

PLOTS = ("curves", "loss", "confusion", "per-class", "grid")


class Table:
    """Rows of a result (dicts with the same keys) that Jupyter shows as an HTML table.

    ``rows`` are plain dicts; ``to_pandas()`` makes a DataFrame when pandas is installed;
    ``text`` (the ``repr``) is the CLI's own printout where there is one.
    """

    def __init__(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, text: str = ""
    ) -> None:
        self.rows = [dict(r) for r in rows]
        self.columns = list(columns or (self.rows[0] if self.rows else []))
        self.text = text

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> Any:
        """A row by position, or a column (a list) by name."""
        if isinstance(key, str):
            one_of("column", key, self.columns)
            return [r.get(key) for r in self.rows]
        return self.rows[key]

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise LitelabError("pandas is not installed; pip install pandas") from None

        return pd.DataFrame(self.rows, columns=self.columns)

    def __repr__(self) -> str:
        if self.text:
            return self.text
        lines = ["  ".join(self.columns)]
        lines += ["  ".join(_cell(r.get(c)) for c in self.columns) for r in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in self.columns)
            for r in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Verdict:
    """What ``litelab deploy`` found: ``fits``, ``line`` (the verdict sentence) and the whole
    result (``result``, also by key: ``verdict["arena_bytes"]``)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result

    @property
    def fits(self) -> bool:
        return bool(self.result["verdict"]["fits"])

    @property
    def line(self) -> str:
        return str(self.result["verdict"].get("line", ""))

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    def __repr__(self) -> str:
        from litelab.export.deploy import format_deploy

        return format_deploy(self.result).rstrip()

    def _repr_html_(self) -> str:
        r = self.result
        facts = {
            "target": r["target"]["name"],
            "fits": "yes" if self.fits else "no",
            "model bytes": f"{r['model_bytes']:,}",
            "arena bytes": f"{r['arena_bytes']:,}",
            "TFLM accuracy": _cell(r.get("tflm_accuracy")),
            "C sources": r.get("out", ""),
        }
        return _facts_html(facts, self.line)


class Run(runs.Run):
    """A run folder with the notebook's next steps; ``data`` (a loaded dataset) spares
    ``plot("grid")`` a reload."""

    def __init__(self, path: str | Path, data: Any = None) -> None:
        super().__init__(path)
        self.data = data

    # figures ---------------------------------------------------------------------------
    def plot(self, kind: str = "curves") -> Any:
        """A matplotlib Figure: ``curves`` (accuracy), ``loss``, ``confusion``,
        ``per-class`` or ``grid`` (test images with truth and prediction)."""
        return _inline(self._figure(kind))

    def _figure(self, kind: str) -> Any:
        from litelab import plots

        one_of("plot", kind, PLOTS)
        if kind == "curves":
            return plots.accuracy_figure(self.history)
        if kind == "loss":
            return plots.loss_figure(self.history)
        if kind == "grid":
            return self._grid_figure()
        cm = self.metrics.get("confusion_matrix")
        if cm is None:
            raise LitelabError(f"{self.path} was not evaluated: it has no confusion matrix")
        classes = self.labels()
        if kind == "confusion":
            return plots.confusion_matrix_figure(cm, classes)
        return plots.per_class_accuracy_figure(cm, classes)

    def _grid_figure(self) -> Any:
        from litelab import plots
        from litelab.data import load_dataset
        from litelab.inference import load_model, predict_probs
        from litelab.jobs import GRID_COLS, GRID_ROWS

        data = self.data
        if data is None:
            data = load_dataset(self.data_config, seed=self.config.training.seed, progress=False)
        n = min(GRID_ROWS * GRID_COLS, len(data.x_test))
        pred = predict_probs(load_model(self.model_path), data.x_test[:n]).argmax(axis=1)
        return plots.prediction_grid_figure(
            data.x_test[:n], data.y_test[:n], pred, data.classes, rows=GRID_ROWS, cols=GRID_COLS
        )

    # the next verbs ----------------------------------------------------------------------
    def export(self, formats: str | Sequence[str] = "all", quiet: bool = True, **options) -> Table:
        """``litelab export RUN``: every format written and measured; the comparison table.

        ``options`` are :func:`~litelab.export.exporter.export_model`'s (``out_dir``,
        ``representative``, ``int8_io``, ``test_limit``, ...).
        """
        from litelab.export.exporter import CSV_COLUMNS, export_model

        result = export_model(self.path, formats=formats, progress=not quiet, **options)
        return Table(result.rows, CSV_COLUMNS, text=result.table)

    def deploy(self, target: str = "esp-eye", **options) -> Verdict:
        """``litelab deploy RUN --target TARGET``: TFLite Micro check, arena, C sources.

        ``options`` are :class:`~litelab.export.deploy.DeployOptions` fields (``ram``,
        ``flash``, ``check_images``, ``out``, ...).
        """
        from litelab.export.deploy import deploy

        return Verdict(deploy(self.path, target=target, **options))

    # what Jupyter shows ---------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Model, data, accuracy, params, file sizes and deploy verdicts, as far as known."""
        out: dict[str, Any] = {"run": str(self.path)}
        m = self.metrics if self.metrics_path.is_file() else {}
        if self.config_path.is_file():
            out["model"] = self.config.training.model
        out["data"] = m.get("data_source", "")
        out["test accuracy"] = m.get("test_accuracy")
        out["params"] = m.get("params")
        for label, path in (("model.keras", self.model_path), ("int8 .tflite", self.int8_path)):
            if path.is_file():
                out[f"{label} bytes"] = path.stat().st_size
        for report in sorted(self.deploy_dir.glob("*/deploy.json")):
            try:
                verdict = json.loads(report.read_text(encoding="utf-8"))["verdict"]["line"]
            except (OSError, ValueError, KeyError):
                continue
            out[f"verdict ({report.parent.name})"] = verdict
        return out

    def _repr_html_(self) -> str:
        facts = self.summary()
        image = self.path / "accuracy.png"
        picture = ""
        if image.is_file():
            data = base64.b64encode(image.read_bytes()).decode()
            picture = f'<img src="data:image/png;base64,{data}" style="max-width:420px">'
        return _facts_html(facts, "") + picture


class Warmup:
    """A warm-up's folder (``litelab basics``): ``metrics`` (its metrics.json), ``images``
    (the PNG figures) and, in Jupyter, the figures themselves."""

    def __init__(self, path: str | Path, metrics: dict[str, Any]) -> None:
        self.path = Path(path)
        self.metrics = metrics

    @property
    def images(self) -> list[Path]:
        return sorted(self.path.glob("*.png"))

    def __repr__(self) -> str:
        return f"Warmup({str(self.path)!r})"

    def _repr_html_(self) -> str:
        pictures = "".join(
            f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"'
            ' style="max-width:420px">'
            for p in self.images
        )
        return f"<p>{html.escape(str(self.path))}</p>{pictures}"


def _inline(fig: Any) -> Any:
    """``fig`` with a ``_repr_png_``, so Jupyter shows it inline whatever the backend (the
    figures use the Agg canvas and never touch pyplot)."""
    import io

    def png() -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()

    fig._repr_png_ = png
    return fig


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _facts_html(facts: dict[str, Any], line: str) -> str:
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td>{html.escape(_cell(v))}</td></tr>"
        for k, v in facts.items()
        if v not in (None, "")
    )
    tail = f"<p>{html.escape(line)}</p>" if line else ""
    return f"<table>{rows}</table>{tail}"
