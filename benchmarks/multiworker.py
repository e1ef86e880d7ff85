"""`litelab run` as one process and as two MultiWorkerMirroredStrategy workers on 127.0.0.1:
images/s and losses, the same small model and the same global batch, in one run.

A slice of the CIFAR-10 JPEG copy (``--train`` training + ``--test`` test images) is written
to an .npz first, so both runs read the same arrays. Then, one after the other:

- ``one process``: ``litelab run --data slice.npz --model M --batch-size B ...``;
- ``two workers``: the same command twice at once, with ``--strategy multiworker --workers
  127.0.0.1:P0,127.0.0.1:P1 --worker-index 0|1``; worker 0 writes the run folder.

Images/s are the run's ``train_images_per_second`` (training images x epochs / fit time,
validation included) and, from history.csv's epoch times, the same without the first epoch
(graph tracing, and for two workers the collective set-up). On a machine with two cores the
two workers share those two cores with each other, so this shows that the two-worker run
trains the same model (the losses agree), not a speed-up. Writes
benchmarks/results/multiworker.json:

    python benchmarks/multiworker.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litelab.zoo.publish import cpu_name, package_versions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
OUT = ROOT / "benchmarks" / "results" / "multiworker.json"
LITELAB = shutil.which("litelab", path=str(Path(sys.executable).parent)) or "litelab"


def versions() -> dict[str, str]:
    return package_versions("tensorflow", "keras", "numpy")


def write_slice(source: str, train: int, test: int, target: Path) -> dict:
    import numpy as np

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset

    d = load_dataset(DatasetConfig(source=source, val_split=0.0), seed=1, progress=False)
    np.savez(
        target,
        x_train=d.x_train[:train],
        y_train=d.y_train[:train],
        x_test=d.x_test[:test],
        y_test=d.y_test[:test],
        classes=np.array(d.classes),
    )
    return {"source": source, "train_images": min(train, len(d.x_train)),
            "test_images": min(test, len(d.x_test))}  # fmt: skip


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def summarize(run: Path, wall: float) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    later = [float(r["epoch_seconds"]) for r in rows[1:] if r.get("epoch_seconds")]
    n = metrics["num_train"]
    return {
        "train_images_per_second": metrics["train_images_per_second"],
        "train_images_per_second_after_epoch_1": round(n * len(later) / sum(later), 1)
        if later
        else None,
        "train_seconds": metrics["train_seconds"],
        "wall_seconds": round(wall, 1),
        "loss": [round(float(r["loss"]), 5) for r in rows],
        "val_loss": [round(float(r["val_loss"]), 5) for r in rows if r.get("val_loss")],
        "test_loss": round(metrics["test_loss"], 5),
        "test_accuracy": round(metrics["test_accuracy"], 4),
        "num_train": n,
        "num_val": metrics["num_val"],
        "workers": metrics.get("workers", 1),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--train", type=int, default=5000, help="training images (0.2 held out)")
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--model", default="tiny")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64, help="the global batch")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="litelab-mw-bench-") as tmp:
        tmp = Path(tmp)
        npz = tmp / "slice.npz"
        data = write_slice(args.data, args.train, args.test, npz)
        common = ["run", "--data", str(npz), "--model", args.model, "--epochs", str(args.epochs)]
        common += ["--batch-size", str(args.batch_size), "--no-cache", "--quiet"]
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env["LITELAB_CACHE_DIR"] = str(tmp / "cache")

        started = time.monotonic()
        one_dir = tmp / "runs" / "one"
        subprocess.run([LITELAB, *common, "--out", str(one_dir)], env=env, check=True)
        one = summarize(one_dir, time.monotonic() - started)
        print(f"one process: {one['train_images_per_second']} images/s", flush=True)

        two_dir = tmp / "runs" / "two"
        workers = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
        started = time.monotonic()
        procs = []
        for i in range(2):
            home = tmp / f"worker{i}"
            home.mkdir()
            cmd = [LITELAB, *common, "--out", str(two_dir), "--strategy", "multiworker"]
            cmd += ["--workers", workers, "--worker-index", str(i)]
            procs.append(subprocess.Popen(cmd, cwd=home, env=env))
        codes = [proc.wait(timeout=1800) for proc in procs]
        if codes != [0, 0]:
            raise SystemExit(f"the two-worker run failed: exit codes {codes}")
        two = summarize(two_dir, time.monotonic() - started)
        print(f"two workers: {two['train_images_per_second']} images/s", flush=True)

    def rel(a: list[float], b: list[float]) -> float:
        return round(max(abs(x - y) / abs(x) for x, y in zip(a, b, strict=True)), 5)

    result = {
        "what": "litelab run: one process vs --strategy multiworker with two worker processes "
        "on 127.0.0.1, same model, data and global batch",
        "command": f"python benchmarks/multiworker.py --data {args.data} --train {args.train} "
        f"--test {args.test} --model {args.model} --epochs {args.epochs} "
        f"--batch-size {args.batch_size}",
        "note": f"the two worker processes share this machine's {os.cpu_count()} CPU cores "
        "with each other (and run their collectives over loopback), so this shows that "
        "two workers train the same model (correctness), not a speed-up; on two machines "
        "each worker has its own cores",
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "versions": versions(),
        "data": data,
        "model": args.model,
        "epochs": args.epochs,
        "global_batch": args.batch_size,
        "per_worker_batch_with_2": args.batch_size // 2,
        "one_process": one,
        "two_workers": two,
        "agreement": {
            "loss_max_relative_difference": rel(one["loss"], two["loss"]),
            "val_loss_max_relative_difference": rel(one["val_loss"], two["val_loss"])
            if one["val_loss"]
            else None,
            "test_loss_difference": round(abs(one["test_loss"] - two["test_loss"]), 5),
            "test_accuracy_difference": round(abs(one["test_accuracy"] - two["test_accuracy"]), 4),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["agreement"]), f"wrote {args.out}")


if __name__ == "__main__":
    main()
