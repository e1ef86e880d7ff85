"""Issue 16 goal 4: the MLPerf Tiny ResNet-8 trained on the JPEG copy, like for like.

The README's MLPerf anchor was trained by MLPerf on the lossless CIFAR-10 and only tested
on the JPEG copy, while litelab's models are trained on the JPEG copy. This benchmark trains
the same architecture (``--model resnet8``) on the JPEG copy's whole training split twice,
each within the wall-clock budget of the ``mcu`` recipe, and tests both int8 files through
TFLite Micro on the whole test split:

- (a) MLPerf's own recipe (resnet8's registered defaults): Adam, lr 1e-3 x 0.99^epoch,
  batch 32, rotation 15 degrees, width/height shift 0.1, horizontal flip; ``--epochs 500``
  (MLPerf's count) cut by ``--time-budget``;
- (b) litelab's recipe: the ``mcu`` recipe's training settings (mcunet's registered recipe:
  one-cycle SGD-Nesterov, label smoothing, flip + crop), with the epochs a 2-epoch probe
  says fit the budget; ``--time-budget`` still stops it if later epochs run slower.

The budget is measured in this same run, on this machine: a 2-epoch probe of ``litelab run
--recipe mcu`` gives its first and steady epoch times, and the budget is what its 30
epochs take (first + 29 x steady). The course's seed-000 script (10 epochs, batch 32) is
timed first in the same run, so the budget is also stated as a multiple of it.

    python benchmarks/anchor_resnet8.py --data ../shared/datasets/cifar10-jpeg.tar.gz

Writes benchmarks/results/anchor_resnet8.json. Takes about an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def mcu_recipe() -> dict:
    """The mcu recipe's training settings: mcunet's registered recipe."""
    from litelab.models import get_model_spec

    return dict(get_model_spec("mcunet").recipe)


def litelab_recipe_flags() -> list[str]:
    """The mcu recipe's training settings as flags."""
    recipe = mcu_recipe()
    return [
        "--optimizer", recipe["optimizer"],
        "--lr", str(recipe["learning_rate"]),
        "--batch-size", str(recipe["batch_size"]),
        "--schedule", recipe["schedule"],
        "--warmup", str(recipe["warmup"]),
        "--label-smoothing", str(recipe["label_smoothing"]),
        "--weight-decay", str(recipe["weight_decay"]),
        "--augment", ",".join(recipe["augment"]),
    ]  # fmt: skip


def litelab_run(data: str, runs_dir: Path, flags: list[str], what: str) -> tuple[Path, dict]:
    """`litelab run` in a subprocess; (run folder, metrics.json) and the whole command's time."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    before = set(runs_dir.iterdir())
    cmd = [sys.executable, "-m", "litelab.cli", "run", "--data", data, "--val-split", "0"]
    cmd += ["--runs-dir", str(runs_dir), "--quiet", "--seed", "42", *flags]
    say(f"{what}: litelab {' '.join(cmd[3:])}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{what}: litelab run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    (run_dir,) = set(runs_dir.iterdir()) - before
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["wall_seconds_whole_command"] = round(wall, 1)
    metrics["command"] = "litelab " + " ".join(cmd[3:])
    say(
        f"{what}: {metrics['epochs_run']} epochs in {metrics['train_seconds']:.0f} s, "
        f"float test accuracy {metrics.get('test_accuracy', float('nan')):.4f}"
    )
    return run_dir, metrics


def epoch_seconds(run_dir: Path) -> list[float]:
    from litelab.runs import Run

    return [float(s) for s in Run.open(run_dir).history["epoch_seconds"]]


def budget_for(first: float, steady: float, epochs: int) -> float:
    return first + (epochs - 1) * steady


def epochs_within(budget: float, first: float, steady: float) -> int:
    """The most epochs whose time (first + (n - 1) x steady) fits the budget, at least 1."""
    return max(1, 1 + math.floor((budget - first) / steady))


def int8_through_tflm(run_dir: Path, name: str, data, command: str, root: Path) -> dict:
    """The run's int8 file, converted and tested through TFLite Micro as the zoo does."""
    from litelab.zoo.publish import publish

    say(f"{name}: int8 through TFLite Micro on {len(data.x_test):,} test images")
    entry = publish(run_dir, name, data=data, goal="issue 16 goal 4", command=command, root=root)
    return {**entry.card["metrics"], **entry.card["sizes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--keep", help="keep the run folders here (default: a temporary folder)")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "anchor_resnet8.json")
    )
    args = parser.parse_args()

    from seed_baseline import course_script

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.zoo.publish import cpu_name, package_versions

    started = time.strftime("%Y-%m-%d %H:%M")
    data = load_dataset(DatasetConfig(source=args.data, val_split=0.0), progress=False)
    say("course seed-000 script, 10 epochs")
    course = course_script(data, 10, 42)
    say(f"course script: {course['fit_seconds']:.0f} s")

    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.keep) if args.keep else Path(tmp) / "runs"
        probe_dir, _ = litelab_run(
            args.data, runs, ["--recipe", "mcu", "--epochs", "2", "--no-evaluate"], "mcu probe"
        )
        m1, m2 = epoch_seconds(probe_dir)
        mcu_epochs = mcu_recipe()["epochs"]
        how = f"{m1:.1f} s + {mcu_epochs - 1} x steady {m2:.1f} s"
        budget = round(budget_for(m1, m2, mcu_epochs), 1)
        say(f"budget: the mcu recipe's {mcu_epochs} epochs = first {how} = {budget} s")

        ours = ["--model", "resnet8", *litelab_recipe_flags(), "--no-tta"]
        probe_b, _ = litelab_run(
            args.data, runs, [*ours, "--epochs", "2", "--no-evaluate"], "(b) probe"
        )
        r1, r2 = epoch_seconds(probe_b)
        epochs_b = epochs_within(budget, r1, r2)

        mlperf = ["--model", "resnet8", "--epochs", "500", "--no-tta"]
        budget_flag = ["--time-budget", str(budget)]
        run_a, metrics_a = litelab_run(
            args.data, runs, [*mlperf, *budget_flag], "(a) MLPerf recipe"
        )
        run_b, metrics_b = litelab_run(
            args.data, runs, [*ours, "--epochs", str(epochs_b), *budget_flag], "(b) litelab recipe"
        )
        zoo_tmp = Path(tmp) / "zoo"
        a = int8_through_tflm(run_a, "resnet8-mlperf", data, metrics_a["command"], zoo_tmp)
        b = int8_through_tflm(run_b, "resnet8-litelab", data, metrics_b["command"], zoo_tmp)

    def row(metrics: dict, int8: dict) -> dict:
        keep = ("command", "epochs_run", "train_seconds", "train_images_per_second")
        return {
            **{k: metrics[k] for k in keep},
            "stopped_by_time_budget": metrics.get("stopped_by_time_budget"),
            "wall_seconds_whole_command": metrics["wall_seconds_whole_command"],
            "train_seconds_over_course_script": round(
                metrics["train_seconds"] / course["fit_seconds"], 2
            ),
            "float_test_accuracy": round(metrics["test_accuracy"], 4),
            "int8_tflm_accuracy": int8["int8_tflm_accuracy"],
            "int8_tflm_images": int8["int8_tflm_images"],
            "int8_tflm_vs_litert_top1_agreement": int8["int8_tflm_vs_litert_top1_agreement"],
            "int8_bytes": int8["int8_bytes"],
            "arena_bytes": int8["arena_bytes"],
            "macs": int8["macs"],
            "params": int8["params"],
        }

    result = {
        "benchmark": "issue 16 goal 4: MLPerf Tiny ResNet-8 trained on the JPEG copy within "
        "the mcu recipe's wall-clock budget, (a) MLPerf's recipe and (b) litelab's",
        "data": f"CIFAR-10 (JPEG copy): {args.data}; the whole 50,000-image training split, "
        "the whole 10,000-image test split (int8 through TFLite Micro)",
        "cpu": cpu_name(),
        "started": started,
        "finished": time.strftime("%Y-%m-%d %H:%M"),
        "course_script": course,
        "budget": {
            "seconds": budget,
            "how": f"the mcu recipe's {mcu_epochs} epochs from a 2-epoch probe in this run: "
            f"first {how}",
            "over_course_script": round(budget / course["fit_seconds"], 2),
        },
        "litelab_recipe_probe_epoch_seconds": [r1, r2],
        "a_mlperf_recipe": row(metrics_a, a),
        "b_litelab_recipe": row(metrics_b, b),
        "versions": package_versions("litelab", "tensorflow", "keras", "ai-edge-litert"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
