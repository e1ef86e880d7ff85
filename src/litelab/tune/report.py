"""The records a search leaves: trials.csv, trials.md, objective.png and report.md.

``settings`` and ``result`` are :mod:`litelab.tune.search`'s ``TuneSettings`` and
``TuneResult`` (typed loosely here: search imports this module, not the other way round).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from litelab import plots
from litelab.files import markdown_table, write_text
from litelab.tune.tuners import OBJECTIVES, TRIAL_INFO, read_trial_info, trial_order

BEST_RUN = "best"
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


def best_epochs(trial: Any) -> int:
    """How many epochs the best trial needed: its best epoch, counted from 1.

    keras-tuner counts ``best_step`` within the trial's own fit, so a Hyperband trial
    that continues another from ``tuner/initial_epoch`` adds those epochs.
    """
    start = int(trial.hyperparameters.values.get("tuner/initial_epoch", 0) or 0)
    return start + int(trial.best_step) + 1


def public_values(values: dict[str, Any]) -> dict[str, Any]:
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


def trial_rows(tuner: Any) -> list[dict[str, Any]]:
    """One row per trial, in the order they were started."""
    rows = []
    trials = tuner.oracle.trials
    for trial_id in trial_order(trials):
        trial = trials[trial_id]
        values = trial.hyperparameters.values
        blocks = int(values.get("conv_blocks", 0) or 0)
        filters = "/".join(str(values.get(f"filters_{i}", "")) for i in range(blocks))
        epochs = values.get("tuner/epochs", values.get("epochs"))
        info = read_trial_info(Path(tuner.get_trial_dir(trial_id)) / TRIAL_INFO)
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


def fmt(value: Any) -> str:
    """A table cell: blank for None, floats to 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def write_trials(tune_dir: Path, rows: list[dict[str, Any]], settings: Any) -> None:
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
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    return "\n".join(markdown_table(header, cells)) + "\n"


def write_report(tune_dir: Path, settings: Any, result: Any) -> None:
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
            f"{fmt(result.best[settings.objective])} at epoch {result.best['epochs']}.",
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
