"""The keras-tuner oracles and tuner behind ``litelab tune``, by keras-tuner's public API.

The oracles are keras-tuner's own (random, Bayesian, Hyperband) with a wall-clock
``deadline``; the tuner is a plain :class:`keras_tuner.Tuner` over one of them, as
keras-tuner builds its own ``RandomSearch``/``Hyperband``/``BayesianOptimization``. Its
``run_trial`` also does what ``kt.Hyperband`` adds (each trial's ``tuner/epochs`` and the
weights of the trial it continues), times the trial and writes ``litelab.json`` in the
trial's own folder; ``on_trial_end`` adds the status and writes the journal.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras_tuner as kt

from litelab.files import write_json
from litelab.tune import distributed

if TYPE_CHECKING:
    from litelab.tune.hypermodel import CourseHyperModel

OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}
PROJECT = "search"
TRIAL_INFO = "litelab.json"


class Budget:
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


class RandomOracle(Budget, kt.oracles.RandomSearchOracle):
    pass


class BayesianOracle(Budget, kt.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(Budget, kt.oracles.HyperbandOracle):
    pass


class CourseTuner(kt.Tuner):
    """keras-tuner's Tuner over any of the oracles above, recording every trial.

    Under the Hyperband oracle a trial's hyperparameters carry ``tuner/epochs`` and
    ``tuner/initial_epoch`` and, when it continues an earlier trial, ``tuner/trial_id``;
    ``run_trial`` passes them on to the fit as ``kt.Hyperband.run_trial`` does and starts
    from the best weights of the continued trial (reloaded with :meth:`load_model`).
    """

    def run_trial(self, trial: Any, *fit_args: Any, **fit_kwargs: Any) -> Any:
        started = time.time()
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        info = {"trial": trial.trial_id, "tuner_id": self.tuner_id, "started": round(started, 3)}
        write_json(trial_dir / TRIAL_INFO, info)
        journal(Path(self.directory), self.tuner_id, "start", trial.trial_id)
        values = trial.hyperparameters.values
        if "tuner/epochs" in values:
            fit_kwargs["epochs"] = values["tuner/epochs"]
            fit_kwargs["initial_epoch"] = values["tuner/initial_epoch"]
        if "tuner/trial_id" in values:
            previous = self.oracle.get_trial(values["tuner/trial_id"])
            fit_kwargs["initial_weights"] = self.load_model(previous).get_weights()
        histories = super().run_trial(trial, *fit_args, **fit_kwargs)
        last = histories[-1] if isinstance(histories, list) and histories else histories
        deadline = getattr(self.hypermodel, "deadline", None)
        info.update(
            seconds=round(time.time() - started, 3),
            epochs_trained=len(getattr(last, "epoch", [])),
            stopped_by_budget=deadline is not None and time.time() >= deadline,
        )
        write_json(trial_dir / TRIAL_INFO, info)
        return histories

    def on_trial_end(self, trial: Any) -> None:
        path = Path(self.get_trial_dir(trial.trial_id)) / TRIAL_INFO
        info = read_trial_info(path)
        started = info.pop("started", None)
        info.setdefault("trial", trial.trial_id)
        info.setdefault("tuner_id", self.tuner_id)
        info["status"] = str(trial.status)
        if "seconds" not in info:  # the trial failed: no results came back from run_trial
            info["seconds"] = round(time.time() - started, 3) if started else None
            info.update(epochs_trained=0, stopped_by_budget=False)
        write_json(path, info)
        journal(Path(self.directory), self.tuner_id, "end", trial.trial_id, str(trial.status))
        super().on_trial_end(trial)


def read_trial_info(path: Path) -> dict[str, Any]:
    """A trial's ``litelab.json`` (empty when the trial never wrote one)."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def journal(tune_dir: Path, tuner_id: str, event: str, trial_id: str, status: str = "") -> None:
    """Append one event to ``journal/<tuner id>.jsonl``."""
    folder = tune_dir / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    line = {"event": event, "trial": trial_id, "time": round(time.time(), 3)}
    if status:
        line["status"] = status
    with open(folder / f"{tuner_id}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def make_tuner(
    settings: Any,
    hypermodel: CourseHyperModel,
    tune_dir: Path,
    deadline: float | None = None,
) -> CourseTuner:
    """The keras-tuner Tuner for ``settings`` (a ``TuneSettings``), reloading any state in
    ``tune_dir``."""
    direction = OBJECTIVES[settings.objective]
    objective = kt.Objective(settings.objective, direction=direction)
    common = dict(objective=objective, seed=settings.seed, max_consecutive_failed_trials=3)
    if settings.tuner == "random":
        oracle = RandomOracle(max_trials=settings.trials, **common)
    elif settings.tuner == "bayesian":
        oracle = BayesianOracle(max_trials=settings.trials, **common)
    else:
        oracle = HyperbandOracle(max_epochs=settings.max_epochs, factor=settings.factor, **common)
        oracle.max_trials = settings.trials  # the base oracle stops at this count
    oracle.deadline = deadline
    strategy = None
    if settings.strategy == "mirrored":
        from litelab.train import distribution_strategy

        strategy = distribution_strategy("mirrored")
    project = Path(tune_dir) / PROJECT
    tuner_id = os.environ.get(distributed.ENV_ID, "tuner0")
    # keras-tuner reloads the oracle only with this process's own tuner file; a search begun
    # by a chief and resumed alone (or the other way round) must reload it all the same.
    adopt = (project / "oracle.json").is_file() and not (project / f"{tuner_id}.json").is_file()
    tuner = CourseTuner(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(tune_dir),
        project_name=PROJECT,
        overwrite=False,
        distribution_strategy=strategy,
    )
    if adopt and not distributed.is_worker():
        tuner.oracle.reload()
    return tuner


def trial_order(trial_ids: Any) -> list[str]:
    """Trial ids in the order keras-tuner made them (numbered, padded to varying widths)."""
    return sorted(trial_ids, key=lambda t: (int(t) if str(t).isdigit() else math.inf, str(t)))
