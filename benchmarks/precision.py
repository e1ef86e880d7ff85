"""Does bf16 pay on this CPU? Keras' mixed_bfloat16 policy vs float32 for the baseline.

The performance issue suggests bf16 "where the CPU has it"; this measures it. Each policy
runs in its own process (the policy is global), 3 epochs on the first 20,000 training images
of the JPEG copy, batch 32 and 128; the figure is the best epoch after the first (noise on a
shared machine only adds time). Also records whether /proc/cpuinfo lists bf16 instructions.

    .venv/bin/python benchmarks/precision.py --data ../shared/datasets/cifar10-jpeg.tar.gz

Writes benchmarks/results/precision.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
CASES = (("float32", 32), ("mixed_bfloat16", 32), ("float32", 128), ("mixed_bfloat16", 128))


def worker(data_path: str, policy: str, batch: int, train: int, epochs: int) -> dict:
    import keras

    keras.mixed_precision.set_global_policy(policy)
    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.models import build_model

    keras.utils.set_random_seed(42)
    d = load_dataset(DatasetConfig(source=data_path, val_split=0.0), progress=False)
    x, y = d.x_train[:train].astype("float32") / 255, d.y_train[:train]
    model = build_model("baseline")
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(round(time.perf_counter() - self.start, 2))

    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Timer()])
    probs = model.predict(d.x_test.astype("float32") / 255, batch_size=500, verbose=0)
    return {
        "policy": policy,
        "batch_size": batch,
        "epoch_seconds": seconds,
        "train_images_per_second_best": round(train / min(seconds[1:] or seconds), 1),
        "test_accuracy": round(float((probs.argmax(1) == d.y_test).mean()), 4),
    }


def cpu_flags() -> dict:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    model = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")
    return {"model": model, **{f: f in flags for f in wanted}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "precision.json"))
    parser.add_argument("--worker", nargs=2, metavar=("POLICY", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        policy, batch = args.worker[0], int(args.worker[1])
        print(json.dumps(worker(args.data, policy, batch, args.train, args.epochs)))
        return
    runs = []
    for policy, batch in CASES:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            policy,
            str(batch),
            "--data",
            args.data,
            "--train",
            str(args.train),
            "--epochs",
            str(args.epochs),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(runs[-1], file=sys.stderr, flush=True)
    rate = {(r["policy"], r["batch_size"]): r["train_images_per_second_best"] for r in runs}
    result = {
        "benchmark": "baseline training throughput, float32 vs mixed_bfloat16",
        "data": f"CIFAR-10 (JPEG copy): {args.data}, first {args.train} training images",
        "cpu": cpu_flags(),
        "runs": runs,
        "bf16_speedup": {
            str(b): round(rate[("mixed_bfloat16", b)] / rate[("float32", b)], 3)
            for b in sorted({b for _, b in CASES})
        },
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
