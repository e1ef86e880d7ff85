"""Two `litelab run` processes started at once with the same --runs-dir, while `litelab serve`
answers 8 clients over that folder: both runs finish in different folders, and no request
gets a 5xx while the runs are being written."""

from __future__ import annotations

import json
import re
import select
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

LITELAB = shutil.which("litelab", path=str(Path(sys.executable).parent)) or "litelab"
CLIENTS = 8


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [LITELAB, "serve", "--runs", str(root), "--port", "0", "--quiet"],
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
    raise AssertionError("litelab serve did not start")


def client(base: str, stop: threading.Event, codes: list[int], seen: set[str]) -> None:
    while not stop.is_set():
        for path in ["api/runs", *[f"api/runs/{rid}" for rid in list(seen)]]:
            try:
                with urllib.request.urlopen(base + path, timeout=30) as r:
                    codes.append(r.status)
                    body = json.loads(r.read())
                    if path == "api/runs":
                        seen.update(row["id"] for row in body["runs"])
            except urllib.error.HTTPError as e:
                codes.append(e.code)
        time.sleep(0.02)  # 8 busy clients, not 8 spinning ones, on a 2-core machine


def test_two_runs_at_once_while_serve_answers_eight_clients(toy_npz, tmp_path, data_env):
    root = tmp_path / "runs"
    root.mkdir()
    server, base = start_server(root)
    stop = threading.Event()
    codes: list[int] = []
    seen: set[str] = set()
    threads = [
        threading.Thread(target=client, args=(base, stop, codes, seen), daemon=True)
        for _ in range(CLIENTS)
    ]
    try:
        for t in threads:
            t.start()
        args = ["run", "--data", str(toy_npz), "--model", "tiny", "--epochs", "2", "--quiet"]
        runs = [
            subprocess.Popen(
                [LITELAB, *args, "--runs-dir", str(root)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=300) for p in runs]
        time.sleep(1.0)  # a last round of requests over the finished runs
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.terminate()
        server.wait(timeout=30)
    assert [p.returncode for p in runs] == [0, 0], [o[1][-1500:] for o in outs]
    folders = {re.search(r"run folder: (.+)", o[0]).group(1).strip() for o in outs}
    assert len(folders) == 2  # different folders
    for folder in folders:
        assert json.loads((Path(folder) / "state.json").read_text())["state"] == "finished"
        assert (Path(folder) / "metrics.json").is_file()
    assert len(codes) > 8 * CLIENTS
    assert not [c for c in codes if c >= 500]
    assert seen == {Path(f).name for f in folders}  # the runs showed up while serving
