"""A stratified slice of the real CIFAR-10 JPEG copy in ../shared (skipped without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from litelab.config import DatasetConfig
from litelab.data import CIFAR10_CLASSES, load_dataset

JPEG_COPY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


@pytest.mark.e2e
@pytest.mark.skipif(not JPEG_COPY.is_file(), reason=f"{JPEG_COPY} not present")
def test_slice_of_the_jpeg_copy(data_env):
    cfg = DatasetConfig(source=str(JPEG_COPY), train_limit=200, test_limit=100)
    ds = load_dataset(cfg, seed=42, progress=False)
    assert ds.x_train.shape == (160, 32, 32, 3) and ds.x_val.shape == (40, 32, 32, 3)
    assert ds.x_test.shape == (100, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.classes == CIFAR10_CLASSES and ds.num_classes == 10
    assert ds.source == f"CIFAR-10 (JPEG copy) from {JPEG_COPY}"
    train = np.concatenate([ds.y_train, ds.y_val])
    assert np.bincount(train, minlength=10).tolist() == [20] * 10
    assert np.bincount(ds.y_test, minlength=10).tolist() == [10] * 10
    assert len(set(ds.y_val.tolist())) > 5  # classes interleaved, so val is not one class
    assert 30 < ds.x_train.mean() < 220 and ds.x_train.std() > 20  # real pixels, not blanks
