"""``litelab tune``: a keras-tuner search over the course's CNN, resumable, budgeted,
spreadable over processes or machines, ending with the best model retrained.

A search folder (``runs/tune-<timestamp>/`` unless ``--out`` names one)::

    tune.json                 what defines the search (tuner, space, data, seed, ...) and,
                              once done, how it ended and the best trial
    space.toml                the resolved search space (a valid --space file)
    search/                   keras-tuner's own state: the oracle and one trial_<id>/ per
                              trial (checkpoint, trial.json, litelab.json: seconds, epochs,
                              which process ran it)
    journal/<tuner id>.jsonl  every trial each process started and ended
    trials.csv, trials.md     all trials: hyperparameters, objective, epochs, seconds
    objective.png             the objective per trial and the best so far
    best_hyperparameters.json
    best/                     the best model retrained on train+val and evaluated on test:
                              a normal run folder (litelab export/deploy take it)
    report.md

The search itself is keras-tuner's (RandomSearch, Hyperband, BayesianOptimization oracles
and their state on disk); litelab adds the course's space, the data pipeline, a wall-clock
budget, a trial cap for Hyperband, the records above and the final retraining.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras_tuner as kt
import numpy as np
import tomli_w

from litelab.config import STRATEGIES, DatasetConfig, RunConfig
from litelab.data import Dataset, load_dataset
from litelab.errors import LitelabError, one_of
from litelab.files import read_json, write_json, write_text
from litelab.runs import Run, new_folder
from litelab.tune import distributed
from litelab.tune.hypermodel import CourseHyperModel
from litelab.tune.report import (
    BEST_RUN,
    HP_COLUMNS,
    best_epochs,
    public_values,
    trial_rows,
    trials_markdown,
    write_report,
    write_trials,
)
from litelab.tune.space import course_space, load_space, space_from_dict
from litelab.tune.tuners import OBJECTIVES, PROJECT, make_tuner

TUNERS = ("random", "hyperband", "bayesian")
SETTINGS_FILE = "tune.json"
__all__ = [
    "BEST_RUN",
    "HP_COLUMNS",
    "OBJECTIVES",
    "PROJECT",
    "SETTINGS_FILE",
    "TUNERS",
    "TuneResult",
    "TuneSettings",
    "best_epochs",
    "check_same_search",
    "make_tuner",
    "public_values",
    "read_settings",
    "retrain_best",
    "space_table",
    "trial_rows",
    "trials_markdown",
    "tune",
    "write_report",
    "write_trials",
]


@dataclass(frozen=True)
class TuneSettings:
    """Everything that defines a search; a resumed search must match it exactly.

    ``trials`` caps the number of trials (Hyperband, which sizes its own brackets from
    ``max_epochs`` and ``factor``, stops at the cap too). ``space`` is the resolved space
    (see :mod:`litelab.tune.space`); empty means the course's default.
    """

    data: DatasetConfig = field(default_factory=DatasetConfig)
    tuner: str = "hyperband"
    trials: int = 10
    max_epochs: int = 10
    objective: str = "val_accuracy"
    patience: int = 5
    factor: int = 3
    seed: int = 42
    space: dict[str, Any] = field(default_factory=dict, hash=False)
    strategy: str = "default"

    def __post_init__(self) -> None:
        one_of("tuner", self.tuner, TUNERS)
        if self.trials < 1:
            raise LitelabError(f"--trials must be at least 1, got {self.trials}")
        if self.max_epochs < 1:
            raise LitelabError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        one_of("objective", self.objective, OBJECTIVES)
        if self.patience < 1:
            raise LitelabError(f"--patience must be at least 1, got {self.patience}")
        if self.factor < 2:
            raise LitelabError(f"--factor must be at least 2, got {self.factor}")
        if self.seed < 0:
            raise LitelabError(f"--seed must be >= 0, got {self.seed}")
        one_of("strategy", self.strategy, STRATEGIES)
        if self.data.val_split <= 0:
            raise LitelabError("tuning needs a validation split; --val-split must be above 0")
        space_from_dict(self.space, self.max_epochs)  # validates the space
        if self.tuner == "hyperband" and "epochs" in self.space:
            raise LitelabError(
                "Hyperband gives each trial its own epochs; drop [epochs] from the space "
                "or use --tuner random or bayesian"
            )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["data"] = {k: v for k, v in out["data"].items() if v is not None}
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TuneSettings:
        values = dict(values)
        try:
            values["data"] = DatasetConfig(**values.get("data", {}))
            return cls(**values)
        except TypeError as exc:
            raise LitelabError(f"bad tune settings: {exc}") from None


def space_table(path: str | Path | None, max_epochs: int) -> dict[str, Any]:
    """The ``space`` of :class:`TuneSettings` from a ``--space`` file: only what it changes."""
    if path is None:
        return {}
    default = course_space(max_epochs)
    loaded = load_space(path, max_epochs).params
    return {name: p.to_dict() for name, p in loaded.items() if p != default[name]}


def settings_from(
    given: dict[str, Any],
    data: dict[str, Any] | None = None,
    *,
    resume: str | Path | None = None,
    space_file: str | Path | None = None,
) -> TuneSettings:
    """TuneSettings from the values given (``litelab tune``'s flags or ``litelab.tune``'s
    keywords; None: not given), over the saved ones when resuming, else the defaults with
    a 0.2 validation split; ``space_file`` is a ``--space`` TOML file."""
    given = {k: v for k, v in given.items() if v is not None}
    data_given = {k: v for k, v in (data or {}).items() if v is not None}
    base = read_settings(resume) if resume else TuneSettings(data=DatasetConfig(val_split=0.2))
    if space_file is not None:
        given["space"] = space_table(space_file, given.get("max_epochs", base.max_epochs))
    data_cfg = dataclasses.replace(base.data, **data_given) if data_given else base.data
    try:
        return TuneSettings(**{**dataclasses.asdict(base), "data": data_cfg, **given})
    except TypeError as exc:
        raise LitelabError(f"bad tune settings: {exc}") from None


@dataclass
class TuneResult:
    """Where a search is and how it went (``best_run`` only for the chief/single process)."""

    tune_dir: Path
    role: str  # "single", "chief" or "worker"
    ended: str  # "finished", "budget" or "worker"
    trials: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_run: Path | None = None
    best_metrics: dict[str, Any] | None = None


# --------------------------------------------------------------------------- the job


def read_settings(tune_dir: str | Path) -> TuneSettings:
    """The settings a search folder was made with."""
    tune_dir = Path(tune_dir)
    path = tune_dir / SETTINGS_FILE
    if not tune_dir.is_dir():
        raise LitelabError(f"search folder not found: {tune_dir}")
    if not path.is_file():
        raise LitelabError(f"{tune_dir} is not a litelab search folder: it has no {SETTINGS_FILE}")
    saved = read_json(path, "search settings")
    return TuneSettings.from_dict(saved.get("settings", {}))


def check_same_search(saved: TuneSettings, given: TuneSettings, where: Path) -> None:
    """One line naming the first setting that differs between two searches."""
    a, b = saved.to_dict(), given.to_dict()
    for key in a:
        if key == "trials":  # a cap, not part of what is searched: a resume may raise it
            continue
        if key == "data":
            for k in sorted(set(a["data"]) | set(b["data"])):
                if a["data"].get(k) != b["data"].get(k):
                    raise LitelabError(
                        f"{where} holds a different search: data {k} was "
                        f"{a['data'].get(k)!r}, now {b['data'].get(k)!r}"
                    )
        elif a[key] != b[key]:
            raise LitelabError(
                f"{where} holds a different search: {key} was {a[key]!r}, now {b[key]!r}"
            )


def _write_settings(tune_dir: Path, settings: TuneSettings, extra: dict[str, Any]) -> None:
    write_json(tune_dir / SETTINGS_FILE, {"settings": settings.to_dict(), **extra})


def tune(
    settings: TuneSettings | None = None,
    *,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    budget_minutes: float | None = None,
    distributed_role: str | None = None,
    chief: str | None = None,
    worker_id: str | None = None,
    connect_timeout: float = 60.0,
    retrain: bool = True,
    progress: bool = True,
    data: Dataset | None = None,
) -> TuneResult:
    """Run (or resume, or join) a search; the chief or single process reports and retrains.

    ``resume`` continues the search in that folder: finished trials are kept, an
    interrupted one is run again, and ``settings`` (if given) must match the saved ones.
    ``budget_minutes`` stops handing out trials after that much wall-clock time and ends
    the running trial at its next epoch. See :mod:`litelab.tune.distributed` for the roles.
    """
    if budget_minutes is not None and not budget_minutes > 0:
        raise LitelabError(f"--budget-minutes must be greater than 0, got {budget_minutes}")
    if not connect_timeout > 0:
        raise LitelabError(f"--connect-timeout must be greater than 0, got {connect_timeout}")
    _quiet_search()
    started = time.time()
    deadline = started + budget_minutes * 60 if budget_minutes else None
    cluster = distributed.cluster_from_args(distributed_role, chief, worker_id)
    role = cluster.role if cluster else "single"

    # Where the search lives, decided before anything is created.
    tune_dir: Path | None = None
    if resume is not None:
        tune_dir = Path(resume)
        saved = read_settings(tune_dir)
        if settings is not None:
            check_same_search(saved, settings, tune_dir)
            settings = dataclasses.replace(saved, trials=settings.trials)
        else:
            settings = saved
    elif settings is None:
        settings = TuneSettings()
    if resume is None and out is not None:
        tune_dir = Path(out)
        if role != "worker" and tune_dir.exists() and any(tune_dir.iterdir()):
            if (tune_dir / SETTINGS_FILE).is_file():
                raise LitelabError(
                    f"{tune_dir} already holds a search; continue it with --resume {tune_dir}"
                )
            raise LitelabError(f"{tune_dir} exists and is not empty; not writing into it")
    if role != "single" and tune_dir is None:
        raise LitelabError("a distributed search needs --out DIR, the same folder for all")
    space = space_from_dict(settings.space, settings.max_epochs)

    if cluster is not None and cluster.role == "chief":
        distributed.check_can_listen(cluster)
    if cluster is not None and cluster.role == "worker":
        distributed.wait_for_chief(cluster, connect_timeout)

    if data is None:
        data = load_dataset(settings.data, seed=settings.seed, progress=progress)
    if len(data.x_val) == 0:
        raise LitelabError("the validation split is empty; use more data or a larger --val-split")
    if data.num_classes < 2:
        raise LitelabError(f"the data has {data.num_classes} class; at least 2 are needed")

    _check_blocks_fit(space, int(data.x_train.shape[1]))

    if tune_dir is None:
        tune_dir = new_folder(runs_dir, time.strftime("tune-%Y%m%d-%H%M%S"))
    tune_dir.mkdir(parents=True, exist_ok=True)
    if role == "worker":
        if (tune_dir / SETTINGS_FILE).is_file():
            check_same_search(read_settings(tune_dir), settings, tune_dir)
    else:
        _write_settings(tune_dir, settings, {"status": "running"})
        write_text(tune_dir / "space.toml", tomli_w.dumps(space.to_dict()))

    hypermodel = CourseHyperModel(
        space,
        input_shape=tuple(data.x_train.shape[1:]),
        num_classes=data.num_classes,
        num_train=len(data.x_train),
        seed=settings.seed,
        tune_epochs=settings.tuner != "hyperband",
        patience=settings.patience,
        deadline=deadline,
    )
    if cluster is not None:
        distributed.activate(cluster)
    from litelab.train import seed_everything

    seed_everything(settings.seed)
    tuner = make_tuner(settings, hypermodel, tune_dir, deadline)
    try:
        tuner.search(data, verbose=1 if progress else 0)
    except kt.errors.FatalError as exc:  # keras-tuner gives up after 3 failed trials in a row
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise LitelabError(f"the search stopped: trials keep failing ({last})") from None
    except Exception as exc:  # noqa: BLE001 - gRPC errors are the only ones re-worded
        _reword_rpc_error(exc, cluster)
        raise
    if role == "worker":
        return TuneResult(tune_dir=tune_dir, role=role, ended="worker")
    # keras-tuner's chief saves the oracle before it drops the last trial from its running
    # list; saved then, a resumed search would run that finished trial again.
    tuner.save()

    ended = "budget" if tuner.oracle.budget_spent else "finished"
    trials = trial_rows(tuner)
    result = TuneResult(tune_dir=tune_dir, role=role, ended=ended, trials=trials)
    write_trials(tune_dir, trials, settings)
    best_trials = tuner.oracle.get_best_trials(1)
    summary: dict[str, Any] = {
        "status": ended,
        "trials_completed": sum(1 for t in trials if t["status"] == "COMPLETED"),
        "search_seconds": round(time.time() - started, 1),
    }
    if best_trials:
        best = best_trials[0]
        cfg = hypermodel.training_config(best.hyperparameters, epochs=best_epochs(best))
        cfg = dataclasses.replace(cfg, strategy=settings.strategy)
        result.best = {
            "trial": best.trial_id,
            settings.objective: None if best.score is None else float(best.score),
            "epochs": cfg.epochs,
            "hyperparameters": public_values(best.hyperparameters.values),
            "training": RunConfig(training=cfg).to_dict()["training"],
        }
        write_json(tune_dir / "best_hyperparameters.json", result.best)
        summary["best"] = result.best
        if retrain:
            result.best_run, result.best_metrics = retrain_best(
                tune_dir, settings, cfg, data, best.trial_id, progress=progress
            )
            summary["best_run"] = BEST_RUN
            summary["best_test_accuracy"] = result.best_metrics.get("test_accuracy")
    _write_settings(tune_dir, settings, summary)
    write_report(tune_dir, settings, result)
    return result


def _check_blocks_fit(space: Any, side: int) -> None:
    """Every conv-block count the space allows must leave the image at least 1 pixel."""
    param = space["conv_blocks"]
    most = max(param.values) if param.values else (param.value or param.max)
    fits, n = 0, side
    while (n - 2) // 2 >= 1:
        n, fits = (n - 2) // 2, fits + 1
    if int(most) > fits:
        raise LitelabError(
            f"{side}px images have room for at most {fits} conv block(s), but the space allows "
            f"{most}; set [conv_blocks] max = {fits} in --space (or a larger --image-size)"
        )


def _quiet_search() -> None:
    """Silence two notices every search triggers and that say nothing is wrong."""
    import warnings

    import tensorflow as tf

    # Hyperband's continued trials reload weights only; the fresh optimizer is intended.
    warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
    tf.get_logger().setLevel("ERROR")  # "triggered tf.function retracing": one model a trial


def _reword_rpc_error(exc: Exception, cluster: distributed.Cluster | None) -> None:
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpcio comes with keras-tuner
        return
    if cluster is not None and isinstance(exc, grpc.RpcError):
        raise LitelabError(
            f"lost the tuning chief at {cluster.address}: {exc.code().name}"  # type: ignore[attr-defined]
        ) from None


def retrain_best(
    tune_dir: Path,
    settings: TuneSettings,
    cfg: Any,
    data: Dataset,
    trial_id: str,
    *,
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Train ``cfg`` on train+val, evaluate on test: ``<tune_dir>/best``, a normal run.

    A resumed search keeps a finished ``best/`` of the same trial; one whose best trial has
    changed since is moved aside to ``best-trial<id>/`` and the new best is trained.
    """
    from litelab.jobs import run

    run_dir = tune_dir / BEST_RUN
    marker = run_dir / "tune_trial.txt"
    if Run(run_dir).metrics_path.is_file():
        old = marker.read_text(encoding="utf-8").strip() if marker.is_file() else "unknown"
        if old == trial_id:  # a resumed, already finished search
            return run_dir, Run(run_dir).metrics
        aside = tune_dir / f"{BEST_RUN}-trial{old}"
        if aside.exists():
            raise LitelabError(f"cannot move the previous best run aside: {aside} exists")
        run_dir.rename(aside)
    elif run_dir.exists():  # our own half-written retraining from an interrupted process
        shutil.rmtree(run_dir)
    merged = Dataset(
        x_train=np.concatenate([data.x_train, data.x_val]),
        y_train=np.concatenate([data.y_train, data.y_val]),
        x_val=data.x_val[:0],
        y_val=data.y_val[:0],
        x_test=data.x_test,
        y_test=data.y_test,
        classes=data.classes,
        source=data.source,
    )
    config = RunConfig(
        data=dataclasses.replace(settings.data, val_split=0.0),
        training=cfg,
        runs_dir=str(tune_dir),
    )
    result = run(
        config,
        data=merged,
        run_name=BEST_RUN,
        progress=progress,
        verbose="auto" if progress else 0,
    )
    write_text(marker, trial_id + "\n")
    return result.run_dir, result.metrics
