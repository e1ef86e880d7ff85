"""The run directory: where a run's artifacts live and how they are written.

Layout of ``runs/<timestamp>-<model>/`` (a new folder per run, never reused)::

    config.toml        everything needed to rerun (litelab run --config config.toml)
    labels.txt         class names, one per line, in output order
    model.keras        the trained model (Keras v3 format)
    model.h5           the same model as legacy HDF5
    saved_model/       TensorFlow SavedModel (model.export), for TF Serving / TFLite
    summary.txt        model.summary()
    history.csv        one row per epoch: loss, accuracy, val_loss, val_accuracy, seconds
    metrics.json       test metrics, confusion matrix, per-class report, versions
    *.png, report.md   plots and the one-page report
    logs/              TensorBoard logs
    checkpoint/        only while training: the last finished epoch, for --resume
    state.json         what the run is doing: training, saving, evaluating or finished

A run killed at any step says so in ``state.json`` (:attr:`Run.state`); its files are each
complete or absent (atomic writes), and ``litelab train --resume`` takes it from there.
"""

from __future__ import annotations

import csv
import io
import logging
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from litelab.config import RunConfig, config_from_dict, read_toml
from litelab.errors import LitelabError
from litelab.files import atomic_path, write_text

if TYPE_CHECKING:
    import keras

CONFIG_FILE = "config.toml"
LABELS_FILE = "labels.txt"
KERAS_FILE = "model.keras"
H5_FILE = "model.h5"
SAVED_MODEL_DIR = "saved_model"
MODEL_FILES = (KERAS_FILE, H5_FILE, SAVED_MODEL_DIR)
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.txt"
REPORT_FILE = "report.md"
CHECKPOINT_DIR = "checkpoint"
EXPORT_DIR = "export"
DEPLOY_DIR = "deploy"
INT8_FILE = "model_int8.tflite"
STATE_FILE = "state.json"
# What a run folder can be doing, in order; "finished" is the only complete state.
STATES = ("training", "saving", "evaluating", "finished")
# Representative images for full-int8 calibration, everywhere litelab quantizes.
REPRESENTATIVE = 500


class Run:
    """A run folder: the one authority on its files' names and on what state it is in.

    ``Run.open(path)`` checks the folder is a run; ``Run(path)`` wraps any folder (a run
    being made). Every other module asks a Run for a path instead of spelling file names.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def is_run(cls, path: str | Path) -> bool:
        """A folder litelab made by ``run`` (or ``tune``/``experiment``): it has a config."""
        path = Path(path)
        return path.is_dir() and (path / CONFIG_FILE).is_file()

    @classmethod
    def looks_like_run(cls, path: str | Path) -> bool:
        """A run folder, finished or not, or a copied one without its config."""
        path = Path(path)
        return path.is_dir() and any(
            (path / name).is_file() for name in (CONFIG_FILE, METRICS_FILE, KERAS_FILE)
        )

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """The run at ``path``; a missing folder or one that is not a run is a one-line error."""
        path = Path(path)
        if not path.exists():
            raise LitelabError(f"run folder not found: {path}")
        if not cls.is_run(path):
            raise LitelabError(f"{path} is not a litelab run folder: it has no {CONFIG_FILE}")
        return cls(path)

    # paths -------------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        return self.path / KERAS_FILE

    @property
    def h5_path(self) -> Path:
        return self.path / H5_FILE

    @property
    def saved_model_path(self) -> Path:
        return self.path / SAVED_MODEL_DIR

    @property
    def labels_path(self) -> Path:
        return self.path / LABELS_FILE

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def report_path(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def export_dir(self) -> Path:
        return self.path / EXPORT_DIR

    @property
    def deploy_dir(self) -> Path:
        return self.path / DEPLOY_DIR

    @property
    def int8_path(self) -> Path:
        """The full-int8 flatbuffer ``litelab export`` writes."""
        return self.export_dir / INT8_FILE

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    # contents ----------------------------------------------------------------------------
    @property
    def is_finished(self) -> bool:
        """Training, saving and evaluation are all done (metrics are written last)."""
        if self.state_path.is_file():
            return self.state == "finished"
        return self.metrics_path.is_file() and self.model_path.is_file()

    @property
    def state(self) -> str:
        """One of :data:`STATES` from ``state.json``; a folder without one (made before it
        existed) is "finished" when its metrics and model are there, else "incomplete"."""
        from litelab.files import read_json

        if self.state_path.is_file():
            try:
                state = read_json(self.state_path, "run state").get("state")
            except (LitelabError, AttributeError):
                state = None
            return state if state in STATES else "incomplete"
        done = self.metrics_path.is_file() and self.model_path.is_file()
        return "finished" if done else "incomplete"

    @property
    def state_info(self) -> dict[str, Any]:
        """What the last :meth:`write_state` kept beside the state (e.g. training figures)."""
        from litelab.files import read_json

        try:
            info = read_json(self.state_path, "run state")
        except LitelabError:
            return {}
        return info if isinstance(info, dict) else {}

    def drop_temporaries(self) -> list[Path]:
        """Remove the hidden ``.<name>.*.tmp*`` files or folders a killed write left (in the
        run folder and its checkpoint/); returns what was removed."""
        found = []
        for folder in (self.path, self.checkpoint_dir):
            if folder.is_dir():
                found += [
                    p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name
                ]
        for p in found:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        return found

    def write_state(self, state: str, **info: Any) -> None:
        """Record that the run entered ``state`` (atomically, before the step starts)."""
        from litelab.files import write_json

        write_json(self.state_path, {"state": state, "since": time.time(), **info})

    @property
    def config(self) -> RunConfig:
        return config_from_dict(read_toml(self.config_path))

    @property
    def data_config(self) -> Any:
        """The :class:`~litelab.config.DatasetConfig` the run was trained on."""
        return self.config.data

    @property
    def metrics(self) -> dict[str, Any]:
        from litelab.files import read_json

        return read_json(self.metrics_path, "run metrics")

    @property
    def history(self) -> dict[str, list[Any]]:
        """history.csv as columns (numbers; text where a cell is not one, e.g. ``stage``)."""
        if not self.history_path.is_file():
            raise LitelabError(f"{self.path} has no {HISTORY_FILE}: the run did not train")
        rows = list(csv.DictReader(self.history_path.read_text(encoding="utf-8").splitlines()))
        columns: dict[str, list[Any]] = {k: [] for k in (rows[0] if rows else {}) if k}
        for row in rows:
            for key, values in columns.items():
                cell = row.get(key) or ""
                try:
                    values.append(float(cell) if cell else None)
                except ValueError:
                    values.append(cell)
        return columns

    def labels(self, num_outputs: int | None = None) -> list[str]:
        """Class names in output order (checked against ``num_outputs`` when given)."""
        if num_outputs is None:
            if not self.labels_path.is_file():
                raise LitelabError(f"labels file not found: {self.labels_path}")
            text = self.labels_path.read_text(encoding="utf-8")
            return [s.strip() for s in text.splitlines() if s.strip()]
        return read_labels(self.labels_path, num_outputs)

    def write_config(self, config: RunConfig) -> Path:
        write_text(self.config_path, tomli_w.dumps(config.to_dict()))
        return self.config_path

    def write_labels(self, classes: list[str]) -> Path:
        write_text(self.labels_path, "\n".join(classes) + "\n")
        return self.labels_path


def model_labels(
    model_path: str | Path, num_outputs: int, labels_file: str | Path | None = None
) -> list[str]:
    """Class names for any model file: ``labels_file``, else the labels.txt beside it (or
    inside a SavedModel/run folder), else CIFAR-10's for 10 outputs, else class_0..."""
    if labels_file:
        return read_labels(labels_file, num_outputs)
    model_path = Path(model_path)
    for path in (model_path.parent / LABELS_FILE, model_path / LABELS_FILE):
        if path.is_file():
            return read_labels(path, num_outputs)
    return default_labels(num_outputs)


def new_run_dir(
    runs_dir: str | Path, model_name: str, now: float | None = None, name: str | None = None
) -> Path:
    """Create and return a fresh ``<runs_dir>/<timestamp>-<model>`` folder.

    An existing folder is never reused: a clash gets a ``-2``, ``-3``... suffix. With
    ``name`` the folder is exactly ``<runs_dir>/<name>``, and an existing one is an error.
    """
    if name is not None:
        runs_dir = _make_parent(runs_dir)
        try:
            (runs_dir / name).mkdir()
        except FileExistsError:
            raise LitelabError(f"{runs_dir / name} already exists; not overwriting it") from None
        return runs_dir / name
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return new_folder(runs_dir, f"{stamp}-{model_name}")


def new_folder(parent: str | Path, base: str) -> Path:
    """Create ``<parent>/<base>``, or ``<base>-2``, ``-3``... if taken; never reuse one."""
    parent = _make_parent(parent)
    for i in range(1, 1000):
        path = parent / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise LitelabError(f"too many folders named {base} in {parent}")


def _make_parent(parent: str | Path) -> Path:
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LitelabError(f"cannot create runs folder {parent}: {exc.strerror}") from None
    return parent


def write_config(run_dir: Path, config: RunConfig) -> Path:
    """Save the resolved config as TOML."""
    return Run(run_dir).write_config(config)


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The config a run was made with."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LitelabError(f"run folder not found: {run_dir}")
    return Run(run_dir).config


def write_labels(run_dir: Path, classes: list[str]) -> Path:
    """Class names, one per line, in the model's output order."""
    return Run(run_dir).write_labels(classes)


def read_labels(path: str | Path, num_outputs: int) -> list[str]:
    """Class names from a labels file (one per line), checked against the model's outputs."""
    path = Path(path)
    if not path.is_file():
        raise LitelabError(f"labels file not found: {path}")
    names = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
    if len(names) != num_outputs:
        raise LitelabError(f"{path} lists {len(names)} classes but the model outputs {num_outputs}")
    return names


def default_labels(num_outputs: int) -> list[str]:
    """CIFAR-10's class names for a 10-way model, else class_0, class_1, ..."""
    from litelab.data import CIFAR10_CLASSES

    if num_outputs == len(CIFAR10_CLASSES):
        return list(CIFAR10_CLASSES)
    return [f"class_{i}" for i in range(num_outputs)]


def write_history(run_dir: Path, history: dict[str, list[float]]) -> Path:
    """history.csv: one row per epoch, numbered from 1."""
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in history]
    keys += sorted(k for k in history if k not in keys)
    rows = max((len(v) for v in history.values()), default=0)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(rows):
        writer.writerow([i + 1, *[history[k][i] if i < len(history[k]) else "" for k in keys]])
    path = Run(run_dir).history_path
    write_text(path, buf.getvalue())
    return path


def model_summary(model: keras.Model) -> str:
    """model.summary() as plain text.

    Call it before training: once the optimizer has built its slots, Keras counts them in
    "Total params", which is not the parameter count a user expects.
    """
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=100)
    return "\n".join(lines) + "\n"


def save_model_formats(
    run_dir: Path,
    model: keras.Model,
    names: dict[str, str] | None = None,
    formats: tuple[str, ...] = ("keras", "h5", "saved_model"),
) -> dict[str, Path]:
    """Write model.keras, model.h5 and saved_model/ (``formats``), each atomically.

    The one place litelab saves Keras' three formats; ``names`` renames the files. What is
    written is :func:`litelab.models.layers.portable` of ``model``: plain Keras loads it in
    a Python without litelab.
    """
    from litelab.models.layers import portable

    model = portable(model)
    run_dir = Path(run_dir)
    names = {"keras": KERAS_FILE, "h5": H5_FILE, "saved_model": SAVED_MODEL_DIR, **(names or {})}
    paths = {}
    if "keras" in formats:
        with atomic_path(run_dir / names["keras"]) as tmp:
            model.save(tmp)
        paths["keras"] = run_dir / names["keras"]
    if "h5" in formats:
        _save_h5(model, run_dir / names["h5"])
        paths["h5"] = run_dir / names["h5"]
    if "saved_model" in formats:
        with atomic_path(run_dir / names["saved_model"], suffix="") as tmp:
            model.export(str(tmp), format="tf_saved_model", verbose=False)
        paths["saved_model"] = run_dir / names["saved_model"]
    return paths


def _save_h5(model: keras.Model, path: Path) -> None:
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)  # the "HDF5 is legacy" notice: writing it is the point
    try:
        with atomic_path(path) as tmp:
            model.save(tmp)
    finally:
        absl_logger.setLevel(level)


def remove_checkpoint(run_dir: Path) -> None:
    """Drop the per-epoch checkpoint once the final model is safely on disk."""
    shutil.rmtree(Run(run_dir).checkpoint_dir, ignore_errors=True)


def versions() -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    import keras
    import numpy
    import tensorflow as tf

    import litelab

    return {
        "litelab": litelab.__version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": _cpu_count(),
        "argv": " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv)),
    }


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
