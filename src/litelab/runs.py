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
from typing import Any

import keras
import tomli_w

from litelab.config import RunConfig, config_from_dict, read_toml
from litelab.errors import LitelabError
from litelab.io import atomic_path, write_text

CONFIG_FILE = "config.toml"
LABELS_FILE = "labels.txt"
MODEL_FILES = ("model.keras", "model.h5", "saved_model")


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
    path = Path(run_dir) / CONFIG_FILE
    write_text(path, tomli_w.dumps(config.to_dict()))
    return path


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The config a run was made with."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LitelabError(f"run folder not found: {run_dir}")
    return config_from_dict(read_toml(run_dir / CONFIG_FILE))


def write_labels(run_dir: Path, classes: list[str]) -> Path:
    """Class names, one per line, in the model's output order."""
    path = Path(run_dir) / LABELS_FILE
    write_text(path, "\n".join(classes) + "\n")
    return path


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
    path = Path(run_dir) / "history.csv"
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


def save_model_formats(run_dir: Path, model: keras.Model) -> dict[str, Path]:
    """Write model.keras, model.h5 and saved_model/, each atomically."""
    run_dir = Path(run_dir)
    paths = {}
    with atomic_path(run_dir / "model.keras") as tmp:
        model.save(tmp)
    paths["keras"] = run_dir / "model.keras"
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)  # the "HDF5 is legacy" notice: writing it is the point
    try:
        with atomic_path(run_dir / "model.h5") as tmp:
            model.save(tmp)
    finally:
        absl_logger.setLevel(level)
    paths["h5"] = run_dir / "model.h5"
    with atomic_path(run_dir / "saved_model", suffix="") as tmp:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    paths["saved_model"] = run_dir / "saved_model"
    return paths


def remove_checkpoint(run_dir: Path) -> None:
    """Drop the per-epoch checkpoint once the final model is safely on disk."""
    shutil.rmtree(Path(run_dir) / "checkpoint", ignore_errors=True)


def versions() -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
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
