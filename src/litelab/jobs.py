"""The jobs behind the CLI verbs, as plain functions a notebook can call too.

- :func:`run`: data -> train -> save every format -> evaluate -> plots and report.
- :func:`evaluate_model`: any Keras model file on any data source -> metrics and plots.
- :func:`predict_files`: top-k classes for image files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from litelab import plots
from litelab.config import DatasetConfig, RunConfig
from litelab.data import Dataset, load_dataset, load_image_files
from litelab.errors import LitelabError
from litelab.evaluate import compute_metrics, write_report
from litelab.files import write_json
from litelab.inference import check_model_fits, load_model, predict_probs
from litelab.runs import (
    Run,
    new_run_dir,
    read_run_config,
    remove_checkpoint,
    save_model_formats,
    versions,
    write_config,
    write_history,
    write_labels,
)
from litelab.train import read_checkpoint_state, train
from litelab.zoo import resolve as resolve_zoo

GRID_ROWS, GRID_COLS = 3, 6


@dataclass
class RunResult:
    """Where a run's artifacts are and its headline metrics."""

    run_dir: Path
    metrics: dict[str, Any]
    model: keras.Model


def run(
    config: RunConfig | None = None,
    *,
    resume: str | Path | None = None,
    evaluate: bool = True,
    progress: bool = True,
    verbose: int | str = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
    data: Dataset | None = None,
    run_name: str | None = None,
) -> RunResult:
    """Train, save and evaluate one model; returns the run directory and metrics.

    ``resume`` continues an interrupted run from its last finished epoch (the run's own
    config is used). ``data`` lets a caller pass an already loaded dataset. ``run_name``
    names the new run folder inside ``config.runs_dir`` (it must not exist yet) instead of
    the usual ``<timestamp>-<model>``.
    """
    if resume is not None:
        run_dir = Path(resume)
        config = read_run_config(run_dir)
        if read_checkpoint_state(run_dir) is None:
            if Run(run_dir).model_path.is_file():
                raise LitelabError(f"run {run_dir} already finished; nothing to resume")
            raise LitelabError(f"nothing to resume in {run_dir}: no finished epoch was saved")
    else:
        config = config or RunConfig()
    if data is None:
        data = load_dataset(config.data, seed=config.training.seed, progress=progress)
    if data.num_classes < 2:
        raise LitelabError(f"the data has {data.num_classes} class; at least 2 are needed")
    if resume is None:  # only now: a source that fails to load leaves no empty run folder
        _preflight(config.training, data)
        run_dir = new_run_dir(config.runs_dir, config.training.model, name=run_name)
        write_config(run_dir, config)
    write_labels(run_dir, data.classes)
    result = train(
        config.training,
        data,
        run_dir,
        resume=resume is not None,
        verbose=verbose,
        callbacks=callbacks,
    )
    write_history(run_dir, result.history)
    save_model_formats(run_dir, result.model)
    remove_checkpoint(run_dir)
    images_seen = len(data.x_train) * result.epochs_run
    info = {
        "model": config.training.model,
        "params": int(result.model.count_params()),
        "train_seconds": result.train_seconds,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "train_images_per_second": round(images_seen / max(result.train_seconds, 1e-9), 1),
        "num_train": len(data.x_train),
        "num_val": len(data.x_val),
        "data_source": data.source,
    }
    if "val_accuracy" in result.history:
        info["final_val_accuracy"] = result.history["val_accuracy"][-1]
        info["best_val_accuracy"] = max(result.history["val_accuracy"])
    metrics: dict[str, Any] = dict(info)
    if evaluate:
        metrics = assess(
            result.model,
            data,
            run_dir,
            input_scale=1.0,
            extra=info,
            title=f"litelab run: {config.training.model}",
            config=config.to_dict(),
            history=result.history,
            seed=config.training.seed,
            tta=config.training.tta,
        )
    else:
        metrics["versions"] = versions()
        write_json(Run(run_dir).metrics_path, metrics)
    return RunResult(run_dir=run_dir, metrics=metrics, model=result.model)


def _preflight(cfg: Any, data: Dataset) -> None:
    """Build the model once before the run folder exists, so that a bad option value or
    weights file (missing, offline, wrong architecture) leaves nothing behind."""
    from litelab.models import build_model

    build_model(
        cfg.model, data.x_train.shape[1:], data.num_classes, cfg.activation, **cfg.model_options
    )
    keras.backend.clear_session()


def assess(
    model: keras.Model,
    data: Dataset,
    out_dir: str | Path,
    *,
    input_scale: float = 1.0,
    extra: dict[str, Any] | None = None,
    title: str = "litelab evaluation",
    config: dict[str, Any] | None = None,
    history: dict[str, list[float]] | None = None,
    seed: int = 0,
    tta: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` on the test split; write metrics.json, the plots and report.md.

    With ``tta`` the headline figures average each image with its mirror image, and
    ``test_accuracy_without_tta`` keeps the plain single-pass figure beside them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_model_fits(model, data.x_test.shape[1], data.num_classes)
    probs = predict_probs(model, data.x_test, input_scale=input_scale)
    plain_accuracy = float((probs.argmax(axis=1) == data.y_test).mean())
    if tta:
        mirrored = predict_probs(model, data.x_test[:, :, ::-1], input_scale=input_scale)
        probs = (probs + mirrored) / 2
    metrics = compute_metrics(data.y_test, probs, data.classes)
    metrics["tta"] = tta
    if tta:
        metrics["test_accuracy_without_tta"] = plain_accuracy
    metrics.update(extra or {})
    if "params" not in metrics:
        metrics["params"] = int(model.count_params())
    metrics["input_scale"] = input_scale
    metrics["versions"] = versions()
    write_json(Run(out_dir).metrics_path, metrics)

    pred = probs.argmax(axis=1)
    images: dict[str, str] = {}
    if history:
        plots.plot_accuracy(history, out_dir / "accuracy.png")
        plots.plot_loss(history, out_dir / "loss.png")
        images["Accuracy (train vs validation)"] = "accuracy.png"
        images["Loss (train vs validation)"] = "loss.png"
    cm = np.asarray(metrics["confusion_matrix"])
    plots.plot_confusion_matrix(cm, data.classes, out_dir / "confusion_matrix.png")
    plots.plot_per_class_accuracy(cm, data.classes, out_dir / "per_class_accuracy.png")
    n = min(GRID_ROWS * GRID_COLS, len(data.x_test))
    plots.plot_prediction_grid(
        data.x_test[:n],
        data.y_test[:n],
        pred[:n],
        data.classes,
        out_dir / "predictions_grid.png",
        rows=GRID_ROWS,
        cols=GRID_COLS,
    )
    i = int(np.random.default_rng(seed).integers(len(data.x_test)))
    plots.plot_single_prediction(
        data.x_test[i],
        data.classes[int(data.y_test[i])],
        data.classes[int(pred[i])],
        float(probs[i, pred[i]]),
        out_dir / "random_prediction.png",
    )
    images.update(
        {
            "Confusion matrix (test set)": "confusion_matrix.png",
            "Per-class accuracy": "per_class_accuracy.png",
            "Test images, truth : predicted": "predictions_grid.png",
            "One random test image": "random_prediction.png",
        }
    )
    write_report(out_dir, metrics, config or {}, title=title, images=images)
    return metrics


def evaluate_model(
    model_path: str | Path,
    data_config: DatasetConfig,
    out_dir: str | Path,
    *,
    input_scale: float = 1.0,
    seed: int = 42,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate any Keras model file (.keras, .h5, SavedModel) on a data source."""
    if not input_scale > 0:
        raise LitelabError(f"--input-scale must be greater than 0, got {input_scale}")
    model_path = resolve_zoo(model_path)
    model = load_model(model_path)
    check_model_fits(model, data_config.image_size, None, where=str(model_path))
    data = load_dataset(data_config, seed=seed, progress=progress)
    extra = {"model_path": str(model_path), "data_source": data.source}
    return assess(
        model,
        data,
        out_dir,
        input_scale=input_scale,
        extra=extra,
        title=f"litelab evaluate: {Path(model_path).name}",
        config={
            "data": {k: v for k, v in vars(data_config).items() if v is not None},
            "evaluate": {"model": str(model_path), "input_scale": input_scale},
        },
        seed=seed,
    )


def predict_files(
    model_path: str | Path,
    files: list[str | Path],
    *,
    top: int = 3,
    input_scale: float = 1.0,
    labels_file: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Top-``top`` classes with probabilities for each image file.

    ``model_path`` is a Keras model (.keras, .h5, SavedModel), a ``.tflite`` file, or
    ``zoo:<name>``.
    """
    from litelab.predictor import Predictor

    if not files:
        raise LitelabError("no image files given")
    if top < 1:
        raise LitelabError(f"--top must be at least 1, got {top}")
    predictor = Predictor(model_path, labels_file=labels_file, input_scale=input_scale)
    images = load_image_files(files, size=predictor.size)
    probs = predictor.probs(images)
    return [
        {"file": str(f), "top": predictor.top(row, top)}
        for f, row in zip(files, probs, strict=True)
    ]
