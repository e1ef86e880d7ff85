"""SIGKILL at each step: a real `litelab` process is killed with ``kill -9`` while it trains,
saves the final formats, evaluates, exports or deploys. Afterwards the folder says what
state it is in, no half-written file is taken as complete, `litelab serve` lists the run as
incomplete, and resuming (or running the command again) completes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from litelab.runs import Run
from litelab.serve.catalog import Catalog

LITELAB = shutil.which("litelab", path=str(Path(sys.executable).parent)) or "litelab"


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [LITELAB, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds (polled every 5 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            proc.kill()
            proc.wait(timeout=30)
            return
        if proc.poll() is not None:
            pytest.fail(f"finished before the kill point: {proc.stderr.read()[-2000:]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("the kill point was never reached")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def state_is(run: Path, *states: str):
    def ready() -> bool:
        try:
            return json.loads((run / "state.json").read_text())["state"] in states
        except (OSError, ValueError, KeyError):
            return False

    return ready


def no_half_files(folder: Path) -> list[Path]:
    """Every file a reader would take (not a hidden temporary) is whole; returns the
    temporaries left by the kill (never read by litelab)."""
    from PIL import Image

    temps = []
    for path in folder.rglob("*"):
        if any(part.startswith(".") and ".tmp" in part for part in path.parts):
            temps.append(path)
            continue
        if not path.is_file():
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".keras":
            assert zipfile.ZipFile(path).testzip() is None, path
        elif path.suffix == ".png":
            Image.open(path).verify()
        elif path.suffix == ".tflite":
            from ai_edge_litert.interpreter import Interpreter

            Interpreter(model_content=path.read_bytes()).allocate_tensors()
    return temps


def listed_incomplete(root: Path, run: Path, state: str) -> None:
    rows = {r["id"]: r for r in Catalog(root).summaries()}
    row = rows[run.relative_to(root).as_posix()]
    assert row["complete"] is False and row["state"] == state


def run_args(toy_npz: Path, out: Path, epochs: int) -> list[str]:
    return ["run", "--data", str(toy_npz), "--model", "tiny", "--epochs", str(epochs)] + [
        "--batch-size",
        "16",
        "--out",
        str(out),
        "--quiet",
    ]


@pytest.mark.parametrize(
    ("step", "states", "epochs"),
    [("training", ("training",), 3), ("saving", ("saving",), 1)],
)
def test_kill_during_a_run_then_resume(toy_npz, tmp_path, data_env, step, states, epochs):
    from litelab.jobs import run

    root = tmp_path / "runs"
    out = root / "r"
    proc = start(*run_args(toy_npz, out, epochs), cwd=tmp_path)
    if step == "training":  # the first epoch is checkpointed, the second is under way
        ready = lambda: (out / "checkpoint" / "state.json").is_file()  # noqa: E731
    else:
        ready = state_is(out, *states)
    kill_when(proc, ready)
    assert Run(out).state == step and not Run(out).is_finished
    no_half_files(out)
    listed_incomplete(root, out, step)

    result = run(resume=out, progress=False, verbose=0)
    assert Run(out).state == "finished"
    assert result.metrics["epochs_run"] == epochs
    assert len((out / "history.csv").read_text().splitlines()) == epochs + 1
    assert not (out / "checkpoint").exists()
    assert Catalog(root).summaries()[0]["complete"] is True
    assert no_half_files(out) == []  # the kill's hidden temporaries are cleared on resume


def test_kill_during_evaluation_then_resume(toy_npz, tmp_path, data_env):
    from litelab.jobs import run

    root = tmp_path / "runs"
    out = root / "r"
    proc = start(*run_args(toy_npz, out, 1), cwd=tmp_path)
    kill_when(proc, state_is(out, "evaluating"))
    assert Run(out).state == "evaluating"
    no_half_files(out)
    listed_incomplete(root, out, "evaluating")
    result = run(resume=out, progress=False, verbose=0)
    assert Run(out).state == "finished"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and "test_accuracy" in metrics
    assert (out / "accuracy.png").is_file() and (out / "report.md").is_file()
    assert result.metrics["test_accuracy"] == metrics["test_accuracy"]


@pytest.fixture(scope="module")
def trained(toy_npz, tmp_path_factory, module_cache_dir):
    from litelab.config import resolve_config
    from litelab.jobs import run

    root = tmp_path_factory.mktemp("killed") / "runs"
    cfg = resolve_config(None, {"source": str(toy_npz)}, {"model": "tiny", "epochs": 1}, str(root))
    return run(cfg, run_name="t", progress=False, verbose=0).run_dir


def test_kill_export_halfway_then_export_again(trained, tmp_path):
    from litelab.export.exporter import export_model

    export_dir = Run(trained).export_dir
    proc = start("export", str(trained), "--quiet", cwd=tmp_path)
    kill_when(proc, lambda: export_dir.is_dir() and any(export_dir.glob("*.tflite")))
    assert not (export_dir / "comparison.json").is_file()
    no_half_files(trained)
    result = export_model(trained, progress=False, representative=32, latency_repeats=2)
    assert (export_dir / "comparison.json").is_file()
    assert len(list(export_dir.glob("model_*.tflite"))) == 4
    assert result is not None
    no_half_files(export_dir)


def test_kill_deploy_halfway_then_deploy_again(trained, tmp_path):
    from litelab.export.deploy import deploy
    from litelab.export.exporter import export_model

    if not Run(trained).int8_path.is_file():
        export_model(trained, formats=("tflite-int8",), progress=False, representative=32)
    target_dir = Run(trained).deploy_dir / "esp-eye"
    proc = start("deploy", str(trained), "--target", "esp-eye", cwd=tmp_path)
    # Past start-up: a whole deploy of this run took 12 s of CPU on one 2-core machine and
    # under 6 s on CI's (start-up, TFLM check, arena search, sources); the kill comes at 3.
    kill_when(proc, lambda: cpu_seconds(proc.pid) >= 3.0)
    if target_dir.exists():
        no_half_files(target_dir)
    result = deploy(trained, target="esp-eye", check_images=8)
    assert result["verdict"]["fits"] in (True, False)
    assert (target_dir / "deploy.json").is_file()


def test_a_deploy_killed_while_replacing_its_files_can_run_again(trained, monkeypatch):
    """Regression: a deploy killed between replacing the C sources one by one and writing
    its manifest left files the next deploy took for the user's edits, and refused."""
    import litelab.export.csource as csource
    from litelab.export.csource import write_project

    out = trained / "deploy-test"
    write_project(out, {"a.cc": "old a\n", "b.cc": "old b\n"})
    real = csource.write_text
    calls = []

    def dies_after_first_file(path, text):
        calls.append(Path(path).name)
        if Path(path).name == "b.cc":
            raise KeyboardInterrupt  # the process dies here: a.cc is new, b.cc old
        real(path, text)

    monkeypatch.setattr(csource, "write_text", dies_after_first_file)
    with pytest.raises(KeyboardInterrupt):
        write_project(out, {"a.cc": "new a\n", "b.cc": "new b\n"})
    monkeypatch.setattr(csource, "write_text", real)
    assert (out / "a.cc").read_text() == "new a\n" and (out / "b.cc").read_text() == "old b\n"
    write_project(out, {"a.cc": "newer a\n", "b.cc": "newer b\n"})
    assert (out / "b.cc").read_text() == "newer b\n"
    (out / "a.cc").write_text("my edit\n")
    with pytest.raises(Exception, match="edited since"):
        write_project(out, {"a.cc": "x\n", "b.cc": "y\n"})
