"""Limits (stratified subsets), shuffling and the validation split."""

from __future__ import annotations

import numpy as np
import pytest

from litelab.config import DatasetConfig
from litelab.data import load_dataset
from litelab.data.splits import allocate, stratified_subset
from litelab.errors import LitelabError

pytestmark = pytest.mark.usefixtures("data_env")


def write_npz(path, n_train=10, n_test=4, labels=None):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (n_train + n_test, 32, 32, 3), dtype=np.uint8)
    y = np.asarray(labels if labels is not None else np.arange(n_train + n_test) % 3)
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def load(path, seed=42, **kw):
    return load_dataset(DatasetConfig(source=str(path), **kw), seed=seed, progress=False)


def test_allocate_is_proportional_and_covers_every_class():
    assert allocate(np.array([50, 30, 20]), 10).tolist() == [5, 3, 2]
    assert allocate(np.array([5, 5, 5]), 4).tolist() == [2, 1, 1]
    assert allocate(np.array([97, 1, 1, 1]), 4).tolist() == [1, 1, 1, 1]
    assert allocate(np.array([97, 1, 1, 1]), 2).sum() == 2


def test_stratified_subset_keeps_order_and_is_seeded():
    labels = np.repeat([0, 1, 2], [18, 1, 1])
    a = stratified_subset(labels, 5, np.random.default_rng(1))
    assert np.all(np.diff(a) > 0)
    assert set(labels[a].tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(a, stratified_subset(labels, 5, np.random.default_rng(1)))


def test_limits_on_folders_are_stratified_deterministic_and_ordered(tmp_path, image_folder):
    root = image_folder(tmp_path / "ds", {"a": (10, 4), "b": (6, 4), "c": (4, 4)})
    full = load(root, val_split=0.0, cache=False)
    sub = load(root, val_split=0.0, train_limit=10, test_limit=3, cache=False)
    assert np.bincount(sub.y_train, minlength=3).tolist() == [5, 3, 2]
    assert np.bincount(sub.y_test, minlength=3).tolist() == [1, 1, 1]
    # the chosen images keep the order they have in the full set
    rows = {img.tobytes(): i for i, img in enumerate(full.x_train)}
    positions = [rows[img.tobytes()] for img in sub.x_train]
    assert positions == sorted(positions)
    again = load(root, val_split=0.0, train_limit=10, test_limit=3, cache=False)
    np.testing.assert_array_equal(sub.x_train, again.x_train)
    others = [load(root, seed=s, val_split=0.0, train_limit=10, cache=False) for s in (1, 2, 3)]
    assert any(not np.array_equal(o.x_train, sub.x_train) for o in others)


def test_limit_larger_than_the_data(tmp_path):
    path = tmp_path / "d.npz"
    write_npz(path)
    with pytest.raises(LitelabError, match="--train-limit 99999 is larger than the 10 training"):
        load(path, train_limit=99999)
    with pytest.raises(LitelabError, match="--test-limit 5 is larger than the 4 test images"):
        load(path, test_limit=5)
    assert len(load(path, train_limit=10, val_split=0.0).x_train) == 10


def test_validation_split_takes_the_end(tmp_path):
    path = tmp_path / "d.npz"
    x, y, xt, _ = write_npz(path)
    ds = load(path, val_split=0.3)
    np.testing.assert_array_equal(ds.x_train, x[:7])
    np.testing.assert_array_equal(ds.x_val, x[7:])
    np.testing.assert_array_equal(ds.y_val, y[7:])
    np.testing.assert_array_equal(ds.x_test, xt)
    none = load(path, val_split=0.0)
    assert none.x_val.shape == (0, 32, 32, 3) and none.y_val.shape == (0,)
    assert len(none.x_train) == 10


def test_shuffle_uses_the_seed_before_the_split(tmp_path):
    path = tmp_path / "d.npz"
    x, y, xt, _ = write_npz(path)
    ds = load(path, seed=3, shuffle=True, val_split=0.2)
    perm = np.random.default_rng(3).permutation(10)
    np.testing.assert_array_equal(np.concatenate([ds.x_train, ds.x_val]), x[perm])
    np.testing.assert_array_equal(np.concatenate([ds.y_train, ds.y_val]), y[perm])
    np.testing.assert_array_equal(ds.x_test, xt)  # never shuffled
    other = load(path, seed=4, shuffle=True, val_split=0.2)
    assert not np.array_equal(other.x_train, ds.x_train)


def test_val_split_that_leaves_nothing(tmp_path):
    path = tmp_path / "d.npz"
    write_npz(path, n_train=1, n_test=1, labels=[0, 1])
    with pytest.raises(LitelabError, match="--val-split 0.9 leaves no training images"):
        load(path, val_split=0.9)
