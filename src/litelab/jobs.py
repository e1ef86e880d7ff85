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

    run_dir: Path | None  # None on a non-chief worker of a cluster: it keeps nothing
    metrics: dict[str, Any]
    model: keras.Model


def run_config(
    training: dict[str, Any],
    data: dict[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    runs_dir: str | Path | None = None,
    recipe: str | None = None,
    out: str | Path | None = None,
) -> tuple[RunConfig, str | None]:
    """The config and run-folder name of ``litelab run``'s flags, or of ``litelab.train``'s
    keywords: ``training``/``data`` hold the values given (None: not given).

    ``augment`` "none" (or "") turns a recipe's augmentation off; ``weights`` and ``alpha``
    join ``model_options``; with ``init`` and no ``model`` the architecture comes from the
    init source; ``out`` names the run folder itself (its parent becomes the runs folder).
    """
    from dataclasses import replace

    from litelab.config import read_toml, resolve_config

    training = dict(training)
    augment = training.get("augment")
    if isinstance(augment, str) and augment.strip().lower() in ("none", ""):
        training["augment"] = ()
    options = dict(training.get("model_options") or {})
    for key in ("weights", "alpha"):
        value = training.pop(key, None)
        if value:
            options[key] = value
    training["model_options"] = options or None
    if training.get("init") and not training.get("model"):
        from litelab.models.init import source_model_name

        training["model"] = source_model_name(training["init"])
    file_values = read_toml(config_file) if config_file else None
    runs = None if runs_dir is None else str(runs_dir)
    config = resolve_config(file_values, data, training, runs, recipe=recipe)
    if out is None:
        return config, None
    return replace(config, runs_dir=str(Path(out).parent)), Path(out).name


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
    cluster = None
    if resume is not None:
        run_dir = Path(resume)
        config = read_run_config(run_dir)
        Run(run_dir).drop_temporaries()  # what a killed write left behind
        if Run(run_dir).state == "evaluating":  # killed after the model was saved
            return _evaluate_saved(run_dir, config, progress=progress)
        if read_checkpoint_state(run_dir) is None:
            if Run(run_dir).model_path.is_file():
                raise LitelabError(f"run {run_dir} already finished; nothing to resume")
            raise LitelabError(f"nothing to resume in {run_dir}: no finished epoch was saved")
    else:
        config = config or RunConfig()
    if config.training.strategy == "multiworker":  # first: it waits for every worker
        from litelab import multiworker

        cluster = multiworker.configure()
        multiworker.strategy()
    if data is None:
        data = load_dataset(config.data, seed=config.training.seed, progress=progress)
    if data.num_classes < 2:
        raise LitelabError(f"the data has {data.num_classes} class; at least 2 are needed")
    if cluster is not None and not cluster.is_chief:  # trains, keeps nothing
        return _work(config, data, cluster, verbose=verbose)
    if cluster is not None and resume is None:
        resume = _multiworker_restart(config, run_name)
        run_dir = Path(resume) if resume is not None else None
    if resume is None:  # only now: a source that fails to load leaves no empty run folder
        _preflight(config.training, data)
        run_dir = new_run_dir(config.runs_dir, config.training.model, name=run_name)
        write_config(run_dir, config)
    write_labels(run_dir, data.classes)
    Run(run_dir).write_state("training")
    result = _train(config, data, run_dir, cluster, resume is not None, verbose, callbacks)
    write_history(run_dir, result.history)
    Run(run_dir).write_state("saving")
    save_model_formats(run_dir, result.model)
    remove_checkpoint(run_dir)
    images_seen = len(data.x_train) * result.epochs_run
    info = {
        "model": config.training.model,
        "params": int(result.model.count_params()),
        "train_seconds": result.train_seconds,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "stopped_by_time_budget": result.stopped_by_time_budget,
        "train_images_per_second": round(images_seen / max(result.train_seconds, 1e-9), 1),
        "num_train": len(data.x_train),
        "num_val": len(data.x_val),
        "data_source": data.source,
        **result.extra,  # the teacher (--teacher) and the start (--init), when given
    }
    if cluster is not None:
        info["workers"] = cluster.size
    if "val_accuracy" in result.history:
        info["final_val_accuracy"] = result.history["val_accuracy"][-1]
        info["best_val_accuracy"] = max(result.history["val_accuracy"])
    metrics: dict[str, Any] = dict(info)
    Run(run_dir).write_state("evaluating", info=info)
    if evaluate:
        metrics = _assess_run(result.model, data, run_dir, config, info, result.history)
    else:
        metrics["versions"] = versions()
        write_json(Run(run_dir).metrics_path, metrics)
    Run(run_dir).write_state("finished")
    return RunResult(run_dir=run_dir, metrics=metrics, model=result.model)


def _assess_run(
    model: keras.Model,
    data: Dataset,
    run_dir: Path,
    config: RunConfig,
    info: dict[str, Any],
    history: dict[str, list[float]],
) -> dict[str, Any]:
    return assess(
        model,
        data,
        run_dir,
        input_scale=1.0,
        extra=info,
        title=f"litelab run: {config.training.model}",
        config=config.to_dict(),
        history=history,
        seed=config.training.seed,
        tta=config.training.tta,
    )


def _evaluate_saved(run_dir: Path, config: RunConfig, *, progress: bool) -> RunResult:
    """Resume a run killed while it was being evaluated: its model is saved; evaluate it."""
    import csv

    run = Run(run_dir)
    model = load_model(run.model_path)
    data = load_dataset(config.data, seed=config.training.seed, progress=progress)
    info = dict(run.state_info.get("info") or {})
    history: dict[str, list[float]] = {}
    with run.history_path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "epoch":
                    history.setdefault(key, []).append(float(value) if value else float("nan"))
    metrics = _assess_run(model, data, run_dir, config, info, history)
    run.write_state("finished")
    return RunResult(run_dir=run_dir, metrics=metrics, model=model)


def _train(
    config: RunConfig,
    data: Dataset,
    run_dir: Path,
    cluster: Any,
    resume: bool,
    verbose: Any,
    callbacks: Any,
) -> Any:
    """:func:`litelab.train.train`; on a cluster, a dead worker is one line, and the chief
    saves and evaluates a copy of the model outside the strategy."""
    try:
        result = train(
            config.training, data, run_dir, resume=resume, verbose=verbose, callbacks=callbacks
        )
    except Exception as exc:
        if cluster is None:
            raise
        from litelab import multiworker

        if not multiworker.is_peer_failure(exc):
            raise
        state = read_checkpoint_state(run_dir) if cluster.is_chief else None
        done = int(state["epochs_done"]) if state else (0 if cluster.is_chief else None)
        raise multiworker.peer_failure_error(cluster, done) from None
    if cluster is not None:
        from litelab.train import CHECKPOINT_DIR, CHECKPOINT_MODEL, load_checkpoint_model

        local = load_checkpoint_model(Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT_MODEL)
        local.set_weights(result.model.get_weights())
        result.model = local
    return result


def _work(config: RunConfig, data: Dataset, cluster: Any, *, verbose: Any) -> RunResult:
    """A non-chief worker's part: train in a scratch folder, removed at the end."""
    from litelab import multiworker

    scratch = Path(multiworker.scratch_dir())
    try:
        result = _train(config, data, scratch, cluster, False, verbose, None)
    finally:
        multiworker.drop_scratch(scratch)
    metrics = {"worker": cluster.index, "workers": cluster.size, "epochs_run": result.epochs_run}
    return RunResult(run_dir=None, metrics=metrics, model=result.model)


def _multiworker_restart(config: RunConfig, run_name: str | None) -> Path | None:
    """The chief's run folder when the same command is started again: an interrupted run
    there with the same config is resumed; a fresh name is a new run."""
    if run_name is None:
        raise LitelabError(
            "--strategy multiworker needs --out DIR on every worker (the chief's "
            "run folder; the same command resumes it after a failure)"
        )
    folder = Path(config.runs_dir) / run_name
    if not folder.exists():
        return None
    if read_checkpoint_state(folder) is None or Run(folder).is_finished:
        raise LitelabError(f"{folder} already exists; not overwriting it")
    if read_run_config(folder).to_dict() != config.to_dict():
        raise LitelabError(f"{folder} holds a run with another config; choose another --out")
    return folder


def _preflight(cfg: Any, data: Dataset) -> None:
    """Build the model once before the run folder exists, so that a bad option value or
    weights file (missing, offline, wrong architecture), ``--init`` source or teacher
    leaves nothing behind."""
    from litelab.distill import build_training_model

    build_training_model(cfg, data)
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
