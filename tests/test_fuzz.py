"""Fuzzed inputs (hypothesis, seeded): every data loader, the TOML files, uploads to
/api/predict and .tflite files for inspect and deploy. Each case must end in litelab's
one-line error or a valid result; never another exception (a traceback), never more than
:data:`CASE_SECONDS` (a hang), never a file outside its output folder.

Profiles: ``ci`` (the default: few examples, derandomized, so CI is reproducible) and
``bench`` (``LITELAB_FUZZ_PROFILE=bench``: many examples; benchmarks/fuzz.py). With
``LITELAB_FUZZ_STATS=FILE`` the number of inputs each property tried is written to FILE.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import pickle
import signal
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from litelab.errors import LitelabError

CASE_SECONDS = 30
settings.register_profile(
    "ci",
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
settings.register_profile(
    "bench",
    max_examples=int(os.environ.get("LITELAB_FUZZ_EXAMPLES", "150")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
settings.load_profile(os.environ.get("LITELAB_FUZZ_PROFILE", "ci"))

TRIED: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()


def _write_stats() -> None:
    target = os.environ.get("LITELAB_FUZZ_STATS")
    if target:
        Path(target).write_text(json.dumps({"tried": TRIED, "outcomes": OUTCOMES}, indent=2))


atexit.register(_write_stats)


class Hang(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: int = CASE_SECONDS):
    def alarm(*_):
        raise Hang(f"a fuzz case ran over {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def case(name: str, workspace: Path, fn):
    """Run ``fn(inputs, out)`` in a fresh folder; the one-line error or a value pass.

    Anything written must land in ``out`` (or litelab's cache, pointed inside it)."""
    import shutil

    TRIED[name] += 1
    root = workspace / f"{name}-{TRIED[name]}"
    inputs, out = root / "in", root / "out"
    inputs.mkdir(parents=True)
    out.mkdir()
    old_cwd = os.getcwd()
    old_cache = os.environ.get("LITELAB_CACHE_DIR")
    os.environ["LITELAB_CACHE_DIR"] = str(out / "cache")
    os.chdir(out)
    try:
        before = snapshot(workspace) - {p for p in snapshot(workspace) if p.startswith(root.name)}
        with bounded():
            try:
                value = fn(inputs, out)
                OUTCOMES[f"{name}:valid"] += 1
            except LitelabError as exc:
                assert "\n" not in str(exc).strip(), str(exc)
                OUTCOMES[f"{name}:error"] += 1
                value = None
        after = {p for p in snapshot(workspace) if not p.startswith(root.name)}
        assert after == before, f"written outside the output folder: {after - before}"
        return value
    finally:
        os.chdir(old_cwd)
        if old_cache is None:
            os.environ.pop("LITELAB_CACHE_DIR", None)
        else:
            os.environ["LITELAB_CACHE_DIR"] = old_cache
        shutil.rmtree(root, ignore_errors=True)


def check_dataset(d) -> None:
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[3] == 3 and len(x) == len(y)
        if len(y):
            assert 0 <= y.min() and y.max() < len(d.classes)
    assert len(d.x_train) > 0


def load(source: Path, **kw):
    from litelab.config import DatasetConfig
    from litelab.data import load_dataset

    d = load_dataset(DatasetConfig(source=str(source), **kw), seed=1, progress=False)
    check_dataset(d)
    return d


# ---------------------------------------------------------------------------- strategies
small_ints = st.integers(min_value=-3, max_value=12)
shapes = st.lists(st.integers(0, 40), min_size=0, max_size=4).map(tuple)
dtypes = st.sampled_from(["uint8", "int64", "float32", "float64", "bool", "U3", "int8"])


@st.composite
def arrays(draw):
    shape = draw(shapes)
    if int(np.prod(shape)) > 60_000:
        shape = shape[:1]
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.integers(-2, 12, size=shape)
    return values.astype(dtype)


def image_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["png", "jpeg", "gif", "bmp", "garbage", "truncated", "empty"]))
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "empty":
        return b""
    mode = draw(st.sampled_from(["RGB", "L", "RGBA", "P", "1", "I", "F", "LA", "CMYK"]))
    w, h = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    fmt = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "truncated": "PNG"}[kind]
    im = Image.new(mode, (w, h))
    if fmt == "JPEG" and mode not in ("RGB", "L", "CMYK"):
        im = im.convert("RGB")
    if fmt == "GIF" and mode in ("I", "F", "CMYK", "LA", "RGBA"):
        im = im.convert("P")
    if fmt == "BMP" and mode in ("I", "F", "CMYK", "LA"):
        im = im.convert("RGB")
    buf = io.BytesIO()
    try:
        im.save(buf, fmt)
    except OSError:  # this format cannot store this mode: store it as RGB
        buf = io.BytesIO()
        im.convert("RGB").save(buf, fmt)
    data = buf.getvalue()
    return data[: max(1, len(data) // 2)] if kind == "truncated" else data


images = st.composite(lambda draw: image_bytes(draw))()
member_names = st.sampled_from(
    [
        "train/a/0.png",
        "train/b/1.png",
        "test/a/2.png",
        "test/b/3.png",
        "a/4.png",
        "b/5.jpg",
        "ds/train/a/6.png",
        "ds/test/b/7.png",
        "../escape.png",
        "/abs/escape.png",
        "train/a/../../../up.png",
        "train/.hidden/8.png",
        "train/a/notes.txt",
        "train/ü/9.png",
        "train/a",
    ]
)


# ---------------------------------------------------------------------------- data loaders
@given(
    members=st.dictionaries(
        st.sampled_from(["x_train", "y_train", "x_test", "y_test", "classes", "other"]),
        arrays(),
        max_size=6,
    ),
    raw=st.none() | st.binary(max_size=200),
)
@example(members={"x_train": np.zeros((2, 32, 32, 3), np.uint8), "y_train": np.array([0, 11]),
                  "x_test": np.zeros((1, 32, 32, 3), np.uint8), "y_test": np.array([0])},
         raw=None)  # fmt: skip
def test_npz_files(tmp_path_factory, members, raw):
    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / "data.npz"
        if raw is not None:
            path.write_bytes(raw)
        else:
            np.savez(path, **members)
        return load(path)

    case("npz", workspace, run)


def pickled(draw) -> bytes:
    kind = draw(st.sampled_from(["batch", "dict", "garbage", "evil", "truncated"]))
    if kind == "garbage":
        return draw(st.binary(max_size=200))
    if kind == "evil":
        return b"cos\nsystem\n(S'echo pwned > pwned.txt'\ntR."
    n = draw(st.integers(0, 5))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    width = draw(st.sampled_from([3072, 3072, 100, 0]))
    batch = {
        b"labels": draw(st.lists(small_ints, min_size=0, max_size=6)),
        b"data": rng.integers(0, 256, (n, width)).astype(draw(st.sampled_from(["uint8", "f4"]))),
    }
    if kind == "dict":
        batch = draw(st.dictionaries(st.binary(max_size=8), st.integers() | st.binary(max_size=8)))
    data = pickle.dumps(batch, protocol=2)
    return data[: len(data) // 2] if kind == "truncated" else data


@given(
    files=st.dictionaries(
        st.sampled_from([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]),
        st.composite(lambda draw: pickled(draw))(),
        max_size=7,
    ),
    gz=st.booleans(),
)
# regression: pickle's own message for a persistent-id opcode has a line break in it
@example(
    files={
        n: b"P" for n in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]
    },
    gz=False,
)
def test_cifar_python_archives(tmp_path_factory, files, gz):
    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / ("cifar-10-python.tar.gz" if gz else "cifar-10-python.tar")
        with tarfile.open(path, "w:gz" if gz else "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return load(path)

    case("cifar-python", workspace, run)
    assert not list(workspace.rglob("pwned.txt"))


@given(
    files=st.dictionaries(
        st.sampled_from([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]),
        st.tuples(st.integers(0, 4), st.integers(-3, 3), st.integers(0, 255)),
        max_size=6,
    ),
    meta=st.none() | st.text(max_size=60),
)
def test_cifar_binary_archives(tmp_path_factory, files, meta):
    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / "cifar-10-binary.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, (records, extra, label) in files.items():
                data = bytes([label]) + bytes(3072)
                data = data * records + bytes(max(extra, 0))
                data = data[: len(data) + min(extra, 0)]
                info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            if meta is not None:
                raw = meta.encode()
                info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
        return load(path)

    case("cifar-binary", workspace, run)


@given(
    members=st.lists(st.tuples(member_names, images), min_size=0, max_size=10),
    kind=st.sampled_from(["tar.gz", "zip", "folder"]),
    link=st.booleans(),
)
@example(members=[("../escape.png", b"x"), ("train/a/0.png", b"y")], kind="tar.gz", link=True)
def test_image_folders_and_archives(tmp_path_factory, members, kind, link):
    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        if kind == "folder":
            root = inputs / "ds"
            root.mkdir()
            for name, data in members:
                target = (root / name.lstrip("/")).resolve()
                if not target.is_relative_to(root.resolve()) or name.endswith("/a"):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            if link:
                (root / "train").mkdir(exist_ok=True)
                (root / "train" / "outside").symlink_to(workspace)
            return load(root, val_split=0.0)
        path = inputs / f"ds.{kind}"
        if kind == "zip":
            with zipfile.ZipFile(path, "w") as z:
                for name, data in members:
                    z.writestr(name, data)
        else:
            with tarfile.open(path, "w:gz") as tar:
                for name, data in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                if link:
                    info = tarfile.TarInfo("train/a/link.png")
                    info.type = tarfile.SYMTYPE
                    info.linkname = "/etc/passwd"
                    tar.addfile(info)
        return load(path, val_split=0.0)

    case("image-folders", workspace, run)


@given(data=images)
def test_single_images(tmp_path_factory, data):
    from litelab.data import load_image_files

    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / "photo.png"
        path.write_bytes(data)
        x = load_image_files([path])
        assert x.shape == (1, 32, 32, 3) and x.dtype == np.uint8
        return x

    case("single-image", workspace, run)


# ---------------------------------------------------------------------------- TOML files
toml_scalars = (
    st.integers(-5, 50)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.booleans()
    | st.text(max_size=12)
    | st.sampled_from(["adam", "tiny", "cnn", "relu", "flip", "log", "random", "baseline"])
)
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
keys = st.sampled_from(
    ["model", "epochs", "batch_size", "learning_rate", "optimizer", "augment", "source",
     "val_split", "train_limit", "image_size", "min", "max", "sampling", "values", "value",
     "name", "minutes", "training", "strategy", "model_options", "variants", "x"]
)  # fmt: skip
tables = st.dictionaries(keys, toml_values | st.dictionaries(keys, toml_values, max_size=4),
                         max_size=5)  # fmt: skip


@st.composite
def toml_texts(draw):
    import tomli_w

    if draw(st.booleans()):
        return draw(st.text(max_size=120))
    top = draw(
        st.dictionaries(
            st.sampled_from(["data", "training", "base", "learning_rate", "filters", "name",
                             "variants", "optimizer", "epochs", "zzz"]),
            tables | toml_values | st.lists(tables, max_size=2),
            max_size=4,
        )
    )  # fmt: skip
    return tomli_w.dumps(top)


@given(text=toml_texts(), kind=st.sampled_from(["config", "space", "plan"]))
@example(text="[training]\nmodel = 'tiny'\nepochs = 1e400\n", kind="config")
@example(text="[learning_rate]\nmin = 0.1\nmax = 0.01\nsampling = 'log'\n", kind="space")
@example(text="training = 0\n", kind="config")  # regression: was a TypeError traceback
@example(text="data = 0\n", kind="config")
def test_toml_files(tmp_path_factory, text, kind):
    from litelab.config import read_toml, resolve_config
    from litelab.study import load_plan
    from litelab.tune.space import load_space

    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / f"{kind}.toml"
        path.write_text(text, encoding="utf-8")
        if kind == "config":
            return resolve_config(read_toml(path), None, None, str(out / "runs"))
        if kind == "space":
            return load_space(path, 10)
        return load_plan(path)

    case(f"toml-{kind}", workspace, run)


# ---------------------------------------------------------------------------- web uploads
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from litelab.serve.app import create_app

    runs = tmp_path_factory.mktemp("fuzz-serve") / "runs"
    runs.mkdir()
    with TestClient(create_app(runs), raise_server_exceptions=False) as c:
        yield c


@given(
    data=images | st.binary(max_size=2000),
    fields=st.dictionaries(
        st.sampled_from(["run", "format", "top"]),
        st.sampled_from(["zoo:mcu", "zoo:nope", "../../etc", "tflite-int8", "keras", "3",
                         "-1", "x", "", "1e9", "tflite-float32"]),
        max_size=3,
    ),
    filename=st.sampled_from(["p.png", "../../p.png", "", "p"]),
    as_file=st.booleans(),
)  # fmt: skip
def test_predict_uploads(client, tmp_path_factory, data, fields, filename, as_file):
    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)
    fields = {"run": "zoo:mcu", "format": "tflite-int8", **fields}

    def run(inputs: Path, out: Path):
        files = {"file": (filename, data, "image/png")} if as_file else None
        form = dict(fields) if as_file else {**fields, "file": data.decode("latin-1")}
        r = client.post("/api/predict", data=form, files=files)
        assert r.status_code < 500, (r.status_code, r.text[:300])
        if r.status_code == 200:
            assert r.json()["top"]
        else:
            assert "detail" in r.json() or "error" in r.json()
        return r.status_code

    case("predict-upload", workspace, run)


# ---------------------------------------------------------------------------- .tflite files
def zoo_int8() -> bytes:
    from litelab import zoo

    return zoo.get_entry("mcu").int8_path.read_bytes()


@st.composite
def tflite_bytes(draw):
    base = zoo_int8()
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "garbage", "header", "splice"]))
    if kind == "garbage":
        return draw(st.binary(max_size=400))
    if kind == "truncate":
        return base[: draw(st.integers(0, len(base) - 1))]
    data = bytearray(base)
    if kind == "header":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, 63))] = draw(st.integers(0, 255))
    elif kind == "splice":
        at = draw(st.integers(0, len(base) - 64))
        data[at : at + 64] = draw(st.binary(min_size=64, max_size=64))
    else:
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(base) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@given(data=tflite_bytes())
def test_tflite_files_given_to_inspect(tmp_path_factory, data):
    from litelab.export.inspect import inspect_tflite

    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / "model.tflite"
        path.write_bytes(data)
        info = inspect_tflite(path)
        assert info["inputs"] and info["outputs"]
        return info

    case("tflite-inspect", workspace, run)


@settings(max_examples=max(3, settings().max_examples // 3))
@given(data=tflite_bytes())
def test_tflite_files_given_to_deploy(tmp_path_factory, data):
    from litelab.export.deploy import deploy

    workspace = tmp_path_factory.getbasetemp() / "fuzz"
    workspace.mkdir(exist_ok=True)

    def run(inputs: Path, out: Path):
        path = inputs / "model.tflite"
        path.write_bytes(data)
        result = deploy(path, target="esp-eye", out=str(out / "deploy"), check_images=0)
        assert "verdict" in result
        return result

    case("tflite-deploy", workspace, run)
