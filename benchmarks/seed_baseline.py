"""The course's seed-000 script vs `litelab run --model baseline`, in one session.

Both train the seed-000 CNN for 10 epochs on the same 40,000/10,000 train/validation split
of the same data and are tested on the same 10,000 test images.

- course: the notebook's recipe verbatim in spirit: float64 arrays divided by 255.0,
  one-hot labels, `model.fit(x, y, epochs=10, validation_data=...)` (batch 32, adam).
- litelab: the real CLI in a subprocess, `litelab run --model baseline --epochs 10`.

The two alternate (course, litelab, course, litelab, ...) for ``--repeats`` rounds so that
load from other work on a shared machine hits both alike; the figures quoted are medians and
the ratio of the medians. Writes benchmarks/results/seed_baseline.json (and prints it):

    python benchmarks/seed_baseline.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


def course_script(data, epochs: int, seed: int) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    x_all = data.x_train / 255.0  # float64, as the notebook does
    y_all = keras.utils.to_categorical(data.y_train, 10)
    x_test = data.x_test / 255.0
    y_test = keras.utils.to_categorical(data.y_test, 10)
    x_train, x_val = x_all[:40000], x_all[40000:]
    y_train, y_val = y_all[:40000], y_all[40000:]
    model = tf.keras.models.Sequential(
        [
            tf.keras.Input(shape=(32, 32, 3)),
            tf.keras.layers.Conv2D(32, (3, 3), activation="relu"),
            tf.keras.layers.MaxPooling2D(2, 2),
            tf.keras.layers.Conv2D(64, (3, 3), activation="relu"),
            tf.keras.layers.MaxPooling2D(2, 2),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, validation_data=(x_val, y_val), verbose=0)
    fit_s = time.perf_counter() - start
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    return {
        "fit_seconds": round(fit_s, 2),
        "train_images_per_second": round(len(x_train) * epochs / fit_s, 1),
        "test_accuracy": round(float(acc), 4),
        "params": int(model.count_params()),
        "epochs": epochs,
        "num_train": len(x_train),
    }


def litelab_cli(
    data_path: str, epochs: int, seed: int, runs_dir: Path, extra: list[str] | None = None
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "litelab.cli",
        "run",
        "--model",
        "baseline",
        "--epochs",
        str(epochs),
        "--seed",
        str(seed),
        "--data",
        data_path,
        "--runs-dir",
        str(runs_dir),
        "--quiet",
        *(extra or []),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"litelab run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    run_dir = next(runs_dir.iterdir())
    m = json.loads((run_dir / "metrics.json").read_text())
    return {
        "command": " ".join(["litelab", *cmd[3:]]),
        "wall_seconds_whole_command": round(wall, 2),
        "fit_seconds": m["train_seconds"],
        "train_images_per_second": m["train_images_per_second"],
        "test_accuracy": round(m["test_accuracy"], 4),
        "params": m["params"],
        "epochs": m["epochs_run"],
        "num_train": m["num_train"],
    }


def summary(rows: list[dict]) -> dict:
    """Medians of a variant's rounds, with every round kept beside them."""
    out = {
        k: statistics.median(r[k] for r in rows)
        for k in ("fit_seconds", "train_images_per_second", "test_accuracy")
    }
    out["each_round"] = rows
    return out


def machine() -> dict:
    """The machine and versions a result was measured with."""
    import keras
    import tensorflow as tf

    return {
        "cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds of each")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "seed_baseline.json")
    )
    args = parser.parse_args()

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset

    # Decode once (and fill the cache the CLI run reads), outside both timings.
    data = load_dataset(DatasetConfig(source=args.data, val_split=0.0), progress=False)
    courses, lites = [], []
    for i in range(args.repeats):
        print(f"round {i + 1}/{args.repeats}: course script", file=sys.stderr, flush=True)
        courses.append(course_script(data, args.epochs, args.seed))
        print(f"round {i + 1}/{args.repeats}: litelab run", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            lites.append(litelab_cli(args.data, args.epochs, args.seed, Path(tmp)))

    course, lite = summary(courses), summary(lites)
    result = {
        "benchmark": "seed 000 baseline CNN, 10 epochs: course script vs litelab run",
        "data": f"CIFAR-10 (JPEG copy): {args.data}",
        "rounds": args.repeats,
        "course_script": course,
        "litelab": lite,
        "throughput_ratio_litelab_over_course": round(
            lite["train_images_per_second"] / course["train_images_per_second"], 3
        ),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
