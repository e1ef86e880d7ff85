"""A damaged decoded-array cache entry is detected by its checksum, never used, rebuilt with
one warning line; two processes filling the same entry at once leave one valid entry."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

import litelab.data.images as images
from litelab.config import DatasetConfig
from litelab.data import cache, load_dataset


@pytest.fixture
def archive(tmp_path, image_folder):
    root = image_folder(tmp_path / "ds", {"a": (12, 4), "b": (12, 4)})
    path = tmp_path / "ds.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname="ds")
    return path


def load(source):
    return load_dataset(DatasetConfig(source=str(source)), seed=1, progress=False)


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_flip_pixel(path):
    """Flip one bit inside the stored training images: the zip stays readable."""
    with np.load(path) as z:
        x = z["train_x"]
    data = bytearray(path.read_bytes())
    at = bytes(data).find(x.tobytes()[:64])
    assert at > 0
    data[at + 10] ^= 0x01
    path.write_bytes(bytes(data))


def damage_flip_header(path):
    data = bytearray(path.read_bytes())
    data[2] ^= 0xFF  # the zip signature
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip_pixel, damage_flip_header])
def test_a_damaged_entry_is_detected_rebuilt_and_never_used(archive, data_env, capsys, damage):
    first = load(archive)
    (entry,) = data_env.glob("*.npz")
    capsys.readouterr()
    damage(entry)
    second = load(archive)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("litelab: warning: the data cache")
    assert "damaged" in err[0] and entry.name in err[0]
    np.testing.assert_array_equal(first.x_train, second.x_train)  # decoded again, not used
    assert cache.load(entry, 32) is not None  # rewritten whole
    third = load(archive)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(first.x_train, third.x_train)


def test_a_bit_flip_is_never_served(archive, data_env, monkeypatch):
    """With decoding forbidden, a flipped entry must not be returned as data."""
    load(archive)
    (entry,) = data_env.glob("*.npz")
    damage_flip_pixel(entry)
    assert cache.load(entry, 32) is None


def test_the_checksum_covers_every_array():
    arrays = {"a": np.zeros((2, 3), np.uint8), "b": np.arange(4)}
    base = cache.checksum(arrays)
    assert cache.checksum({**arrays, "meta": np.array("x")}) == base
    assert cache.checksum({**arrays, "b": np.arange(4)[::-1].copy()}) != base
    assert cache.checksum({**arrays, "a": np.zeros((3, 2), np.uint8)}) != base


FILL = """
import sys, time
from litelab.config import DatasetConfig
from litelab.data import load_dataset
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
d = load_dataset(DatasetConfig(source=sys.argv[1]), seed=1, progress=False)
print(len(d.x_train) + len(d.x_val))
"""


def test_two_processes_filling_one_entry_leave_one_valid_entry(archive, data_env, monkeypatch):
    import time

    env = {**os.environ, "LITELAB_CACHE_DIR": str(data_env), "LITELAB_DECODE_WORKERS": "1"}
    at = str(time.time() + 3)  # both start decoding at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FILL, str(archive), at],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].strip() for o in outs] == ["24", "24"]
    assert all("warning" not in o[1] for o in outs)
    entries = list(data_env.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".npz"  # no temporaries left
    assert cache.load(entries[0], 32) is not None

    def boom(*args, **kwargs):
        raise AssertionError("decoded although the cache entry is valid")

    monkeypatch.setattr(images, "decode_chunk", boom)
    monkeypatch.setattr(images, "_decode", boom)
    assert len(load(archive).x_train) > 0


# ------------------------------------------------------------------ the TFLM build cache
def tflm_library(tmp_path):
    import shutil

    from litelab.firmware import build

    if not shutil.which("ar"):
        pytest.skip("needs ar (binutils)")
    objects = []
    for name in ("a.o", "b.o"):
        (tmp_path / name).write_bytes(name.encode() * 200)
        objects.append(tmp_path / name)
    lib = tmp_path / "libtflm-0123456789ab.a"
    build.archive_library(lib, objects, "ar")
    return build, lib, objects


def tflm_truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


def tflm_flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [tflm_truncate, tflm_flip])
def test_a_damaged_tflm_library_is_detected_and_rebuilt(tmp_path, capsys, damage):
    """A cached libtflm-*.a carries its sha256 beside it; damaged, it is reported in one
    line and archived again from its objects, never linked (no real TFLM build needed)."""
    build, lib, objects = tflm_library(tmp_path)
    whole = lib.read_bytes()
    digest = build.library_digest_path(lib)
    assert digest.read_text().strip() == __import__("hashlib").sha256(whole).hexdigest()
    assert build.cached_library_ok(lib) and capsys.readouterr().err == ""
    damage(lib)
    assert not build.cached_library_ok(lib)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("litelab: warning: the TFLM build cache")
    assert lib.name in err[0] and "damaged" in err[0]
    build.archive_library(lib, objects, "ar")  # what build_library does next
    assert build.cached_library_ok(lib) and lib.read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_tflm_library_without_its_sha256_is_rebuilt_quietly(tmp_path, capsys):
    build, lib, _ = tflm_library(tmp_path)
    build.library_digest_path(lib).unlink()  # an older litelab's entry, or a kill
    assert not build.cached_library_ok(lib)
    assert capsys.readouterr().err == ""
