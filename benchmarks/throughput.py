"""Goal 4 of issue 4: training throughput of the seed-000 `baseline` through litelab vs the
course's plain script, in one session, at equal (or better) test accuracy.

Variants, alternated round by round so that load from other work hits all alike:

- ``course``: the notebook's recipe (float64 arrays / 255, one-hot labels, ``model.fit``,
  batch 32, adam 1e-3, 10 epochs, validation every epoch) — see seed_baseline.py;
- ``litelab``: ``litelab run --model baseline`` (the same recipe: batch 32, adam 1e-3);
- ``litelab-b128``: ``litelab run --model baseline --batch-size 128 --lr 0.002`` (a larger
  batch with the learning rate raised to keep the accuracy);
- ``litelab-b256``: the same at batch 256, lr 0.003 (only with ``--variants``).

Images/s are training images per second of fit time (validation included, as in the course
script). Writes benchmarks/results/throughput.json:

    python benchmarks/throughput.py --data ../shared/datasets/cifar10-jpeg.tar.gz --repeats 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import (  # noqa: E402
    DEFAULT_DATA,
    ROOT,
    course_script,
    litelab_cli,
    machine,
    summary,
)

VARIANTS = {
    "litelab": [],
    "litelab-b128": ["--batch-size", "128", "--lr", "0.002"],
    "litelab-b256": ["--batch-size", "256", "--lr", "0.003"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--variants",
        default="litelab,litelab-b128",
        help=f"comma list of litelab variants to race against the course: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "throughput.json"))
    args = parser.parse_args()

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset

    chosen = {k: VARIANTS[k] for k in args.variants.split(",") if k}
    data = load_dataset(DatasetConfig(source=args.data, val_split=0.0), progress=False)
    rows: dict[str, list[dict]] = {"course": [], **{k: [] for k in chosen}}
    for i in range(args.repeats):
        print(f"round {i + 1}: course", file=sys.stderr, flush=True)
        rows["course"].append(course_script(data, args.epochs, args.seed))
        for name, extra in chosen.items():
            print(f"round {i + 1}: {name}", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                rows[name].append(litelab_cli(args.data, args.epochs, args.seed, Path(tmp), extra))

    results = {name: summary(rs) for name, rs in rows.items()}
    course_ips = results["course"]["train_images_per_second"]
    course_acc = results["course"]["test_accuracy"]
    verdicts = {}
    for name in chosen:
        r = results[name]
        ratio = round(r["train_images_per_second"] / course_ips, 3)
        verdicts[name] = {
            "throughput_ratio_over_course": ratio,
            "accuracy_points_over_course": round(100 * (r["test_accuracy"] - course_acc), 2),
            "goal_1.5x_at_equal_accuracy": bool(ratio >= 1.5 and r["test_accuracy"] >= course_acc),
        }
    result = {
        "benchmark": "baseline CNN, 10 epochs, 40k/10k split: course script vs litelab",
        "data": f"CIFAR-10 (JPEG copy): {args.data}",
        "rounds": args.repeats,
        "results": results,
        "verdicts": verdicts,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"verdicts": verdicts}, indent=2))


if __name__ == "__main__":
    main()
