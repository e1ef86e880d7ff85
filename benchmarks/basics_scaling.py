"""Issue 7: what the normal equation and mini-batch SGD cost as the houses grow.

The course says the normal equation gets expensive on large data. For each size (10k, 100k,
1M, 10M rows of the course's house data) and each method, a fresh process generates the
data, then fits: scikit-learn's LinearRegression (least squares, in one step) or a Keras
Dense(1) by SGD on standardised data (one epoch, batch 256, lr 0.01: a pass over the data
is what SGD needs at the least). Fit time, and peak memory as the rise of the process's
peak RSS during the fit. Writes benchmarks/results/basics_scaling.json and .png:

    python benchmarks/basics_scaling.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
METHODS = ("normal_equation", "sgd")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(method: str, rows: int) -> dict:
    import numpy as np

    # Imports first, so that neither the time nor the memory counts loading libraries.
    import sklearn.linear_model  # noqa: F401
    import sklearn.preprocessing  # noqa: F401

    from litelab.basics import linear as lin

    if method == "sgd":
        import keras  # noqa: F401
    data = lin.many_houses(rows)
    before = peak_mb()
    t = time.perf_counter()
    if method == "normal_equation":
        slope, intercept = lin.fit_normal_equation(data)
    else:
        fit = lin.fit_keras_sgd(data, learning_rate=0.01, epochs=1, batch_size=256)
        slope, intercept = fit.slope, fit.intercept
    seconds = time.perf_counter() - t
    return {
        "method": method,
        "rows": rows,
        "fit_seconds": round(seconds, 3),
        "peak_rss_rise_mb": round(peak_mb() - before, 1),
        "peak_rss_mb": round(peak_mb(), 1),
        "data_mb": round((data.x.nbytes + data.y.nbytes) / 2**20, 1),
        "slope": slope,
        "intercept": intercept,
        "mse": lin.mse(data, slope, intercept) if rows <= 1_000_000 else None,
        "np": np.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "ROWS"))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--out", default="benchmarks/results/basics_scaling.json")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    from seed_baseline import machine

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rows_out = []
    for rows in (int(s) for s in args.sizes.split(",")):
        for method in METHODS:
            done = subprocess.run(
                [sys.executable, __file__, "--child", method, str(rows)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                row = {"method": method, "rows": rows, "error": done.stderr.strip()[-300:]}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    result = {"data": "the course's house data (seed 42)", "rows": rows_out, "machine": machine()}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    plot(rows_out, Path(args.out).with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    from litelab.plots import new_figure, save_figure

    fig = new_figure(11.0, 4.5)
    for k, (key, label) in enumerate(
        (("fit_seconds", "fit time (s)"), ("peak_rss_rise_mb", "peak memory rise (MB)"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        for method in METHODS:
            pts = [(r["rows"], r[key]) for r in rows if r["method"] == method and key in r]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, [max(y, 1e-3) for y in ys], marker="o", label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
