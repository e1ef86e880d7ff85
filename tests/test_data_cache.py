"""The decoded-data cache: hits skip decoding, damage is ignored, limits agree with it."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

import litelab.data.images as images
from litelab.config import DatasetConfig
from litelab.data import load_dataset

KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def load(source, **kw):
    return load_dataset(DatasetConfig(source=str(source), **kw), seed=1, progress=False)


def same(a, b):
    for key in KEYS:
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert a.classes == b.classes and a.source == b.source


@pytest.fixture
def archive(tmp_path, image_folder):
    root = image_folder(tmp_path / "ds", {"a": (9, 3), "b": (7, 3), "c": (5, 3)})
    (root / "train" / "b" / "zz_broken.png").write_bytes(b"broken")
    path = tmp_path / "ds.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname="ds")
    return path


def forbid_decoding(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("decoded although the cache should have been used")

    monkeypatch.setattr(images, "_decode", boom)
    monkeypatch.setattr(images, "decode_chunk", boom)


def test_second_load_comes_from_the_cache(archive, data_env, monkeypatch):
    first = load(archive)
    files = list(data_env.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("ds_tar_gz-32px-")
    forbid_decoding(monkeypatch)
    same(first, load(archive))
    shuffled = load(archive, shuffle=True)
    assert not np.array_equal(shuffled.x_train, first.x_train)  # still from the cache


def test_corrupt_cache_is_ignored_and_rewritten(archive, data_env):
    first = load(archive)
    (cache_file,) = data_env.glob("*.npz")
    cache_file.write_bytes(b"PK\x03\x04 definitely not an npz")
    same(first, load(archive))
    with np.load(cache_file) as z:  # rewritten and readable again
        assert z["train_x"].shape == (21, 32, 32, 3)


def test_cache_false_bypasses_it(archive, data_env):
    load(archive, cache=False)
    assert not data_env.exists() or not list(data_env.glob("*.npz"))


def test_limited_load_decodes_only_the_chosen_files(archive, data_env, monkeypatch):
    calls = []
    real = images._decode
    monkeypatch.setattr(images, "_decode", lambda data, size: calls.append(1) or real(data, size))
    ds = load(archive, train_limit=6, test_limit=3, val_split=0.0)
    assert len(calls) == 9
    # 6 of 9:8:5 candidates -> 3, 2, 1 (b's may include the broken file, which is dropped)
    assert np.bincount(ds.y_train, minlength=3).tolist() in ([3, 2, 1], [3, 1, 1])
    assert not list(data_env.glob("*.npz"))  # a limited load writes no cache


@pytest.mark.parametrize("limits", [(6, 3), (12, None), (None, 4), (22, 9)])
def test_limited_from_cache_equals_limited_from_files(archive, data_env, monkeypatch, limits):
    tl, sl = limits
    direct = load(archive, train_limit=tl, test_limit=sl, cache=False)
    load(archive)  # fills the cache
    forbid_decoding(monkeypatch)
    same(direct, load(archive, train_limit=tl, test_limit=sl))


def test_key_follows_content_and_image_size(tmp_path, image_folder, data_env, fakes):
    root = image_folder(tmp_path / "ds", {"a": (2, 1), "b": (2, 1)})
    load(root)
    load(root, image_size=16)
    assert len(list(data_env.glob("*.npz"))) == 2
    (root / "train" / "a" / "000.png").write_bytes(fakes.png_bytes((0, 0, 0), (40, 40)))
    changed = load(root, val_split=0.0)
    assert len(list(data_env.glob("*.npz"))) == 3
    assert any((img == 0).all() for img in changed.x_train)


def test_skip_warning_is_repeated_on_a_cache_hit(archive, data_env, capsys):
    load(archive)
    capsys.readouterr()
    load(archive)
    assert "litelab: skipped 1 non-image files in" in capsys.readouterr().err
