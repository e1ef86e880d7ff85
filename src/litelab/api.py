"""The notebook API: one short call per step, each the code path of its CLI verb.

    import litelab
    data = litelab.load_data("cifar10")              # or a path, .npz, image folders
    run = litelab.train("baseline", data, epochs=10)  # a litelab.Run; Keras' progress bar
    run.metrics["test_accuracy"]
    run.plot("curves"); run.plot("confusion"); run.plot("grid")
    run.export()                                      # the comparison table
    run.deploy("esp-eye")                             # the verdict
    litelab.predict("zoo:mcu", "photo.jpg")           # top classes
    litelab.tune(data, tuner="hyperband", max_epochs=10)
    litelab.basics.linear()                           # the warm-ups

``train`` resolves its keywords with :func:`litelab.jobs.run_config` and runs
:func:`litelab.jobs.run`, exactly as ``litelab run`` does with its flags; ``tune`` goes
through :func:`litelab.tune.search.settings_from` and :func:`~litelab.tune.search.tune`,
``predict`` through :func:`litelab.jobs.predict_files`. A bad value is the same
:class:`~litelab.errors.LitelabError` line the CLI prints. Keywords are the CLI's flags
with underscores (``batch_size``, ``learning_rate``, ``train_limit``...), plus ``quiet``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litelab.config import DatasetConfig, TrainingConfig, resolve_config
from litelab.errors import LitelabError, one_of
from litelab.notebook import Run, Table, Warmup

DATA_KEYS = tuple(f.name for f in dataclasses.fields(DatasetConfig) if f.name != "source")
TRAINING_KEYS = tuple(f.name for f in dataclasses.fields(TrainingConfig) if f.name != "model")
# keywords of litelab.train that are not TrainingConfig fields: the CLI's flags of the same name
TRAIN_EXTRAS = ("weights", "alpha")
SEARCH_KEYS = ("tuner", "trials", "max_epochs", "objective", "patience", "factor", "strategy")


@dataclasses.dataclass
class Data:
    """A loaded data source: the arrays (``x_train``, ``y_test``, ``classes``...: those of
    :class:`litelab.data.Dataset`) and the settings that loaded them."""

    dataset: Any
    config: DatasetConfig
    given: dict[str, Any]
    seed: int

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def matches(self, config: DatasetConfig, seed: int) -> bool:
        """Were these arrays loaded with ``config`` and ``seed`` (so a job can reuse them)?"""
        return self.config == config and self.seed == seed

    def __repr__(self) -> str:
        d = self.dataset
        return (
            f"Data({d.source}: {len(d.x_train):,} train, {len(d.x_val):,} validation, "
            f"{len(d.x_test):,} test images of {d.x_train.shape[1:]}, "
            f"{len(d.classes)} classes)"
        )

    def _repr_html_(self) -> str:
        d = self.dataset
        rows = [
            {"split": name, "images": len(x)}
            for name, x in (("train", d.x_train), ("validation", d.x_val), ("test", d.x_test))
        ]
        head = f"<p>{d.source}: {len(d.classes)} classes ({', '.join(d.classes[:10])})</p>"
        return head + Table(rows)._repr_html_()


def _split(options: dict[str, Any], keys: Sequence[str], what: str) -> dict[str, Any]:
    """The ``keys`` among ``options``; an unknown keyword is one line naming the choices."""
    for name in options:
        if name not in keys:
            one_of(what, name, keys)
    return dict(options)


def load_data(
    source: str | Path = "cifar10", *, seed: int = 42, quiet: bool = False, **options: Any
) -> Data:
    """Load a data source as ``litelab run --data SOURCE`` does (``cifar10``, the official
    archives, image folders, ``.tar.gz``/``.zip``, ``.npz``). ``options``: ``val_split``,
    ``train_limit``, ``test_limit``, ``shuffle``, ``image_size``, ``cache``."""
    from litelab.data import load_dataset

    given = {"source": str(source), **_split(options, DATA_KEYS, "data setting")}
    config = resolve_config(None, given, None).data
    dataset = load_dataset(config, seed=seed, progress=not quiet)
    return Data(dataset, config, given, seed)


def _data_given(data: Any) -> tuple[dict[str, Any], Any]:
    """(data values for the config, the loaded object or None) from what a call was given."""
    if isinstance(data, Data):
        return dict(data.given), data
    if isinstance(data, str | Path):
        return {"source": str(data)}, None
    if hasattr(data, "x_train") and hasattr(data, "classes"):  # a litelab.data.Dataset
        return {"source": str(data.source)}, data
    raise LitelabError(
        f"data must be a source (a path or 'cifar10') or litelab.load_data(...), "
        f"got {type(data).__name__}"
    )


def _arrays_for(loaded: Any, config: DatasetConfig, seed: int) -> Any:
    """The loaded arrays when they are what ``config`` asks for, else None (reload)."""
    if isinstance(loaded, Data):
        return loaded.dataset if loaded.matches(config, seed) else None
    return loaded


def train(
    model: str | None = None,
    data: Any = "cifar10",
    *,
    epochs: int | None = None,
    recipe: str | None = None,
    config: str | Path | None = None,
    runs_dir: str | Path | None = None,
    out: str | Path | None = None,
    evaluate: bool = True,
    quiet: bool = False,
    **settings: Any,
) -> Run:
    """``litelab run --model MODEL --data DATA``: train, save every format, evaluate.

    ``settings`` are the training flags (``batch_size``, ``learning_rate``, ``optimizer``,
    ``augment``, ``model_options``, ``weights``, ``seed``...); ``config`` is a TOML file and
    ``recipe`` a named recipe, as ``--config`` and ``--recipe``. Returns the :class:`Run`.
    """
    from litelab.jobs import run, run_config

    _split(settings, (*TRAINING_KEYS, *TRAIN_EXTRAS), "training setting")
    data_values, loaded = _data_given(data)
    training = {"model": model, "epochs": epochs, **settings}
    cfg, run_name = run_config(
        training, data_values, config_file=config, runs_dir=runs_dir, recipe=recipe, out=out
    )
    arrays = _arrays_for(loaded, cfg.data, cfg.training.seed)
    result = run(
        cfg,
        run_name=run_name,
        evaluate=evaluate,
        progress=not quiet,
        verbose=0 if quiet else "auto",
        data=arrays,
    )
    return Run(result.run_dir, data=arrays)


def open_run(path: str | Path) -> Run:
    """An existing run folder (one ``litelab run`` made) as a :class:`Run`."""
    return Run(Run.open(path).path)


def predict(
    model: str | Path,
    images: str | Path | Sequence[str | Path],
    *,
    top: int = 3,
    input_scale: float = 1.0,
    labels: str | Path | None = None,
) -> Table:
    """``litelab predict --model MODEL IMAGES``: the top classes of each image file.

    ``model`` is a .keras/.h5 file, a SavedModel folder, a .tflite file, ``zoo:<name>`` or
    a :class:`Run`. One row per image and class: file, rank, class, probability.
    """
    from litelab.jobs import predict_files

    if isinstance(model, Run):
        model = model.model_path
    files = [images] if isinstance(images, str | Path) else list(images)
    results = predict_files(model, files, top=top, input_scale=input_scale, labels_file=labels)
    rows = [
        {"file": Path(r["file"]).name, "rank": rank, **t}
        for r in results
        for rank, t in enumerate(r["top"], start=1)
    ]
    return Table(rows, ("file", "rank", "class", "probability"))


def tune(
    data: Any = "cifar10",
    *,
    space: str | Path | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    budget_minutes: float | None = None,
    seed: int | None = None,
    retrain: bool = True,
    quiet: bool = False,
    **settings: Any,
) -> Any:
    """``litelab tune --data DATA``: a keras-tuner search over the course's space.

    ``settings``: ``tuner`` (random, hyperband, bayesian), ``trials``, ``max_epochs``,
    ``objective``, ``patience``, ``factor``, ``strategy``; ``space`` is a ``--space`` TOML
    file. Returns :class:`litelab.tune.search.TuneResult` with ``best_run`` as a
    :class:`Run` and ``trials`` as a :class:`Table`.
    """
    from litelab.tune.search import settings_from
    from litelab.tune.search import tune as search

    _split(settings, SEARCH_KEYS, "search setting")
    data_values, loaded = _data_given(data)
    tune_settings = settings_from({**settings, "seed": seed}, data_values, space_file=space)
    result = search(
        tune_settings,
        out=out,
        runs_dir=runs_dir,
        budget_minutes=budget_minutes,
        retrain=retrain,
        progress=not quiet,
        data=_arrays_for(loaded, tune_settings.data, tune_settings.seed),
    )
    best = Run(result.best_run) if result.best_run is not None else None
    return dataclasses.replace(result, best_run=best, trials=Table(result.trials))


def linear(
    *,
    rows: int = 10_000,
    noise: float | None = None,
    seed: int = 42,
    epochs: int = 100,
    trials: int = 6,
    out: Any = None,
    runs_dir: Any = "runs",
    quiet: bool = False,
) -> Any:
    """``litelab basics linear`` (``litelab.basics.linear()``): 5 houses, then ``rows``:
    the normal equation vs Keras SGD vs tuned. Returns a :class:`Warmup`."""
    from litelab.basics.job import run_linear

    extra = {} if noise is None else {"noise_large": noise}
    path, metrics = run_linear(
        rows=rows, seed=seed, epochs=epochs, trials=trials, out=out, runs_dir=runs_dir,
        progress=not quiet, **extra,
    )  # fmt: skip
    return Warmup(path, metrics)


def logistic(
    *,
    samples: int = 1000,
    seed: int = 42,
    epochs: int = 100,
    out: Any = None,
    runs_dir: Any = "runs",
    quiet: bool = False,
) -> Any:
    """``litelab basics logistic`` (``litelab.basics.logistic()``): LogisticRegression vs
    Keras Dense(1, sigmoid) on the course's 2-feature points. Returns a :class:`Warmup`."""
    from litelab.basics.job import run_logistic

    path, metrics = run_logistic(
        samples=samples, seed=seed, epochs=epochs, out=out, runs_dir=runs_dir, progress=not quiet
    )
    return Warmup(path, metrics)


def inspect(path: str | Path) -> dict[str, Any]:
    """``litelab inspect PATH``: a .tflite's inputs/outputs (dtype, shape, scale, zero
    point), ops, tensors and MACs, or a Keras model's summary and MACs."""
    from litelab.export.deploy import inspect_path

    return inspect_path(path)


def imagenet(
    images: str | Path | Sequence[str | Path],
    *,
    backbone: str = "vgg16",
    alpha: float = 1.0,
    weights: str | Path = "imagenet",
    class_index: str | Path | None = None,
    top: int = 3,
) -> Table:
    """``litelab imagenet IMAGES``: a whole pretrained VGG16 (or MobileNetV2) names the
    top ImageNet classes. Offline, pass ``weights`` (the .h5 with the top) and
    ``class_index`` (imagenet_class_index.json); without them the error names the files."""
    from litelab.imagenet import classify

    files = [images] if isinstance(images, str | Path) else list(images)
    results = classify(
        files, backbone_name=backbone, alpha=alpha, weights=weights, class_index=class_index,
        top=top,
    )  # fmt: skip
    rows = [
        {"file": Path(r["file"]).name, "rank": rank, **t}
        for r in results
        for rank, t in enumerate(r["top"], start=1)
    ]
    return Table(rows)


def experiment(
    data: Any = "cifar10",
    *,
    plan: str | Path = "course",
    variants: str | Sequence[str] | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    int8: bool = True,
    quiet: bool = False,
    **settings: Any,
) -> Table:
    """``litelab experiment --plan PLAN``: the plan's variants trained on the same data and
    compared; ``settings`` (``seed``, ``epochs``...) apply to every variant. The table of
    comparison.json, one row per variant."""
    from litelab.files import read_json
    from litelab.study import load_plan, run_experiment

    _split(settings, TRAINING_KEYS, "training setting")
    data_values, _ = _data_given(data)
    only = variants.split(",") if isinstance(variants, str) else variants
    result = run_experiment(
        load_plan(plan),
        data_overrides=data_values,
        training_overrides=settings,
        only=[v.strip() for v in only if v.strip()] if only else None,
        out=out,
        runs_dir=runs_dir,
        int8=int8,
        progress=not quiet,
    )
    rows = read_json(result.exp_dir / "comparison.json", "experiment comparison")
    rows = rows["rows"]
    return Table(rows, [c for c in (rows[0] if rows else {}) if c != "val_accuracy_curve"])
