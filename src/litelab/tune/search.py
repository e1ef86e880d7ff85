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

import csv
import dataclasses
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras_tuner as kt
import numpy as np
import tomli_w

from litelab import plots
from litelab.config import STRATEGIES, DatasetConfig, RunConfig
from litelab.data import Dataset, load_dataset
from litelab.errors import LitelabError
from litelab.io import write_json, write_text
from litelab.runs import new_folder
from litelab.tune import distributed
from litelab.tune.hypermodel import CourseHyperModel
from litelab.tune.space import course_space, load_space, space_from_dict

TUNERS = ("random", "hyperband", "bayesian")
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}
SETTINGS_FILE = "tune.json"
PROJECT = "search"
BEST_RUN = "best"


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
        if self.tuner not in TUNERS:
            raise LitelabError(f"unknown tuner {self.tuner!r}; choose one of {', '.join(TUNERS)}")
        if self.trials < 1:
            raise LitelabError(f"--trials must be at least 1, got {self.trials}")
        if self.max_epochs < 1:
            raise LitelabError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        if self.objective not in OBJECTIVES:
            raise LitelabError(
                f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        if self.patience < 1:
            raise LitelabError(f"--patience must be at least 1, got {self.patience}")
        if self.factor < 2:
            raise LitelabError(f"--factor must be at least 2, got {self.factor}")
        if self.seed < 0:
            raise LitelabError(f"--seed must be >= 0, got {self.seed}")
        if self.strategy not in STRATEGIES:
            raise LitelabError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
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


# --------------------------------------------------------------------------- oracles, tuners


class _Limits:
    """Oracle mixin: stop handing out trials once the wall-clock ``deadline`` has passed.

    It lives in the oracle, so in a distributed search the chief stops every worker.
    """

    deadline: float | None = None
    budget_spent: bool = False

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if self.deadline is not None and time.time() >= self.deadline:
            self.budget_spent = True
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)


class _RandomOracle(_Limits, kt.oracles.RandomSearchOracle):
    pass


class _BayesianOracle(_Limits, kt.oracles.BayesianOptimizationOracle):
    pass


class _HyperbandOracle(_Limits, kt.oracles.HyperbandOracle):
    pass


class _Recorder:
    """Tuner mixin: time each trial and note which process ran it (litelab.json, journal)."""

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        self._litelab_start = time.time()
        _journal(Path(self.directory), self.tuner_id, "start", trial.trial_id)
        return super().run_trial(trial, *args, **kwargs)

    def on_trial_end(self, trial: Any) -> None:
        start = getattr(self, "_litelab_start", time.time())
        hm = self.hypermodel
        info = {
            "trial": trial.trial_id,
            "tuner_id": self.tuner_id,
            "status": str(trial.status),
            "seconds": round(time.time() - start, 3),
            "epochs_trained": hm.last_epochs_trained,
            "stopped_by_budget": hm.last_stopped_by_budget,
        }
        write_json(Path(self.get_trial_dir(trial.trial_id)) / "litelab.json", info)
        _journal(Path(self.directory), self.tuner_id, "end", trial.trial_id, str(trial.status))
        hm.last_epochs_trained, hm.last_stopped_by_budget = 0, False
        super().on_trial_end(trial)


class _Tuner(_Recorder, kt.Tuner):
    pass


class _HyperbandTuner(_Recorder, kt.Hyperband):
    """keras-tuner's Hyperband (its run_trial and checkpoint reloads) over our own oracle."""

    def __init__(self, oracle: Any, **kwargs: Any) -> None:
        kt.Tuner.__init__(self, oracle=oracle, **kwargs)


def _journal(tune_dir: Path, tuner_id: str, event: str, trial_id: str, status: str = "") -> None:
    folder = tune_dir / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    line = {"event": event, "trial": trial_id, "time": round(time.time(), 3)}
    if status:
        line["status"] = status
    with open(folder / f"{tuner_id}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def make_tuner(
    settings: TuneSettings,
    hypermodel: CourseHyperModel,
    tune_dir: Path,
    deadline: float | None = None,
) -> Any:
    """The keras-tuner Tuner for ``settings``, reloading any state in ``tune_dir``."""
    direction = OBJECTIVES[settings.objective]
    objective = kt.Objective(settings.objective, direction=direction)
    common = dict(objective=objective, seed=settings.seed, max_consecutive_failed_trials=3)
    if settings.tuner == "random":
        oracle = _RandomOracle(max_trials=settings.trials, **common)
    elif settings.tuner == "bayesian":
        oracle = _BayesianOracle(max_trials=settings.trials, **common)
    else:
        oracle = _HyperbandOracle(max_epochs=settings.max_epochs, factor=settings.factor, **common)
        oracle.max_trials = settings.trials  # the base oracle stops at this count
    oracle.deadline = deadline
    strategy = None
    if settings.strategy == "mirrored":
        from litelab.train import distribution_strategy

        strategy = distribution_strategy("mirrored")
    cls = _HyperbandTuner if settings.tuner == "hyperband" else _Tuner
    project = Path(tune_dir) / PROJECT
    tuner_id = os.environ.get(distributed.ENV_ID, "tuner0")
    # keras-tuner reloads the oracle only with this process's own tuner file; a search begun
    # by a chief and resumed alone (or the other way round) must reload it all the same.
    adopt = (project / "oracle.json").is_file() and not (project / f"{tuner_id}.json").is_file()
    tuner = cls(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(tune_dir),
        project_name=PROJECT,
        overwrite=False,
        distribution_strategy=strategy,
    )
    if adopt and not tuner._is_worker():
        tuner.oracle.reload()
    return tuner


# --------------------------------------------------------------------------- the job


def read_settings(tune_dir: str | Path) -> TuneSettings:
    """The settings a search folder was made with."""
    tune_dir = Path(tune_dir)
    path = tune_dir / SETTINGS_FILE
    if not tune_dir.is_dir():
        raise LitelabError(f"search folder not found: {tune_dir}")
    if not path.is_file():
        raise LitelabError(f"{tune_dir} is not a litelab search folder: it has no {SETTINGS_FILE}")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LitelabError(f"{path} is not valid JSON: {exc}") from None
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
    trials = trial_rows(tuner, hypermodel)
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
            "hyperparameters": _public_values(best.hyperparameters.values),
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


def best_epochs(trial: Any) -> int:
    """How many epochs the best trial needed: its best epoch, counted from 1.

    keras-tuner counts ``best_step`` within the trial's own fit, so a Hyperband trial
    that continues another from ``tuner/initial_epoch`` adds those epochs.
    """
    start = int(trial.hyperparameters.values.get("tuner/initial_epoch", 0) or 0)
    return start + int(trial.best_step) + 1


def _public_values(values: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameter values without keras-tuner's ``tuner/...`` bookkeeping, and without
    the filters of blocks the trial did not build (keras-tuner keeps every one it saw)."""
    blocks = int(values.get("conv_blocks", 0) or 0)

    def used(key: str) -> bool:
        if key.startswith("tuner/"):
            return False
        if key.startswith("filters_") and key[8:].isdigit():
            return int(key[8:]) < blocks
        return True

    return {k: v for k, v in values.items() if used(k)}


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
    from litelab.pipeline import run

    run_dir = tune_dir / BEST_RUN
    marker = run_dir / "tune_trial.txt"
    if (run_dir / "metrics.json").is_file():
        old = marker.read_text(encoding="utf-8").strip() if marker.is_file() else "unknown"
        if old == trial_id:  # a resumed, already finished search
            return run_dir, json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
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


# --------------------------------------------------------------------------- records

HP_COLUMNS = (
    "conv_blocks",
    "filters",
    "units",
    "learning_rate",
    "optimizer",
    "activation",
    "dropout",
    "batch_size",
    "augment",
    "epochs",
)


def trial_rows(tuner: Any, hypermodel: CourseHyperModel) -> list[dict[str, Any]]:
    """One row per trial, in the order they were started."""
    rows = []
    oracle = tuner.oracle
    order = list(getattr(oracle, "start_order", [])) or sorted(oracle.trials)
    for trial_id in order:
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        blocks = int(values.get("conv_blocks", 0) or 0)
        filters = "/".join(str(values.get(f"filters_{i}", "")) for i in range(blocks))
        epochs = values.get("tuner/epochs", values.get("epochs"))
        info_path = Path(tuner.get_trial_dir(trial_id)) / "litelab.json"
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
        row = {
            "trial": trial_id,
            "status": str(trial.status),
            **{c: values.get(c) for c in HP_COLUMNS},
            "filters": filters,
            "epochs": epochs,
            "objective": None if trial.score is None else float(trial.score),
            "best_epoch": best_epochs(trial) if trial.score is not None else None,
            "epochs_trained": info.get("epochs_trained"),
            "seconds": info.get("seconds"),
            "worker": info.get("tuner_id"),
        }
        if "tuner/trial_id" in values:
            row["continues"] = values["tuner/trial_id"]
        rows.append(row)
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def write_trials(tune_dir: Path, rows: list[dict[str, Any]], settings: TuneSettings) -> None:
    """trials.csv, trials.md and objective.png."""
    columns = ["trial", "status", *HP_COLUMNS, "objective", "best_epoch"]
    columns += ["epochs_trained", "seconds", "worker", "continues"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c) for c in columns})
    write_text(tune_dir / "trials.csv", buf.getvalue())
    write_text(tune_dir / "trials.md", trials_markdown(rows, settings.objective))
    plots.plot_objective(
        [r["trial"] for r in rows],
        [r["objective"] for r in rows],
        settings.objective,
        tune_dir / "objective.png",
        maximize=OBJECTIVES[settings.objective] == "max",
    )


def trials_markdown(rows: list[dict[str, Any]], objective: str) -> str:
    """The trials as a Markdown table (the objective column named after the objective)."""
    columns = ["trial", "status", *HP_COLUMNS, "objective", "best_epoch", "seconds", "worker"]
    header = [objective if c == "objective" else c for c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_report(tune_dir: Path, settings: TuneSettings, result: TuneResult) -> None:
    """report.md: the settings, every trial, the best one and its retrained test figures."""
    rows = result.trials
    done = [r for r in rows if r["status"] == "COMPLETED"]
    seconds = sum(r["seconds"] or 0 for r in rows)
    lines = [
        f"# litelab tune: {settings.tuner}, {len(rows)} trials",
        "",
        f"- data: {settings.data.source} (train limit {settings.data.train_limit}, "
        f"validation split {settings.data.val_split})",
        f"- objective: {settings.objective} ({OBJECTIVES[settings.objective]}imize), "
        f"early stopping on val_loss after {settings.patience} epochs without improvement",
        f"- max epochs {settings.max_epochs}, trials cap {settings.trials}, seed {settings.seed}",
        f"- ended: {result.ended}; {len(done)} trials completed; "
        f"{seconds:.0f} s of training in all",
        "",
        "![objective per trial](objective.png)",
        "",
        "## Trials",
        "",
        trials_markdown(rows, settings.objective),
    ]
    if result.best:
        lines += [
            "## Best",
            "",
            f"Trial {result.best['trial']}: {settings.objective} "
            f"{_fmt(result.best[settings.objective])} at epoch {result.best['epochs']}.",
            "",
            "```json",
            json.dumps(result.best["hyperparameters"], indent=2),
            "```",
        ]
    if result.best_metrics:
        m = result.best_metrics
        lines += [
            "",
            f"Retrained on train+val for {result.best['epochs']} epochs: test accuracy "
            f"**{m.get('test_accuracy', float('nan')):.4f}**, {m.get('params', 0):,} params, "
            f"{m.get('train_seconds', 0):.1f} s. Run folder: [{BEST_RUN}/]({BEST_RUN}/report.md) "
            f"(`litelab export {tune_dir / BEST_RUN}`).",
        ]
    write_text(tune_dir / "report.md", "\n".join(lines) + "\n")
