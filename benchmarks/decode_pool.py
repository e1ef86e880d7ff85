"""First-load decode speed of litelab's JPEG decode pool: the old home-made subprocess pool
(``git show HEAD:src/litelab/data/images.py``) against the ProcessPoolExecutor one.

For each implementation, in a fresh Python process and one after the other (never at once):

- ``pool``: the encoded images are read from the archive into memory first (not timed), then
  ``DecodePool.add`` / ``finish`` decode all of them (the decode work alone);
- ``first_load``: ``load_dataset`` on the archive with a fresh, empty ``LITELAB_CACHE_DIR``
  (archive read + decode + cache write: what a user waits for the first time).

The old module's worker processes import ``litelab.data.images`` by name, so the old file is
run from a temporary copy of the package (``src/litelab`` with ``data/images.py`` replaced
by the HEAD version) placed first on ``PYTHONPATH``. Writes
benchmarks/results/decode_pool.json:

    python benchmarks/decode_pool.py --data ../shared/datasets/cifar10-jpeg.tar.gz --impl both
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from litelab.zoo.publish import cpu_name  # the CPU model every result records

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
OUT = ROOT / "benchmarks" / "results" / "decode_pool.json"


def old_tree(tmp: Path) -> Path:
    """A copy of src/litelab whose data/images.py is the version at git HEAD."""
    src = tmp / "src"
    shutil.copytree(ROOT / "src" / "litelab", src / "litelab")
    old = subprocess.run(
        ["git", "show", "HEAD:src/litelab/data/images.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (src / "litelab" / "data" / "images.py").write_text(old)
    return src


def child(data: str, repeats: int) -> dict:
    """Runs in the measuring process: whichever litelab is first on sys.path is measured."""
    from litelab.config import DatasetConfig
    from litelab.data import images, load_dataset

    with tarfile.open(data) as tar:
        blobs = []
        for member in tar:
            if member.isfile() and images.is_image_name(member.name):
                blobs.append((member.name, tar.extractfile(member).read()))
    pool_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with images.DecodePool(32, progress=False) as pool:
            for key, blob in blobs:
                pool.add(key, blob)
            x, rows = pool.finish()
        pool_s.append(time.perf_counter() - t0)
    failed = sum(1 for r in rows.values() if r < 0)
    load_s = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["LITELAB_CACHE_DIR"] = cache
            t0 = time.perf_counter()
            ds = load_dataset(DatasetConfig(source=data), seed=1, progress=False)
            load_s.append(time.perf_counter() - t0)
    n_loaded = len(ds.x_train) + len(ds.x_val) + len(ds.x_test)
    n = len(blobs)
    best_pool, best_load = min(pool_s), min(load_s)
    return {
        "module": images.__file__,
        "workers": int(os.environ.get("LITELAB_DECODE_WORKERS") or min(os.cpu_count() or 1, 8)),
        "images": n,
        "failed": failed,
        "pool_seconds": [round(s, 3) for s in pool_s],
        "pool_best_seconds": round(best_pool, 3),
        "pool_images_per_s": round(n / best_pool, 1),
        "first_load_seconds": [round(s, 3) for s in load_s],
        "first_load_best_seconds": round(best_load, 3),
        "first_load_images_per_s": round(n_loaded / best_load, 1),
        "loaded_images": n_loaded,
        "checksum": int(x.astype("uint64").sum()),
    }


def measure(impl: str, data: str, repeats: int) -> dict:
    env = dict(os.environ)
    env.pop("LITELAB_DECODE_WORKERS", None)
    with tempfile.TemporaryDirectory() as tmp:
        src = old_tree(Path(tmp)) if impl == "old" else ROOT / "src"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
        env["LITELAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        cmd = [sys.executable, __file__, "--child", "--data", data, "--repeats", str(repeats)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["impl"] = impl
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--impl", choices=("old", "new", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each; best is kept")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data, args.repeats)))
        return

    impls = ("old", "new") if args.impl == "both" else (args.impl,)
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update(
        {
            "data": Path(args.data).name,
            "cpu_model": cpu_name(),
            "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "repeats": args.repeats,
        }
    )
    report.setdefault("results", {})
    for impl in impls:  # one after the other: never two measurements at once
        load_before = os.getloadavg()
        res = measure(impl, args.data, args.repeats)
        # other work on the machine skews a result: keep the 1-minute load around it
        res["loadavg_1min_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
        report["results"][impl] = res
        print(
            f"{impl}: decode pool {res['pool_best_seconds']} s "
            f"({res['pool_images_per_s']} img/s), first load {res['first_load_best_seconds']} s "
            f"({res['first_load_images_per_s']} img/s), workers {res['workers']}",
            flush=True,
        )
    res = report["results"]
    if "old" in res and "new" in res:
        report["speedup_pool"] = round(
            res["old"]["pool_best_seconds"] / res["new"]["pool_best_seconds"], 3
        )
        report["speedup_first_load"] = round(
            res["old"]["first_load_best_seconds"] / res["new"]["first_load_best_seconds"], 3
        )
        report["same_pixels"] = res["old"]["checksum"] == res["new"]["checksum"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
