"""``litelab experiment``: a plan of variants of one base config, trained alike and compared.

The built-in ``course`` plan is the manual study of the course's lab on making the CNN
better (seed 004): starting from its CNN (Conv32-Pool-Conv64-Pool-Dense64, adam, 10 epochs,
batch 32, 40k/10k split) it changes one thing at a time: the learning rate, batch/epoch
pairs, the optimizer, one tanh layer, a deeper and a wider network, augmentation, and the
dropout model of seed 002. Every variant trains on the same loaded data with the same seed
(and, with ``minutes``, the same wall-clock cap), as a normal run folder; the result is one
table and one figure that answer "which technique gave the best results?".

A plan file is TOML::

    name = "lr-study"
    description = "three learning rates"
    minutes = 5                   # optional: stop each variant after 5 minutes

    [base.data]                   # optional: data settings shared by every variant
    val_split = 0.2
    [base.training]               # the config every variant starts from
    model = "cnn"
    epochs = 5

    [[variants]]
    name = "baseline"             # no changes: the reference

    [[variants]]
    name = "lr-1e-4"
    description = "a 10x smaller step"
    training = { learning_rate = 1e-4 }

An experiment folder holds one run folder per variant, ``comparison.csv/.md/.json``,
``val_curves.png`` and ``report.md``. Running it again with ``--resume`` skips the
variants that finished.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litelab import plots
from litelab.config import RunConfig, resolve_config
from litelab.data import load_dataset
from litelab.errors import LitelabError
from litelab.files import write_json, write_text
from litelab.runs import Run, new_folder

PLAN_FILE = "plan.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Variant:
    """One change to the base config (``training`` keys of ``[training]``)."""

    name: str
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Plan:
    """A named list of variants of one base config."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    base: dict[str, Any] = field(default_factory=dict, hash=False)
    minutes: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "base": self.base,
            "variants": [
                {"name": v.name, "description": v.description, "training": v.training}
                for v in self.variants
            ],
        }
        if self.minutes is not None:
            out["minutes"] = self.minutes
        return out


# The course's study (seed 004). Optimizers given by name in the course use Keras' defaults:
# 'sgd' is SGD at 0.01, 'rmsprop' RMSprop at 0.001.
COURSE_PLAN = Plan(
    name="course",
    description="seed 004's manual study of the course CNN, one change at a time",
    base={
        "data": {"val_split": 0.2},
        "training": {
            "model": "cnn",
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "batch_size": 32,
            "epochs": 10,
        },
    },
    variants=(
        Variant("baseline", "the course CNN as it stands: adam 1e-3, batch 32, 10 epochs"),
        Variant("lr-1e-4", "learning rate 1e-4", {"learning_rate": 1e-4}),
        Variant("lr-1e-2", "learning rate 1e-2", {"learning_rate": 1e-2}),
        Variant("batch32-epochs20", "batch 32 for 20 epochs", {"batch_size": 32, "epochs": 20}),
        Variant("batch64-epochs15", "batch 64 for 15 epochs", {"batch_size": 64, "epochs": 15}),
        Variant(
            "sgd", "SGD (Keras' default rate 0.01)", {"optimizer": "sgd", "learning_rate": 1e-2}
        ),
        Variant("rmsprop", "RMSprop (rate 0.001)", {"optimizer": "rmsprop", "learning_rate": 1e-3}),
        Variant(
            "tanh-first-layer",
            "the first convolution with tanh instead of relu",
            {"model_options": {"first_activation": "tanh"}},
        ),
        Variant(
            "deeper",
            "two convolutions per block (Conv32-Conv32-Pool-Conv64-Conv64-Pool)",
            {"model_options": {"convs_per_block": 2}},
        ),
        Variant(
            "wider",
            "a 128-unit hidden layer instead of 64",
            {"model_options": {"dense_units": 128}},
        ),
        Variant("augment", "random flips and 4-pixel crops", {"augment": ["flip", "crop"]}),
        Variant(
            "dropout",
            "seed 002's dropout model (VGG blocks, Dropout 0.25/0.5) under this plan's recipe",
            {"model": "dropout-cnn"},
        ),
    ),
)

PLANS = {"course": COURSE_PLAN}


def plan_from_dict(values: dict[str, Any], where: str = "plan") -> Plan:
    """A validated :class:`Plan`; every error names the key at fault."""
    known = {"name", "description", "minutes", "base", "variants"}
    for key in values:
        if key not in known:
            raise LitelabError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(known))}")
    name = values.get("name", Path(where).stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise LitelabError(f"{where}: name must be letters, digits, '.', '_' or '-', got {name!r}")
    base = values.get("base", {})
    if not isinstance(base, dict) or set(base) - {"data", "training"}:
        raise LitelabError(f"{where}: [base] holds only [base.data] and [base.training]")
    minutes = values.get("minutes")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0
    ):
        raise LitelabError(f"{where}: minutes must be a number above 0, got {minutes!r}")
    raw = values.get("variants")
    if not isinstance(raw, list) or not raw:
        raise LitelabError(f"{where}: a plan needs at least one [[variants]] entry")
    variants, seen = [], set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise LitelabError(f"{where}: variants[{i}] must be a table")
        bad = set(item) - {"name", "description", "training"}
        if bad:
            extra = " (variants share the base's data)" if "data" in bad else ""
            raise LitelabError(
                f"{where}: unknown key {sorted(bad)[0]!r} in variants[{i}]{extra}; "
                "use name, description, training"
            )
        vname = item.get("name")
        if not isinstance(vname, str) or not _NAME.match(vname):
            raise LitelabError(
                f"{where}: variants[{i}] needs a name of letters, digits, '.', '_' or '-'"
            )
        if vname in seen:
            raise LitelabError(f"{where}: two variants are named {vname!r}")
        seen.add(vname)
        training = item.get("training", {})
        if not isinstance(training, dict):
            raise LitelabError(f"{where}: variants[{i}].training must be a table")
        variants.append(Variant(vname, str(item.get("description", "")), dict(training)))
    plan = Plan(
        name=name,
        description=str(values.get("description", "")),
        variants=tuple(variants),
        base={k: dict(v) for k, v in base.items()},
        minutes=None if minutes is None else float(minutes),
    )
    for variant in plan.variants:  # every variant's config must resolve before any trains
        try:
            variant_config(plan, variant)
        except LitelabError as exc:
            raise LitelabError(f"{where}: variant {variant.name!r}: {exc}") from None
    return plan


def load_plan(name_or_path: str | Path) -> Plan:
    """A built-in plan by name (``course``) or a plan TOML file."""
    if str(name_or_path) in PLANS:
        return PLANS[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise LitelabError(
            f"no plan named {str(name_or_path)!r} and no such file; built-in: {', '.join(PLANS)}"
        )
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LitelabError(f"plan file {path} is not valid TOML: {exc}") from None
    return plan_from_dict(values, where=str(path))


def variant_config(
    plan: Plan,
    variant: Variant,
    data_overrides: dict[str, Any] | None = None,
    training_overrides: dict[str, Any] | None = None,
    runs_dir: str = "runs",
) -> RunConfig:
    """The base config with the variant's changes; ``*_overrides`` (flags) apply to all."""
    base_training = dict(plan.base.get("training", {}))
    training = {**base_training, **variant.training}
    options = {
        **dict(base_training.get("model_options", {})),
        **dict(variant.training.get("model_options", {})),
    }
    if options:
        training["model_options"] = options
    file_values = {"data": dict(plan.base.get("data", {})), "training": training}
    return resolve_config(file_values, data_overrides, training_overrides, runs_dir)


@dataclass
class ExperimentResult:
    exp_dir: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None


def run_experiment(
    plan: Plan | None = None,
    *,
    data_overrides: dict[str, Any] | None = None,
    training_overrides: dict[str, Any] | None = None,
    only: list[str] | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    int8: bool = True,
    progress: bool = True,
) -> ExperimentResult:
    """Train every variant of ``plan`` (or those in ``only``) and compare them.

    ``data_overrides``/``training_overrides`` hold flags (``--train-limit``, ``--seed``...)
    that apply to every variant. ``resume`` continues an experiment folder: finished
    variants are kept, the plan and overrides are the saved ones.
    """
    from litelab.jobs import run
    from litelab.tune.hypermodel import Deadline

    if resume is not None:
        exp_dir = Path(resume)
        saved_path = exp_dir / PLAN_FILE
        if not saved_path.is_file():
            raise LitelabError(f"{exp_dir} is not a litelab experiment folder: no {PLAN_FILE}")
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        plan = plan_from_dict(saved["plan"], where=str(saved_path))
        data_overrides, training_overrides = saved["data_overrides"], saved["training_overrides"]
        only = saved.get("only")
    plan = plan or COURSE_PLAN
    variants = list(plan.variants)
    if only:
        names = [v.name for v in variants]
        for name in only:
            if name not in names:
                raise LitelabError(
                    f"plan {plan.name!r} has no variant {name!r}; it has {', '.join(names)}"
                )
        variants = [v for v in variants if v.name in only]
    configs = {
        v.name: variant_config(plan, v, data_overrides, training_overrides) for v in variants
    }
    data_cfgs = {c.data for c in configs.values()}
    seeds = {c.training.seed for c in configs.values()}
    if len(data_cfgs) != 1 or len(seeds) != 1:
        raise LitelabError(f"plan {plan.name!r}: every variant must share the data and the seed")
    data_cfg, seed = data_cfgs.pop(), seeds.pop()

    if resume is None and out is not None:
        exp_dir = Path(out)
        if exp_dir.exists() and any(exp_dir.iterdir()):
            raise LitelabError(f"{exp_dir} exists and is not empty; not writing into it")
    data = load_dataset(data_cfg, seed=seed, progress=progress)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if resume is None:
        if out is not None:
            exp_dir.mkdir(parents=True, exist_ok=True)
        else:
            exp_dir = new_folder(runs_dir, f"experiment-{plan.name}-{stamp}")
        write_json(
            exp_dir / PLAN_FILE,
            {
                "plan": plan.to_dict(),
                "data_overrides": data_overrides or {},
                "training_overrides": training_overrides or {},
                "only": only,
            },
        )

    rows = []
    for variant in variants:
        run_dir = exp_dir / variant.name
        metrics_path = Run(run_dir).metrics_path
        if not metrics_path.is_file():
            if run_dir.exists():  # our own half-finished variant from an interrupted run
                shutil.rmtree(run_dir)
            if progress:
                print(f"== {plan.name}: {variant.name} ({variant.description})", flush=True)
            config = RunConfig(
                data=configs[variant.name].data,
                training=configs[variant.name].training,
                runs_dir=str(exp_dir),
            )
            callbacks = []
            if plan.minutes:
                callbacks.append(Deadline(time.time() + plan.minutes * 60))
            result = run(
                config,
                data=data,
                run_name=variant.name,
                callbacks=callbacks,
                progress=progress,
                verbose="auto" if progress else 0,
            )
            metrics = dict(result.metrics)
            if int8:
                try:
                    metrics["int8_bytes"] = _int8_size(result.model, data.x_train, seed)
                except LitelabError as exc:  # the comparison goes on without that one size
                    print(f"litelab: {variant.name}: no int8 size: {exc}", flush=True)
                    metrics["int8_bytes"] = None
                write_json(metrics_path, metrics)
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        rows.append(_row(variant, metrics, run_dir))
    best = write_comparison(exp_dir, plan, rows)
    return ExperimentResult(exp_dir=exp_dir, rows=rows, best=best)


def _int8_size(model: Any, x_train: Any, seed: int) -> int:
    from litelab.export.convert import convert, representative_images

    rep = representative_images(x_train, 200, seed=seed)
    return len(convert(model, "int8", representative=rep))


def _row(variant: Variant, metrics: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    history: dict[str, list[float]] = {}
    path = Run(run_dir).history_path
    if path.is_file():
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
        for record in reader:
            for key, value in record.items():
                if value not in (None, ""):
                    history.setdefault(key, []).append(float(value))
    return {
        "variant": variant.name,
        "description": variant.description,
        "test_accuracy": metrics.get("test_accuracy"),
        "best_val_accuracy": metrics.get("best_val_accuracy"),
        "final_val_accuracy": metrics.get("final_val_accuracy"),
        "params": metrics.get("params"),
        "epochs": metrics.get("epochs_run"),
        "train_seconds": metrics.get("train_seconds"),
        "int8_bytes": metrics.get("int8_bytes"),
        "val_accuracy_curve": history.get("val_accuracy", []),
    }


COLUMNS = (
    "variant",
    "test_accuracy",
    "best_val_accuracy",
    "final_val_accuracy",
    "params",
    "epochs",
    "train_seconds",
    "int8_bytes",
    "description",
)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key.endswith("accuracy"):
        return f"{100 * value:.2f}%"
    if key == "train_seconds":
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_comparison(exp_dir: Path, plan: Plan, rows: list[dict[str, Any]]) -> dict | None:
    """comparison.csv/.md/.json, val_curves.png and report.md; returns the best row."""
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    write_text(exp_dir / "comparison.csv", buf.getvalue())
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in sorted(rows, key=lambda r: -(r["test_accuracy"] or 0)):
        table.append("| " + " | ".join(_fmt(c, row.get(c)) for c in COLUMNS) + " |")
    table_md = "\n".join(table) + "\n"
    write_text(exp_dir / "comparison.md", table_md)
    scored = [r for r in rows if r["test_accuracy"] is not None]
    best = max(scored, key=lambda r: r["test_accuracy"]) if scored else None
    reference = next((r for r in rows if r["variant"] == "baseline"), rows[0] if rows else None)
    answer = ""
    if best and reference:
        delta = 100 * (best["test_accuracy"] - reference["test_accuracy"])
        what = f" ({best['description']})" if best["description"] else ""
        answer = (
            f"Best: **{best['variant']}**{what} with "
            f"{100 * best['test_accuracy']:.2f}% test accuracy, {delta:+.2f} points against "
            f"{reference['variant']} ({100 * reference['test_accuracy']:.2f}%)."
        )
    write_json(exp_dir / "comparison.json", {"plan": plan.name, "best": best, "rows": rows})
    curves = {r["variant"]: r["val_accuracy_curve"] for r in rows if r["val_accuracy_curve"]}
    images = ""
    if curves:
        plots.plot_curves(curves, exp_dir / "val_curves.png", ylabel="val_accuracy")
        images = "![validation accuracy of every variant](val_curves.png)\n\n"
    lines = [
        f"# litelab experiment: {plan.name}",
        "",
        plan.description,
        "",
        answer,
        "",
        images + "Rows sorted by test accuracy; each variant's run folder has its own report.",
        "",
        table_md,
    ]
    write_text(exp_dir / "report.md", "\n".join(lines))
    return best
