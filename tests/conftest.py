"""Shared fixtures. Data fixtures write tiny fake datasets in tmp_path and keep every cache
(litelab's and Keras') out of the real home directory."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FAKE_CLASSES = [f"class{i}" for i in range(10)]


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    """Point LITELAB_CACHE_DIR and KERAS_HOME into tmp_path; return the cache dir."""
    cache = tmp_path / "litelab-cache"
    monkeypatch.setenv("LITELAB_CACHE_DIR", str(cache))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("LITELAB_DECODE_WORKERS", raising=False)
    return cache


def fake_cifar_arrays(per_batch: int = 4, seed: int = 0) -> dict:
    """Random CIFAR-like batches: {name: (x (N,32,32,3) uint8, y (N,) int64)}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch).astype(np.int64)
        out[name] = (x, y)
    return out


def python_batch_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """A batch as the official python version stores it (pickle protocol 2, bytes keys)."""
    data = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)
    batch = {
        b"batch_label": b"fake batch",
        b"labels": [int(v) for v in y],
        b"data": data,
        b"filenames": [f"img{i}.png".encode() for i in range(len(x))],
    }
    return pickle.dumps(batch, protocol=2)


def meta_bytes(classes: list[str] = FAKE_CLASSES) -> bytes:
    meta = {b"num_cases_per_batch": 10000, b"label_names": [c.encode() for c in classes]}
    return pickle.dumps(meta, protocol=2)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def cifar_python_files():
    """A function writing the python batches into a folder or a tar.gz; returns the arrays."""

    def write(target: Path, per_batch: int = 4, as_tar: bool = True) -> dict:
        arrays = fake_cifar_arrays(per_batch)
        files = {name: python_batch_bytes(*xy) for name, xy in arrays.items()}
        files["batches.meta"] = meta_bytes()
        if as_tar:
            with tarfile.open(target, "w:gz") as tar:
                for name, data in files.items():
                    _add(tar, f"cifar-10-batches-py/{name}", data)
        else:
            target.mkdir(parents=True)
            for name, data in files.items():
                (target / name).write_bytes(data)
        return arrays

    return write


@pytest.fixture
def cifar_binary_file():
    """A function writing a fake cifar-10-binary.tar.gz; returns the arrays."""

    def write(target: Path, per_batch: int = 4) -> dict:
        arrays = fake_cifar_arrays(per_batch, seed=1)
        with tarfile.open(target, "w:gz") as tar:
            for name, (x, y) in arrays.items():
                rec = np.concatenate(
                    [y.astype(np.uint8)[:, None], x.transpose(0, 3, 1, 2).reshape(len(x), -1)],
                    axis=1,
                )
                _add(tar, f"cifar-10-batches-bin/{name}.bin", rec.tobytes())
            _add(tar, "cifar-10-batches-bin/batches.meta.txt", "\n".join(FAKE_CLASSES).encode())
        return arrays

    return write


def color_of(cls: int, i: int) -> tuple[int, int, int]:
    """The solid colour of fake image ``i`` of class ``cls`` (identifies it after loading)."""
    return (cls * 20 + 5, i * 3 % 256, 200 - cls * 10)


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def image_folder():
    """A function writing ``<root>/<split>/<class>/NNN.png`` solid-colour images.

    ``counts`` maps class name to (train count, test count); with ``split=False`` it maps to
    a single count and writes ``<root>/<class>/NNN.png``. Returns the root.
    """

    def write(root: Path, counts: dict, split: bool = True) -> Path:
        for ci, (cls, n) in enumerate(sorted(counts.items())):
            splits = (("train", n[0]), ("test", n[1])) if split else (("", n),)
            for sub, k in splits:
                folder = root / sub / cls if sub else root / cls
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(k):
                    (folder / f"{i:03d}.png").write_bytes(png_bytes(color_of(ci, i)))
        return root

    return write


@pytest.fixture
def fakes():
    """The helpers above, for tests (so they need not import conftest)."""
    import types

    return types.SimpleNamespace(
        classes=FAKE_CLASSES,
        arrays=fake_cifar_arrays,
        python_batch_bytes=python_batch_bytes,
        meta_bytes=meta_bytes,
        color_of=color_of,
        png_bytes=png_bytes,
        add_member=_add,
    )


@pytest.fixture(scope="module")
def module_cache_dir(tmp_path_factory):
    """A LITELAB_CACHE_DIR for one test module (module-scoped fixtures load data once)."""
    old = os.environ.get("LITELAB_CACHE_DIR")
    path = tmp_path_factory.mktemp("cache")
    os.environ["LITELAB_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LITELAB_CACHE_DIR", None)
    else:
        os.environ["LITELAB_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def toy_colours():
    """An easy two-class Dataset (reddish vs bluish noise images) for quick real trainings."""
    from litelab.data import Dataset

    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 2, n)
        x = rng.integers(0, 120, (n, 32, 32, 3))
        x[y == 0, ..., 0] += 120
        x[y == 1, ..., 2] += 120
        return x.astype(np.uint8), y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = make(192), make(32), make(64)
    return Dataset(xt, yt, xv, yv, xs, ys, ["red", "blue"], "toy colours")


@pytest.fixture(scope="session")
def toy_npz(toy_colours, tmp_path_factory):
    """toy_colours as an .npz data source (train+val as x_train), for CLI runs."""
    d = toy_colours
    path = tmp_path_factory.mktemp("toy") / "toy.npz"
    np.savez(
        path,
        x_train=np.concatenate([d.x_train, d.x_val]),
        y_train=np.concatenate([d.y_train, d.y_val]),
        x_test=d.x_test,
        y_test=d.y_test,
        classes=np.array(d.classes),
    )
    return path


@pytest.fixture(scope="session")
def served_runs(toy_npz, tmp_path_factory):
    """A runs folder for `litelab serve` tests: two trained toy runs, the older one exported
    (float32 + int8 TFLite) and deployed to the ESP-EYE, the newer one left as trained."""
    from litelab.config import resolve_config
    from litelab.export.deploy import deploy
    from litelab.export.exporter import export_model
    from litelab.jobs import run

    root = tmp_path_factory.mktemp("served") / "runs"
    for model, name in (("tiny", "a-tiny"), ("lenet5", "b-lenet")):
        cfg = resolve_config(
            None, {"source": str(toy_npz)}, {"model": model, "epochs": 3}, str(root)
        )
        run(cfg, run_name=name, progress=False, verbose=0)
        if name == "a-tiny":
            export_model(
                root / name,
                formats=("tflite-float32", "tflite-int8"),
                representative=64,
                progress=False,
                latency_repeats=3,
            )
            deploy(root / name, target="esp-eye", check_images=32)
    # "newest" is by metrics.json time: make b-lenet the newest whatever the clock did.
    os.utime(root / "a-tiny" / "metrics.json", (1_700_000_000, 1_700_000_000))
    return root


@pytest.fixture(scope="session")
def live_server(served_runs):
    """`litelab serve --port 0 --quiet` over ``served_runs`` as a real process; its base URL."""
    import re
    import select
    import shutil
    import subprocess
    import sys
    import time

    litelab = shutil.which("litelab", path=str(Path(sys.executable).parent)) or "litelab"
    proc = subprocess.Popen(
        [litelab, "serve", "--runs", str(served_runs), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url, seen, deadline = None, [], time.monotonic() + 120
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            seen.append(line)
            match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            url = match.group(1) if match else None
    if url is None:
        proc.kill()
        pytest.fail("litelab serve did not start: " + "".join(seen)[-2000:])
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
