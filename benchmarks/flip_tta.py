"""Flip TTA on the board: the shipped int8 files through TFLite Micro, one pass and two.

``litelab deploy --flip-tta`` makes the board program classify each frame and its mirror image
and average the two outputs. This benchmark measures what that buys for each zoo entry on the
full CIFAR-10 (JPEG copy) test split, through the int8 file that ships and TFLM's reference
kernels (the single pass must reproduce the card's figure), and with ``--update-cards``
writes ``int8_tflm_accuracy_flip_tta`` into each card. Results: benchmarks/results/flip_tta.json.

    python benchmarks/flip_tta.py --data ../shared/datasets/cifar10-jpeg.tar.gz --update-cards
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # fast_recipe's goals
# the issue 16 goal each shipped entry answers, as fast_recipe.py judges its recipe
GOAL_RECIPE = {"esp-eye": "esp-eye", "mcu": "mcu-distill"}


def report(name: str, done: int, total: int) -> None:
    print(f"zoo:{name}: {done:,} of {total:,} TFLM Invokes", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/cifar10-jpeg.tar.gz")
    parser.add_argument("--names", default="esp-eye,mcu,fast", help="zoo entries, comma-separated")
    parser.add_argument("--images", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--update-cards", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "flip_tta.json"))
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()

    from fast_recipe import GOAL_TEXT, goal_met

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.runs import versions
    from litelab.zoo.publish import cpu_name, measure_flip_tta

    data = load_dataset(DatasetConfig(source=args.data, val_split=0.0), progress=False)
    rows = []
    for name in args.names.split(","):
        print(f"zoo:{name}: TFLM, each test image and its mirror ...", file=sys.stderr, flush=True)
        row = measure_flip_tta(
            name,
            data=data,
            tflm_images=args.images,
            write=args.update_cards,
            progress=None if args.quiet else lambda done, total, n=name: report(n, done, total),
        )
        print(
            f"zoo:{name}: {row['int8_tflm_accuracy']:.4f} one pass, "
            f"{row['int8_tflm_accuracy_flip_tta']:.4f} with flip TTA "
            f"({row['images']} images, {row['tflm_seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        recipe = GOAL_RECIPE.get(name)
        if recipe:  # the goal judged on the flip-TTA figure: what the board program gets
            figures = {**row, "int8_tflm_accuracy": row["int8_tflm_accuracy_flip_tta"]}
            row["goal"] = GOAL_TEXT[recipe]
            row["goals_with_flip_tta"] = goal_met(recipe, figures)
            row["goals_met_with_flip_tta"] = all(
                g["met"] is True for g in row["goals_with_flip_tta"].values()
            )
        rows.append(row)
    result = {
        "benchmark": "flip TTA on the board: int8 through TFLM, one Invoke per image and two",
        "data": f"CIFAR-10 (JPEG copy): {args.data}",
        "runtime": "tflite-micro Python interpreter (reference kernels)",
        "models": rows,
        "cards_updated": args.update_cards,
        "cpu": cpu_name(),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
