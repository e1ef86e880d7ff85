"""Turn a finished run into a zoo entry: weights, int8 flatbuffer, labels and a card.

The int8 model is converted here (full integer, int8 input and output, 500 representative
training images) and its accuracy is measured through TensorFlow Lite for Microcontrollers
itself, on as many test images as asked (all of them for a shipped entry), together with
the exact TFLM arena. Nothing existing is replaced unless ``replace`` is given.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from litelab.errors import LitelabError
from litelab.files import write_bytes, write_json
from litelab.zoo import CARD, INT8_FILE, KERAS_FILE, LABELS, ZooEntry, zoo_dir


def cpu_name() -> str:
    """The processor's model name (Linux), else platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(*packages: str) -> dict[str, str]:
    """Python's and each installed package's version, as a benchmark records them
    (TensorFlow installs as ``tensorflow-cpu`` here, so ``<name>-cpu`` is tried too)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in packages:
        out[pkg] = "not installed"
        for dist in (pkg, f"{pkg}-cpu"):
            try:
                out[pkg] = version(dist)
                break
            except PackageNotFoundError:
                pass
    return out


def publish(
    run_dir: str | Path,
    name: str,
    *,
    data: Any,
    goal: str,
    command: str,
    tflm_images: int | None = None,
    root: str | Path | None = None,
    replace: bool = False,
    extra: dict[str, Any] | None = None,
    progress=None,
) -> ZooEntry:
    """Write zoo entry ``name`` from ``run_dir``; ``data`` is the run's loaded Dataset.

    ``tflm_images`` caps the test images run through TFLM (None: the whole test split);
    ``progress(done, total)`` follows those Invokes (:func:`~litelab.export.tflm.check_tflm`).
    """
    from litelab.export.convert import convert, representative_images
    from litelab.export.inspect import inspect_tflite
    from litelab.export.tflm import check_tflm
    from litelab.inference import load_model
    from litelab.runs import REPRESENTATIVE, Run, read_run_config, save_model_formats, versions

    run_dir = Path(run_dir)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise LitelabError(f"zoo name {name!r}: use letters, digits, '-' and '_'")
    run = Run(run_dir)
    for needed in (run.model_path, run.metrics_path, run.labels_path, run.config_path):
        if not needed.is_file():
            raise LitelabError(f"{run_dir} is not a finished run: it has no {needed.name}")
    folder = Path(root) if root is not None else zoo_dir()
    folder = folder / name
    if folder.exists() and not replace:
        raise LitelabError(f"zoo entry {folder} exists; pass replace=True to overwrite it")

    config = read_run_config(run_dir)
    metrics = run.metrics
    model = load_model(run.model_path)
    rep = representative_images(data.x_train, REPRESENTATIVE, seed=config.training.seed)
    int8 = convert(model, "int8", representative=rep, input_scale=1.0, int8_io=True)
    n = len(data.x_test) if tflm_images is None else min(tflm_images, len(data.x_test))
    start = time.perf_counter()
    report = check_tflm(int8, images=data.x_test[:n], where=f"zoo:{name}", progress=progress)
    tflm_seconds = time.perf_counter() - start
    tflm_acc = float(np.mean(report.tflm_scores.argmax(axis=1) == data.y_test[:n]))
    info = inspect_tflite(int8, f"zoo:{name}")

    card = {
        "name": name,
        "goal": goal,
        "model": config.training.model,
        "data": data.source,
        "input": "RGB 32x32, pixels / 255 (0..1) for model.keras; int8 for the flatbuffer",
        "metrics": {
            "test_accuracy": metrics["test_accuracy"],
            "test_accuracy_without_tta": metrics.get(
                "test_accuracy_without_tta", metrics["test_accuracy"]
            ),
            "tta": bool(metrics.get("tta", False)),
            "num_test": metrics["num_test"],
            "int8_tflm_accuracy": round(tflm_acc, 4),
            "int8_tflm_images": n,
            "int8_tflm_vs_litert_top1_agreement": report.top1_agreement,
        },
        "sizes": {
            "params": int(model.count_params()),
            "macs": int(info["macs"]),
            "keras_bytes": None,  # filled in below, from the file written
            "int8_bytes": len(int8),
            "arena_bytes": int(report.arena_bytes),
        },
        "training": {
            "command": command,
            "seed": config.training.seed,
            "config": {k: v for k, v in config.to_dict().items() if k != "runs_dir"},
            "train_seconds": metrics.get("train_seconds"),
            "epochs_run": metrics.get("epochs_run"),
            "num_train": metrics.get("num_train"),
            "train_images_per_second": metrics.get("train_images_per_second"),
            **{k: metrics[k] for k in ("teacher", "init") if k in metrics},  # which file taught it
            "cpu": cpu_name(),
            "versions": metrics.get("versions", versions()),
        },
        "published": {"tflm_seconds": round(tflm_seconds, 1), "versions": versions()},
        **(extra or {}),
    }
    tmp = _staging(folder)
    tmp.mkdir(parents=True)
    # loaded uncompiled: weights only, no optimizer slots; litelab's layers swapped for Keras'
    save_model_formats(tmp, model, names={"keras": KERAS_FILE}, formats=("keras",))
    card["sizes"]["keras_bytes"] = (tmp / KERAS_FILE).stat().st_size
    shutil.copy2(run.labels_path, tmp / LABELS)
    write_bytes(tmp / INT8_FILE, int8)
    write_json(tmp / CARD, card)
    _swap_in(tmp, folder)
    return ZooEntry(name, folder, card)


def measure_flip_tta(
    name: str,
    *,
    data: Any,
    root: str | Path | None = None,
    tflm_images: int | None = None,
    write: bool = True,
    progress=None,
) -> dict[str, Any]:
    """Measure entry ``name``'s shipped int8 file through TFLM with and without flip TTA.

    Flip TTA on the board is what ``litelab deploy --flip-tta`` generates: a second Invoke on
    the frame's mirror image and the mean of the two outputs (twice the latency, the same
    arena and flatbuffer). The single pass is measured again on the same images and must give
    the card's ``int8_tflm_accuracy``, or the file is not the one the card describes.
    ``progress(done, total)`` is check_tflm's, over the Invokes of both passes. With
    ``write`` the card gets ``int8_tflm_accuracy_flip_tta`` beside it (swapped in by renames,
    the model files untouched). Returns the figures.
    """
    from litelab.export.inspect import inspect_tflite
    from litelab.export.tflm import check_tflm
    from litelab.runs import versions
    from litelab.zoo import get_entry

    folder = Path(root) / name if root is not None else get_entry(name).folder
    card_path, int8_path = folder / CARD, folder / INT8_FILE
    if not card_path.is_file() or not int8_path.is_file():
        raise LitelabError(f"zoo entry {folder} has no {CARD} or {INT8_FILE}")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    metrics = card.setdefault("metrics", {})
    n = len(data.x_test) if tflm_images is None else min(tflm_images, len(data.x_test))
    start = time.perf_counter()
    int8 = int8_path.read_bytes()
    report = check_tflm(
        int8, images=data.x_test[:n], where=f"zoo:{name}", flip_tta=True, progress=progress
    )
    seconds = time.perf_counter() - start
    y = data.y_test[:n]
    plain = float(np.mean(report.tflm_scores.argmax(axis=1) == y))
    tta = float(np.mean(report.tflm_tta_scores.argmax(axis=1) == y))
    result = {
        "name": name,
        "images": n,
        "int8_tflm_accuracy": round(plain, 4),
        "int8_tflm_accuracy_flip_tta": round(tta, 4),
        "card_int8_tflm_accuracy": metrics.get("int8_tflm_accuracy"),
        "tflm_seconds": round(seconds, 1),
        "int8_bytes": len(int8),
        "arena_bytes": int(report.arena_bytes),
        "macs": int(inspect_tflite(int8, f"zoo:{name}")["macs"]),
    }
    if metrics.get("int8_tflm_images") == n and metrics.get("int8_tflm_accuracy") != round(
        plain, 4
    ):
        raise LitelabError(
            f"zoo:{name}: TFLM now gives {plain:.4f} on the card's {n} images, the card says "
            f"{metrics.get('int8_tflm_accuracy')}: the int8 file is not the one it describes"
        )
    if write:
        metrics["int8_tflm_accuracy_flip_tta"] = result["int8_tflm_accuracy_flip_tta"]
        metrics["int8_tflm_flip_tta_images"] = n
        card["flip_tta"] = {
            "note": "int8 through TFLM with two Invokes per image (the image and its mirror), "
            "scores averaged: what `litelab deploy --flip-tta` builds for the board; twice "
            "the latency, the same flatbuffer and arena",
            "tflm_seconds": result["tflm_seconds"],
            "versions": versions(),
        }
        tmp = _staging(folder)
        shutil.copytree(folder, tmp)
        write_json(tmp / CARD, card)
        _swap_in(tmp, folder)
    return result


def republish_portable(name: str, *, root: str | Path | None = None) -> ZooEntry:
    """Rewrite entry ``name``'s model.keras as plain Keras loads it (see
    :func:`litelab.models.layers.portable`): the same weights and outputs, no litelab class
    named inside. The int8 flatbuffer and labels are kept byte for byte; the card gets the
    new ``keras_bytes`` and a ``portable_keras`` note. Swapped in by renames, as publish does.
    """
    from litelab.inference import load_model
    from litelab.runs import save_model_formats, versions
    from litelab.zoo import get_entry

    folder = Path(root) / name if root is not None else get_entry(name).folder
    if not (folder / CARD).is_file() or not (folder / KERAS_FILE).is_file():
        raise LitelabError(f"zoo entry {folder} has no {CARD} or {KERAS_FILE}")
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    model = load_model(folder / KERAS_FILE)
    tmp = _staging(folder)
    shutil.copytree(folder, tmp)
    save_model_formats(tmp, model, names={"keras": KERAS_FILE}, formats=("keras",))
    card.setdefault("sizes", {})["keras_bytes"] = (tmp / KERAS_FILE).stat().st_size
    card["portable_keras"] = {
        "note": "model.keras names only standard Keras classes: keras.models.load_model "
        "reads it without litelab (litelab's fused BatchNorm saved as BatchNormalization)",
        "versions": versions(),
    }
    write_json(tmp / CARD, card)
    _swap_in(tmp, folder)
    return ZooEntry(name, folder, card)


def _staging(folder: Path) -> Path:
    """``<entry>.tmp`` beside the entry, where a new version is written before
    :func:`_swap_in`; one a crash left behind is removed first."""
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    return tmp


def _swap_in(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by ``tmp`` by renames: a crash leaves the old entry or the new one."""
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)
