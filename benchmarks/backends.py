"""Keras 3 training throughput of one litelab model on each backend: TensorFlow, JAX, PyTorch.

Same model code (litelab's zoo is plain keras.layers), same data, same optimizer and batch
size; each backend runs in its own process because KERAS_BACKEND is read at import. The
figure is the median seconds of the epochs after the first (which carries tracing and
compilation); TensorFlow runs first and again last, to show how much the machine drifted.

Needs the other backends beside litelab's own pins (they are not litelab dependencies):

    .venv/bin/pip install jax==0.10.2 jaxlib==0.10.2 torch==2.13.0
    .venv/bin/python benchmarks/backends.py --data ../shared/datasets/cifar10-jpeg.tar.gz

Writes benchmarks/results/backends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
ORDER = ("tensorflow", "jax", "torch", "tensorflow")


def worker(data_path: str, model: str, epochs: int, train: int, batch: int) -> dict:
    """Runs inside a process whose KERAS_BACKEND is already set."""
    import keras
    import numpy as np

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.models import build_model

    keras.utils.set_random_seed(42)
    d = load_dataset(DatasetConfig(source=data_path, val_split=0.0), progress=False)
    x = d.x_train[:train].astype("float32") / 255.0
    y = d.y_train[:train]
    xt = d.x_test.astype("float32") / 255.0
    net = build_model(model)
    net.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    net.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Timer()])
    acc = float(np.mean(net.predict(xt, batch_size=500, verbose=0).argmax(1) == d.y_test))
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    versions = {"keras": keras.__version__, "backend": keras.backend.backend()}
    for name in ("tensorflow", "jax", "torch"):
        if name == keras.backend.backend():
            versions[name] = __import__(name).__version__
    return {
        "epoch_seconds": [round(s, 2) for s in seconds],
        "steady_epoch_seconds": round(steady, 2),
        "train_images_per_second": round(train / steady, 1),
        "test_accuracy": round(acc, 4),
        "versions": versions,
    }


def per_backend(runs: list[dict]) -> dict:
    """Median images/s of each backend (TensorFlow ran twice) and its ratio to TensorFlow's."""
    rates: dict[str, list[float]] = {}
    for r in runs:
        if "error" not in r:
            rates.setdefault(r["backend"], []).append(r["train_images_per_second"])
    median = {b: statistics.median(v) for b, v in rates.items()}
    tf_rate = median.get("tensorflow")
    return {
        "median_images_per_second": median,
        "ratio_to_tensorflow": {b: round(v / tf_rate, 3) for b, v in median.items()}
        if tf_rate
        else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=20000, help="training images per epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "backends.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data, args.model, args.epochs, args.train, args.batch_size)))
        return

    runs = []
    for backend in ORDER:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--data",
            args.data,
            "--model",
            args.model,
            "--epochs",
            str(args.epochs),
            "--train",
            str(args.train),
            "--batch-size",
            str(args.batch_size),
        ]
        print(f"{backend} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            runs.append({"backend": backend, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        runs.append({"backend": backend, **result})
        print(
            f"  {result['train_images_per_second']} img/s, epochs {result['epoch_seconds']}",
            file=sys.stderr,
            flush=True,
        )
    result = {
        "benchmark": f"Keras training throughput of `{args.model}` by backend",
        "data": f"CIFAR-10 (JPEG copy): {args.data}, first {args.train} training images",
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "runs": runs,
        **per_backend(runs),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
