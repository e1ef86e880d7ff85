"""Issue 5: does a keras-tuner search beat the course's CNN at the same epoch budget?

1. Search: ``litelab tune`` (Hyperband by default) over the course space on a stratified
   slice of the training split (``--search-limit`` images, 80/20 train/validation; 0 for
   the whole split: 40,000/10,000), stopped by ``--budget-minutes``.
2. Final comparison at the same epoch budget: the seed-000 baseline (adam 1e-3, batch 32)
   and the best configuration found, each trained for ``--epochs`` epochs on the full
   training split (40,000 train / 10,000 validation, the course's split) with the same
   seed, and evaluated on all 10,000 test images.

Writes benchmarks/results/tuning.json (and keeps the search folder under --work):

    python benchmarks/tuning.py --data ../shared/datasets/cifar10-jpeg.tar.gz \
        --budget-minutes 22 --out benchmarks/results/tuning_subset.json
    python benchmarks/tuning.py --data ../shared/datasets/cifar10-jpeg.tar.gz \
        --search-limit 0 --budget-minutes 35 --out benchmarks/results/tuning_full.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tuner", default="hyperband")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--max-epochs", type=int, default=10)
    ap.add_argument(
        "--search-limit", type=int, default=10_000, help="training images searched on; 0: all"
    )
    ap.add_argument("--budget-minutes", type=float, default=25.0)
    ap.add_argument("--epochs", type=int, default=10, help="final training epochs, both models")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default="benchmarks/work/tuning")
    ap.add_argument("--out", default="benchmarks/results/tuning.json")
    args = ap.parse_args()

    from litelab.config import DatasetConfig, RunConfig, TrainingConfig, resolve_config
    from litelab.jobs import run
    from litelab.tune.search import TuneSettings, tune

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    search_data = DatasetConfig(
        source=args.data, train_limit=args.search_limit or None, val_split=0.2
    )
    settings = TuneSettings(
        data=search_data,
        tuner=args.tuner,
        trials=args.trials,
        max_epochs=args.max_epochs,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    search = tune(
        settings,
        out=work / f"search-{stamp}",
        budget_minutes=args.budget_minutes,
        retrain=False,
        progress=False,
    )
    search_seconds = time.perf_counter() - t0
    if not search.best:
        raise SystemExit("the search finished no trial")
    best_training = search.best["training"]
    tuned_cfg = TrainingConfig(
        **{
            **best_training,
            "augment": tuple(best_training["augment"]),
            "epochs": args.epochs,
        }
    )
    full = DatasetConfig(source=args.data, val_split=0.2)
    baseline_cfg = resolve_config(
        None, dataclasses.asdict(full), {"model": "baseline", "epochs": args.epochs}
    ).training
    baseline_cfg = dataclasses.replace(baseline_cfg, seed=args.seed)
    results = {}
    for name, cfg in (("baseline", baseline_cfg), ("tuned", tuned_cfg)):
        t = time.perf_counter()
        out = run(
            RunConfig(data=full, training=cfg, runs_dir=str(work / "final")),
            progress=False,
            verbose=0,
        )
        m = out.metrics
        results[name] = {
            "run_dir": str(out.run_dir),
            "test_accuracy": m["test_accuracy"],
            "best_val_accuracy": m.get("best_val_accuracy"),
            "params": m["params"],
            "epochs": m["epochs_run"],
            "train_seconds": m["train_seconds"],
            "wall_seconds": round(time.perf_counter() - t, 1),
            "training": dataclasses.asdict(cfg),
        }
        print(name, json.dumps({k: v for k, v in results[name].items() if k != "training"}))
    trial_epochs = sum(r["epochs_trained"] or 0 for r in search.trials)
    report = {
        "data": "CIFAR-10 (JPEG copy)",
        "source": args.data,
        "search": {
            "tuner": args.tuner,
            "trials_cap": args.trials,
            "max_epochs": args.max_epochs,
            "search_limit": args.search_limit,
            "budget_minutes": args.budget_minutes,
            "ended": search.ended,
            "trials": len(search.trials),
            "trials_completed": sum(1 for r in search.trials if r["status"] == "COMPLETED"),
            "trial_epochs": trial_epochs,
            "wall_seconds": round(search_seconds, 1),
            "best": search.best,
            "folder": str(search.tune_dir),
        },
        "final_epochs": args.epochs,
        "final": results,
        "tuned_minus_baseline_points": round(
            100 * (results["tuned"]["test_accuracy"] - results["baseline"]["test_accuracy"]), 2
        ),
        "machine": machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({k: report[k] for k in ("final_epochs", "tuned_minus_baseline_points")}))


if __name__ == "__main__":
    main()
