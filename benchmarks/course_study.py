"""Issue 5: the course's manual study (seed 004) as one command, on the JPEG copy.

Runs ``litelab experiment --plan course`` (12 variants of the course CNN, one change each,
same data and seed) and copies its comparison into benchmarks/results/:
course_study.json, course_study.md and course_study_val_curves.png.

    python benchmarks/course_study.py --data ../shared/datasets/cifar10-jpeg.tar.gz \\
        --train-limit 10000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--train-limit", type=int, default=None, help="stratified training slice")
    ap.add_argument("--work", default="benchmarks/work/course_study")
    ap.add_argument("--results", default="benchmarks/results")
    args = ap.parse_args()

    from litelab.study import COURSE_PLAN, run_experiment

    out = Path(args.work) / time.strftime("%Y%m%d-%H%M%S")
    t0 = time.perf_counter()
    result = run_experiment(
        COURSE_PLAN,
        data_overrides={"source": args.data, "train_limit": args.train_limit},
        out=out,
        progress=False,
    )
    results = Path(args.results)
    comparison = json.loads((result.exp_dir / "comparison.json").read_text())
    comparison.update(
        {
            "data": "CIFAR-10 (JPEG copy)",
            "source": args.data,
            "train_limit": args.train_limit,
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "machine": machine(),
        }
    )
    (results / "course_study.json").write_text(json.dumps(comparison, indent=2) + "\n")
    shutil.copy(result.exp_dir / "comparison.md", results / "course_study.md")
    shutil.copy(result.exp_dir / "val_curves.png", results / "course_study_val_curves.png")
    print((results / "course_study.md").read_text())


if __name__ == "__main__":
    main()
