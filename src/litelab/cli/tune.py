"""``litelab tune`` and ``litelab experiment``: flags in, one library call, a summary out.

The logic is in
:mod:`litelab.tune.search` and :mod:`litelab.study`.
"""

from __future__ import annotations

import argparse
from typing import Any

from litelab.cli.common import (
    add_data_flags,
    data_values,
    float_value,
    int_value,
    interrupted,
    pick,
)
from litelab.errors import LitelabError

SEARCH_FLAGS = ("tuner", "trials", "max_epochs", "objective", "patience", "factor", "strategy")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tune`` and ``experiment`` on ``subparsers``."""

    p = subparsers.add_parser(
        "tune",
        help="keras-tuner search over the course CNN; the best model retrained as a run",
        description="Search the course's CNN space with keras-tuner (random, hyperband, "
        "bayesian), report every trial, and retrain the best on train+val into <out>/best.",
    )
    add_data_flags(p)
    p.add_argument("--seed", type=int_value, help="random seed (default 42)")
    p.add_argument("--tuner", help="random, hyperband (default) or bayesian")
    p.add_argument("--trials", type=int_value, help="most trials to run (default 10)")
    p.add_argument(
        "--max-epochs",
        type=int_value,
        help="epochs of the longest trial (default 10); Hyperband's max_epochs",
    )
    p.add_argument("--objective", help="val_accuracy (default), val_loss, accuracy or loss")
    p.add_argument(
        "--patience",
        type=int_value,
        help="early stopping: epochs without val_loss gain (default 5)",
    )
    p.add_argument("--factor", type=int_value, help="Hyperband's reduction factor (default 3)")
    p.add_argument("--space", metavar="TOML", help="search-space file (see litelab.tune.space)")
    p.add_argument("--strategy", help="default, or mirrored: every GPU of this machine per trial")
    p.add_argument(
        "--budget-minutes",
        type=float_value,
        metavar="M",
        help="stop the search cleanly after M minutes of wall-clock time",
    )
    p.add_argument("--out", metavar="DIR", help="the search folder (default runs/tune-<time>)")
    p.add_argument("--runs-dir", default="runs", help="where --out defaults to (runs/)")
    p.add_argument("--resume", metavar="DIR", help="continue the search in DIR")
    p.add_argument(
        "--no-retrain",
        dest="retrain",
        action="store_false",
        help="stop after the search; do not retrain the best model",
    )
    g = p.add_argument_group("distributed (keras-tuner's chief/worker mode)")
    g.add_argument("--distributed", choices=("chief", "worker"), help="this process's role")
    g.add_argument("--chief", metavar="HOST:PORT", help="where the chief listens")
    g.add_argument("--worker-id", help="a unique name for this worker (default: its pid)")
    g.add_argument(
        "--connect-timeout",
        type=float_value,
        default=60.0,
        metavar="S",
        help="how long a worker waits for its chief (default 60 s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")

    p = subparsers.add_parser(
        "experiment",
        help="train the variants of a plan (default: the course's study) and compare them",
        description="Train every variant of a plan under the same data, seed and budget; "
        "write one comparison table and one figure of all validation curves.",
    )
    add_data_flags(p)
    p.add_argument("--plan", default="course", help="a built-in plan (course) or a TOML file")
    p.add_argument("--seed", type=int_value, help="random seed for every variant (default 42)")
    p.add_argument(
        "--variants", metavar="LIST", help="comma list: run only these variants of the plan"
    )
    p.add_argument("--out", metavar="DIR", help="the experiment folder")
    p.add_argument("--runs-dir", default="runs", help="where --out defaults to (runs/)")
    p.add_argument("--resume", metavar="DIR", help="continue an experiment: skip finished ones")
    p.add_argument("--no-int8", dest="int8", action="store_false", help="skip int8 sizes")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _settings(args: argparse.Namespace) -> Any:
    """TuneSettings from the flags given, over the saved ones when resuming."""
    from litelab.tune.search import settings_from

    given = {k: getattr(args, k) for k in (*SEARCH_FLAGS, "seed")}
    return settings_from(given, data_values(args), resume=args.resume, space_file=args.space)


def cmd_tune(args: argparse.Namespace) -> int:
    from litelab.tune.search import tune

    if args.resume and args.out:
        raise LitelabError("--resume continues its own folder; drop --out")
    settings = _settings(args)
    try:
        result = tune(
            settings,
            distributed_role=args.distributed,
            progress=not args.quiet,
            **pick(args, "out", "runs_dir", "resume", "budget_minutes", "chief", "worker_id"),
            **pick(args, "connect_timeout", "retrain"),
        )
    except KeyboardInterrupt:
        return interrupted("trials", "tune --resume <search folder>")
    if result.role == "worker":
        print(f"worker done: its trials are in {result.tune_dir}")
        return 0
    done = sum(1 for t in result.trials if t["status"] == "COMPLETED")
    print(f"search folder: {result.tune_dir}")
    print(f"ended: {result.ended}; {done} of {len(result.trials)} trials completed")
    if result.best:
        obj = settings.objective
        print(f"best trial {result.best['trial']}: {obj} {result.best[obj]:.4f}")
        print(
            "best hyperparameters: "
            + ", ".join(f"{k}={v}" for k, v in result.best["hyperparameters"].items())
        )
    if result.best_metrics:
        m = result.best_metrics
        retrained = f"test accuracy {m['test_accuracy']:.4f}  params {m['params']:,}"
        print(f"retrained on train+val: {retrained}  run folder: {result.best_run}")
    print(f"report: {result.tune_dir / 'report.md'}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from litelab.study import load_plan, run_experiment

    only = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    if args.resume:
        given = [f for f in ("source", "out", "variants", "seed") if getattr(args, f, None)]
        if given:
            raise LitelabError(f"--resume uses the experiment's own settings; drop --{given[0]}")
        plan = None
    else:
        plan = load_plan(args.plan)
    training = {"seed": args.seed} if args.seed is not None else {}
    try:
        result = run_experiment(
            plan,
            data_overrides=data_values(args),
            training_overrides=training,
            only=only,
            progress=not args.quiet,
            **pick(args, "out", "runs_dir", "resume", "int8"),
        )
    except KeyboardInterrupt:
        return interrupted("variants", "experiment --resume <experiment folder>")
    print(f"experiment folder: {result.exp_dir}")
    print((result.exp_dir / "comparison.md").read_text(encoding="utf-8"), end="")
    if result.best:
        b = result.best
        print(f"best: {b['variant']} ({100 * b['test_accuracy']:.2f}% test accuracy)")
    print(f"report: {result.exp_dir / 'report.md'}")
    return 0


COMMANDS = {"tune": cmd_tune, "experiment": cmd_experiment}
