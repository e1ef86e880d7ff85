"""A bounded load check of `litelab serve`: N concurrent /api/predict requests on loopback.

Starts the real command (`litelab serve --port 0`) over an empty runs folder, so requests
name a shipped zoo model; sends a fixed number of requests per format from a fixed number of
client threads (and stops early at a time limit); writes the median, p95 and max of the
client-side latency, the throughput, the server's own model latency and the error count to
``benchmarks/results/serve_load.json``. Traffic goes to 127.0.0.1 only.

    .venv/bin/python benchmarks/serve_load.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import io
import json
import re
import select
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def test_photos(source: Path, count: int) -> list[tuple[str, bytes]]:
    """``count`` CIFAR-10 (JPEG copy) test images, and half as many enlarged to 640x480 so
    that decoding a phone-sized photo is part of the load."""
    from PIL import Image

    out: list[tuple[str, bytes]] = []
    with tarfile.open(source) as tar:
        for member in tar:
            if member.isfile() and "/test/" in member.name and member.name.endswith(".jpg"):
                out.append((Path(member.name).name, tar.extractfile(member).read()))
                if len(out) >= count:
                    break
    for name, data in list(out[: count // 2]):
        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).resize((640, 480), Image.Resampling.BICUBIC).save(
            buf, format="JPEG", quality=90
        )
        out.append(("big-" + name, buf.getvalue()))
    return out


def multipart(fields: dict[str, str], name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
            + f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def start_server(runs: Path) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).parent / "litelab"
    proc = subprocess.Popen(
        [str(exe), "serve", "--runs", str(runs), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            match = re.search(r"at (http://127\.0\.0\.1:\d+/)", proc.stdout.readline())
            if match:
                return proc, match.group(1)
    proc.kill()
    raise SystemExit("litelab serve did not start")


def load(url, photos, fmt, model, requests, concurrency, limit_s) -> dict:
    stop_at = time.monotonic() + limit_s
    lock = threading.Lock()
    latencies: list[float] = []
    model_ms: list[float] = []
    errors: list[str] = []

    def one(i: int) -> None:
        if time.monotonic() > stop_at:
            return
        name, data = photos[i % len(photos)]
        body, ctype = multipart({"run": model, "format": fmt}, name, data)
        req = urllib.request.Request(
            url + "api/predict", data=body, headers={"Content-Type": ctype}, method="POST"
        )
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                answer = json.loads(r.read())
            elapsed = (time.perf_counter() - start) * 1000.0
            with lock:
                latencies.append(elapsed)
                model_ms.append(answer["latency_ms"])
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    # Warm-up: load the model (and convert float TFLite) before timing.
    one(0)
    latencies.clear()
    model_ms.clear()
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    lat = sorted(latencies)

    def q(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))], 2) if lat else None

    return {
        "format": fmt,
        "model": model,
        "requests_sent": len(lat) + len(errors),
        "ok": len(lat),
        "errors": len(errors),
        "error_samples": errors[:3],
        "concurrency": concurrency,
        "median_ms": q(0.5),
        "p95_ms": q(0.95),
        "max_ms": round(lat[-1], 2) if lat else None,
        "requests_per_s": round(len(lat) / wall, 1),
        "server_model_ms_median": round(statistics.median(model_ms), 3) if model_ms else None,
        "wall_s": round(wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cifar10-jpeg.tar.gz"))
    ap.add_argument("--model", default="zoo:mcu")
    ap.add_argument("--formats", default="tflite-int8,tflite-float32,keras")
    ap.add_argument("--requests", type=int, default=200, help="per format")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--limit-s", type=float, default=120.0, help="per format, then stop")
    ap.add_argument("--out", default=str(RESULTS / "serve_load.json"))
    args = ap.parse_args()

    photos = test_photos(Path(args.data), 40)
    with tempfile.TemporaryDirectory() as runs:
        proc, url = start_server(Path(runs))
        try:
            rows = [
                load(url, photos, fmt, args.model, args.requests, args.concurrency, args.limit_s)
                for fmt in args.formats.split(",")
            ]
            alive = urllib.request.urlopen(url + "api/runs", timeout=30).status == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result = {
        "what": "litelab serve, POST /api/predict on 127.0.0.1, latency seen by the client",
        "photos": f"{len(photos)} CIFAR-10 (JPEG copy) test images: 40 at 32x32, "
        f"{len(photos) - 40} enlarged to 640x480 JPEG",
        "server_alive_after": alive,
        "rows": rows,
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['format']:<15} {r['ok']}/{r['requests_sent']} ok, {r['errors']} errors, "
            f"x{r['concurrency']}: median {r['median_ms']} ms, p95 {r['p95_ms']} ms, "
            f"{r['requests_per_s']} req/s (model {r['server_model_ms_median']} ms)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
