"""What ``litelab serve`` knows about the runs folder and the zoo, as plain JSON-ready dicts.

A run is any folder under the runs root (at most :data:`MAX_DEPTH` levels down, so tuning
searches' ``best/`` and experiment variants count) that holds a ``config.toml``, a
``metrics.json`` or a ``model.keras``. Its id is its path relative to the root, with ``/``
separators. A run that is still being written, or was killed, is listed with its ``state``
(training, saving, evaluating, incomplete) and ``complete: false``, never as an error:
every file it lacks, or that vanishes while it is read, is treated as absent.

Ids are never joined onto a path: a request names an id, and the id is looked up in the
set this module found by walking the root (symlinks that lead outside it are skipped). An
id that is not in that set is "no such run", whatever dots or slashes it holds, so a
request cannot reach a file outside the runs folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litelab.errors import LitelabError
from litelab.runs import Run

MAX_DEPTH = 3
# Folders inside a run that are never runs themselves, and are not worth walking.
SKIP_DIRS = frozenset({"export", "deploy", "logs", "saved_model", "checkpoint", "trials"})
FORMATS = ("keras", "tflite-float32", "tflite-int8")
FORMAT_LABELS = {
    "keras": "Keras (.keras)",
    "tflite-float32": "TFLite float32",
    "tflite-int8": "TFLite int8",
}
FLOAT_TFLITE = Path("export") / "model_float32.tflite"
INT8_TFLITE = Path("export") / "model_int8.tflite"
# The pictures a run page may show, in page order: served name -> (file in the run, caption).
RUN_IMAGES = {
    "accuracy.png": ("accuracy.png", "Accuracy (train vs validation)"),
    "loss.png": ("loss.png", "Loss (train vs validation)"),
    "confusion_matrix.png": ("confusion_matrix.png", "Confusion matrix (test set)"),
    "per_class_accuracy.png": ("per_class_accuracy.png", "Per-class accuracy"),
    "predictions_grid.png": ("predictions_grid.png", "Test images, truth : predicted"),
    "random_prediction.png": ("random_prediction.png", "One random test image"),
    "comparison.png": ("export/comparison.png", "Export formats compared"),
}


class NotFound(LitelabError):
    """A run, zoo model, format or file the request named does not exist."""


@dataclass(frozen=True)
class ModelRef:
    """A model the classify page can use: a run or a zoo entry, and its files by format."""

    kind: str  # "run" or "zoo"
    name: str  # run id or zoo name
    folder: Path
    keras: Path | None
    tflite: dict[str, Path]  # format -> existing .tflite file
    labels: Path | None

    @property
    def key(self) -> str:
        return f"zoo:{self.name}" if self.kind == "zoo" else self.name

    def formats(self) -> list[str]:
        """Formats this model can run in; float TFLite is converted from Keras when absent."""
        out = []
        if self.keras is not None:
            out.append("keras")
        if "tflite-float32" in self.tflite or self.keras is not None:
            out.append("tflite-float32")
        if "tflite-int8" in self.tflite:
            out.append("tflite-int8")
        return out


class Catalog:
    """The runs under one root folder, found anew on each call (runs appear while serving)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    # ------------------------------------------------------------------ finding runs
    def run_dirs(self) -> dict[str, Path]:
        """Run id -> folder, for every run under the root."""
        found: dict[str, Path] = {}
        if not self.root.is_dir():
            return found
        self._walk(self.root, 0, found)
        return found

    def _walk(self, folder: Path, depth: int, found: dict[str, Path]) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or child.name in SKIP_DIRS:
                continue
            real = child.resolve()
            if not real.is_relative_to(self.root):
                continue  # a symlink out of the runs folder is not served
            if Run.looks_like_run(child):
                found[child.relative_to(self.root).as_posix()] = real
            elif depth + 1 < MAX_DEPTH:
                self._walk(child, depth + 1, found)

    def run_dir(self, run_id: str) -> Path:
        """The folder of ``run_id``; an id that is not a run found under the root is NotFound."""
        folder = self.run_dirs().get(run_id)
        if folder is None:
            raise NotFound(f"no run {run_id!r} in {self.root}")
        return folder

    # ------------------------------------------------------------------ summaries
    def summaries(self) -> list[dict[str, Any]]:
        """One row per run, newest first."""
        rows = [self.summary(rid, folder) for rid, folder in self.run_dirs().items()]
        rows.sort(key=lambda r: (r["date"] or "", r["id"]), reverse=True)
        return rows

    def summary(
        self, run_id: str, folder: Path, files: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The runs-list row of one run; ``files`` is :func:`read_run_files` when already read."""
        files = files or read_run_files(folder)
        metrics, config = files["metrics"], files["config"]
        ref = self.run_ref(run_id, folder)
        int8_bytes = None
        for row in (files["export"] or {}).get("rows", []):
            if row.get("format") == "tflite-int8":
                int8_bytes = row.get("size_bytes")
        if int8_bytes is None and "tflite-int8" in ref.tflite:
            int8_bytes = ref.tflite["tflite-int8"].stat().st_size
        date = dt.datetime.fromtimestamp(finished_at(folder)).isoformat(timespec="seconds")
        model = metrics.get("model") or config.get("training", {}).get("model")
        if model is None and metrics.get("model_path"):
            model = Path(str(metrics["model_path"])).name
        return {
            "id": run_id,
            "model": model,
            "data": metrics.get("data_source") or config.get("data", {}).get("source"),
            "date": date,
            "test_accuracy": metrics.get("test_accuracy"),
            "params": metrics.get("params"),
            "int8_bytes": int8_bytes,
            "epochs": metrics.get("epochs_run"),
            "verdicts": deploy_verdicts(files["deploy"]),
            "formats": ref.formats(),
            "state": files["state"],
            "complete": files["state"] == "finished",
        }

    def detail(self, run_id: str) -> dict[str, Any]:
        """Everything the run page shows: metrics, curves, config, export table, verdicts."""
        folder = self.run_dir(run_id)
        files = read_run_files(folder)
        out = self.summary(run_id, folder, files)
        metrics = dict(files["metrics"])
        out["versions"] = metrics.pop("versions", None)
        out["metrics"] = metrics
        out["history"] = read_history(Run(folder).history_path)
        out["config"] = files["config"]
        export = files["export"]
        out["export"] = None
        if export is not None:
            out["export"] = {
                k: export.get(k)
                for k in ("rows", "data_source", "num_test", "latency_note", "params_note")
            }
        out["deploy"] = files["deploy"]
        out["images"] = [
            {"name": name, "caption": caption}
            for name, (rel, caption) in RUN_IMAGES.items()
            if (folder / rel).is_file()
        ]
        return out

    def image(self, run_id: str, name: str) -> Path:
        """One of the run's pictures; only names in :data:`RUN_IMAGES` are ever served."""
        if name not in RUN_IMAGES:
            raise NotFound(f"run {run_id!r} has no picture {name!r}")
        path = self.run_dir(run_id) / RUN_IMAGES[name][0]
        if not path.is_file():
            raise NotFound(f"run {run_id!r} has no picture {name!r}")
        return path

    # ------------------------------------------------------------------ models
    def run_ref(self, run_id: str, folder: Path | None = None) -> ModelRef:
        folder = folder or self.run_dir(run_id)
        tflite = {}
        for fmt, rel in (("tflite-float32", FLOAT_TFLITE), ("tflite-int8", INT8_TFLITE)):
            if (folder / rel).is_file():
                tflite[fmt] = folder / rel
        keras = Run(folder).model_path
        labels = Run(folder).labels_path
        return ModelRef(
            "run",
            run_id,
            folder,
            keras if keras.is_file() else None,
            tflite,
            labels if labels.is_file() else None,
        )

    def zoo(self) -> list[dict[str, Any]]:
        """The shipped models, with their card figures and formats."""
        from litelab import zoo

        out = []
        for e in zoo.entries():
            ref = zoo_ref(e.name)
            metrics = e.card.get("metrics", {})
            out.append(
                {
                    "id": ref.key,
                    "name": e.name,
                    "goal": e.card.get("goal", ""),
                    "model": e.card.get("model", ""),
                    "test_accuracy": metrics.get("test_accuracy"),
                    "formats": ref.formats(),
                }
            )
        return out

    def model_ref(self, name: str | None) -> ModelRef:
        """``zoo:<name>``, a run id, or (None) the newest run that has a model."""
        if name and name.startswith("zoo:"):
            return zoo_ref(name[4:])
        if name:
            return self.run_ref(name)
        # Newest by the same date the runs list sorts on, without reading every run's JSON.
        runs = sorted(
            self.run_dirs().items(), key=lambda kv: (finished_at(kv[1]), kv[0]), reverse=True
        )
        for run_id, folder in runs:
            ref = self.run_ref(run_id, folder)
            if ref.formats():
                return ref
        raise NotFound(f"no run with a model in {self.root}; train one with `litelab run`")


def zoo_ref(name: str) -> ModelRef:
    from litelab import zoo

    try:
        entry = zoo.get_entry(name)
    except LitelabError as exc:
        raise NotFound(str(exc)) from None
    tflite = {"tflite-int8": entry.int8_path} if entry.int8_path.is_file() else {}
    keras = entry.keras_path if entry.keras_path.is_file() else None
    labels = entry.folder / zoo.LABELS
    return ModelRef("zoo", name, entry.folder, keras, tflite, labels if labels.is_file() else None)


# ---------------------------------------------------------------------- reading files
def read_run_files(folder: Path) -> dict[str, Any]:
    """What a run's page and row are made of, each file read once: metrics.json, config.toml,
    export/comparison.json (None when not exported) and the deploy reports."""
    return {
        "metrics": read_json(Run(folder).metrics_path) or {},
        "config": read_toml_quiet(Run(folder).config_path),
        "export": read_json(folder / "export" / "comparison.json"),
        "deploy": deploy_reports(folder),
        "state": Run(folder).state,
    }


def finished_at(folder: Path) -> float:
    """When a run finished: its metrics.json's time, else its model.keras's; an interrupted
    run (neither yet) counts from its config.toml, else the folder itself."""
    run = Run(folder)
    for stamp in (run.metrics_path, run.model_path, run.config_path, folder):
        try:
            return stamp.stat().st_mtime
        except OSError:  # absent, or removed while we looked
            continue
    return 0.0


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_toml_quiet(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_history(path: Path) -> dict[str, list[Any]] | None:
    """history.csv as columns: numbers where they parse, else the text (the stage column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return None
    columns: dict[str, list[Any]] = {k: [] for k in rows[0] if k}
    for row in rows:
        for key in columns:
            value = row.get(key, "")
            try:
                columns[key].append(float(value) if value not in ("", None) else None)
            except ValueError:
                columns[key].append(value)
    return columns


def deploy_reports(folder: Path) -> list[dict[str, Any]]:
    """Each ``deploy/<target>/deploy.json`` of a run: the target, verdict and figures."""
    from litelab.export.deploy import REPORT_FILE

    reports = []
    deploy_dir = folder / "deploy"
    if not deploy_dir.is_dir():
        return reports
    for target_dir in sorted(p for p in deploy_dir.iterdir() if p.is_dir()):
        report = read_json(target_dir / REPORT_FILE)
        if report is None or "verdict" not in report:
            continue
        keep = (
            "verdict",
            "model_bytes",
            "arena_bytes",
            "macs",
            "quantization",
            "top1_agreement",
            "tflm_accuracy",
            "images_checked",
            "target",
        )
        reports.append({k: report.get(k) for k in keep})
    return reports


def deploy_verdicts(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The short form of :func:`deploy_reports`, for the runs list."""
    return [
        {
            "target": r["verdict"].get("target"),
            "fits": r["verdict"].get("fits"),
            "tier": r["verdict"].get("tier"),
            "line": r["verdict"].get("line"),
        }
        for r in reports
        if isinstance(r.get("verdict"), dict)
    ]
