"""``litelab basics linear | logistic``: the scikit-learn vs Keras warm-ups."""

from __future__ import annotations

import argparse

from litelab.cli.common import float_value, int_value


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register basics."""
    p = sub.add_parser(
        "basics", help="the warm-ups: linear and logistic regression, scikit-learn vs Keras"
    )
    p.add_argument("problem", choices=("linear", "logistic"))
    p.add_argument("--rows", type=int_value, default=10_000, help="linear: houses in the large set")
    p.add_argument("--samples", type=int_value, default=1000, help="logistic: points")
    p.add_argument(
        "--noise", type=float_value, help="linear: price noise std of the large set (20)"
    )
    p.add_argument("--epochs", type=int_value, default=100, help="Keras SGD epochs (100)")
    p.add_argument("--trials", type=int_value, default=6, help="linear: keras-tuner trials (6)")
    p.add_argument("--seed", type=int_value, default=42)
    p.add_argument("--out", help="the run folder (default runs/basics-<problem>-<time>)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--quiet", action="store_true")


def cmd_basics(args: argparse.Namespace) -> int:
    from litelab.basics.job import run_linear, run_logistic

    common = dict(seed=args.seed, epochs=args.epochs, out=args.out, runs_dir=args.runs_dir)
    if args.problem == "linear":
        noise = {} if args.noise is None else {"noise_large": args.noise}
        run_dir, _ = run_linear(
            rows=args.rows, trials=args.trials, progress=not args.quiet, **noise, **common
        )
    else:
        run_dir, _ = run_logistic(samples=args.samples, progress=not args.quiet, **common)
    print(f"run folder: {run_dir}")
    return 0


COMMANDS = {"basics": cmd_basics}
