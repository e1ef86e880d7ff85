"""``.npz`` sources: accepted layouts and one-line errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest

from litelab.config import DatasetConfig
from litelab.data import load_dataset
from litelab.errors import LitelabError

pytestmark = pytest.mark.usefixtures("data_env")

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
Y = np.array([0, 1, 2, 0, 1, 2])


def load(path, **kw):
    kw.setdefault("val_split", 0.0)
    return load_dataset(DatasetConfig(source=str(path), **kw), progress=False)


def write(path, **arrays):
    base = {"x_train": X[:4], "y_train": Y[:4], "x_test": X[4:], "y_test": Y[4:]}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def test_plain_arrays(tmp_path):
    ds = load(write(tmp_path / "d.npz"))
    np.testing.assert_array_equal(ds.x_train, X[:4])
    np.testing.assert_array_equal(ds.y_test, Y[4:])
    assert ds.y_train.dtype == np.int64
    assert ds.classes == ["0", "1", "2"]
    assert ds.source == f"arrays from {tmp_path / 'd.npz'}"


@pytest.mark.parametrize(
    "y_train", [Y[:4, None], np.eye(3, dtype=np.float32)[Y[:4]], Y[:4].astype(np.uint8)]
)
def test_label_layouts(tmp_path, y_train):
    ds = load(write(tmp_path / "d.npz", y_train=y_train))
    np.testing.assert_array_equal(ds.y_train, Y[:4])


def test_float_grey_and_class_names(tmp_path):
    path = write(
        tmp_path / "d.npz",
        x_train=X[:4].astype(np.float32) / 255.0,
        x_test=X[4:, :, :, 0],  # (N, H, W) grey
        classes=np.array(["cat", "dog", "emu"]),
    )
    ds = load(path)
    np.testing.assert_array_equal(ds.x_train, X[:4])
    np.testing.assert_array_equal(ds.x_test, np.repeat(X[4:, :, :, :1], 3, axis=-1))
    assert ds.classes == ["cat", "dog", "emu"]


def test_other_sizes_are_resized(tmp_path):
    path = write(tmp_path / "d.npz", x_train=np.full((4, 28, 28), 77, np.uint8))
    ds = load(path)
    assert ds.x_train.shape == (4, 32, 32, 3) and (ds.x_train == 77).all()
    assert load(path, image_size=16).x_test.shape == (2, 16, 16, 3)


def test_missing_key(tmp_path):
    path = write(tmp_path / "d.npz", y_test=None)
    with pytest.raises(LitelabError, match=f"{path} has no 'y_test' array"):
        load(path)


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        (
            {"x_train": np.zeros((4, 32, 32, 2), np.uint8)},
            r"x_train in .* has shape \(4, 32, 32, 2\)",
        ),
        ({"y_train": Y[:3]}, r"y_train in .* has shape \(3,\); expected \(4,\)"),
        ({"x_test": X[4:].astype(np.float64)}, r"x_test in .* holds floats in 0\.\.\d+"),
        ({"y_test": np.array([0.5, 1.0])}, "y_test in .* holds non-integer labels"),
        ({"classes": np.array(["a", "b"])}, "has labels up to 2 but only 2 classes"),
    ],
)
def test_bad_arrays(tmp_path, arrays, pattern):
    with pytest.raises(LitelabError, match=pattern):
        load(write(tmp_path / "d.npz", **arrays))


def test_object_arrays_are_not_unpickled(tmp_path):
    path = write(tmp_path / "d.npz", classes=np.array(["a", None, 3], dtype=object))
    with pytest.raises(LitelabError, match="holds object arrays"):
        load(path)


def test_corrupt_npz(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(write(tmp_path / "ok.npz").read_bytes()[:200])
    with pytest.raises(LitelabError, match=str(path)):
        load(path)
