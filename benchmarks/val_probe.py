"""Choose between recipe variants on a validation split, never the test split (issue 16).

Each variant is ``NAME=FLAGS``: ``litelab run --recipe R`` plus those flags, trained on the
first 90% of the training split (``--val-split 0.1``, so 45,000 CIFAR-10 images) and
scored on the held-out 10% (5,000). Nothing touches the test split (``--no-evaluate``).
The variants run one after another in subprocesses, so their fit times are comparable.
The result file keeps each variant's last and best validation accuracy (single pass, no
TTA: the figure an int8 model on the board reproduces), its epochs and fit time.

    python benchmarks/val_probe.py --recipe esp-eye-air --epochs 8 \\
        --variant "labels=" \\
        --variant "self-distilled=--teacher zoo:esp-eye --distill-targets cached-tta"

A teacher from the zoo was trained on the whole training split, validation images
included, so a distilled variant's validation figure can flatter it a little; the result
file says so when a variant has ``--teacher``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME=FLAGS`` as (name, argv); a missing ``=`` or name is a one-line error."""
    name, sep, flags = text.partition("=")
    if not sep or not name.strip():
        raise SystemExit(f"--variant {text!r}: write NAME=FLAGS (FLAGS may be empty)")
    return name.strip(), flags.split()


def probe(args: argparse.Namespace, name: str, flags: list[str], runs: Path) -> dict:
    from litelab.runs import Run

    argv = ["run", "--recipe", args.recipe, "--data", args.data, "--seed", str(args.seed)]
    argv += ["--val-split", str(args.val_split), "--no-evaluate", "--quiet"]
    argv += ["--epochs", str(args.epochs)] if args.epochs else []
    argv += flags
    out = runs / name
    cmd = [sys.executable, "-m", "litelab.cli", *argv, "--runs-dir", str(out)]
    print(f"{name}: litelab {' '.join(argv)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: litelab run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    (run_dir,) = out.iterdir()
    history = Run(run_dir).history
    val = [float(v) for v in history["val_accuracy"]]
    row = {
        "command": "litelab " + " ".join(argv),
        "epochs": len(val),
        "val_accuracy_last": round(val[-1], 4),
        "val_accuracy_best": round(max(val), 4),
        "val_accuracy_per_epoch": [round(v, 4) for v in val],
        "fit_seconds": round(sum(float(s) for s in history["epoch_seconds"]), 1),
        "wall_seconds": wall,
    }
    if "--teacher" in flags:
        row["caveat"] = (
            "the teacher may have been trained on the validation images; this figure can "
            "flatter the distilled variant"
        )
    print(f"{name}: val {row['val_accuracy_last']:.2%} after {row['epochs']} epochs, "
          f"{row['fit_seconds']:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--val-split", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=FLAGS")
    parser.add_argument("--runs-dir", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/val_probe.json"))
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variant]

    from litelab.runs import versions
    from litelab.zoo.publish import cpu_name

    runs = Path(args.runs_dir or tempfile.mkdtemp(prefix="litelab-probe-"))
    result = {
        "question": f"which variant of recipe {args.recipe} scores best on a validation split",
        "data": f"CIFAR-10 (JPEG copy): {args.data}",
        "val_split": args.val_split,
        "cpu": cpu_name(),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "variants": {},
    }
    out = Path(args.out)
    for name, flags in variants:
        result["variants"][name] = probe(args, name, flags, runs)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")  # after each, in case of a stop
    best = max(result["variants"], key=lambda n: result["variants"][n]["val_accuracy_last"])
    result["chosen"] = best
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"chosen on validation: {best}", file=sys.stderr)


if __name__ == "__main__":
    main()
