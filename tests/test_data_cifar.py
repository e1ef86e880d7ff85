"""The official CIFAR-10 formats (on tiny fakes) and the download path."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

import litelab.data.cifar as cifar
from litelab.config import DatasetConfig
from litelab.data import load_dataset
from litelab.errors import LitelabError

pytestmark = pytest.mark.usefixtures("data_env")

TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def expected(arrays):
    x = np.concatenate([arrays[n][0] for n in TRAIN])
    y = np.concatenate([arrays[n][1] for n in TRAIN])
    return x, y, arrays["test_batch"][0], arrays["test_batch"][1]


def load(source, **kw):
    kw.setdefault("val_split", 0.0)
    return load_dataset(DatasetConfig(source=str(source), **kw), progress=False)


def test_python_targz_in_batch_order(tmp_path, cifar_python_files, fakes):
    # also: a local file named like the download is read without any md5 check
    path = tmp_path / "cifar-10-python.tar.gz"
    x, y, xt, yt = expected(cifar_python_files(path))
    ds = load(path)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train, x)
    np.testing.assert_array_equal(ds.y_train, y)
    np.testing.assert_array_equal(ds.x_test, xt)
    np.testing.assert_array_equal(ds.y_test, yt)
    assert ds.classes == fakes.classes and ds.num_classes == 10
    assert ds.source == f"CIFAR-10 (official, python version) from {path}"


def test_extracted_folder_and_its_parent(tmp_path, cifar_python_files):
    folder = tmp_path / "parent" / "cifar-10-batches-py"
    x, y, xt, yt = expected(cifar_python_files(folder, as_tar=False))
    for source in (folder, folder.parent):
        ds = load(source, val_split=0.25)
        np.testing.assert_array_equal(np.concatenate([ds.x_train, ds.x_val]), x)
        np.testing.assert_array_equal(ds.y_test, yt)
        assert len(ds.x_val) == 5  # round(0.25 * 20) from the end


def test_binary_version_recognised_by_content(tmp_path, cifar_binary_file, fakes):
    path = tmp_path / "renamed.dat"  # the name says nothing
    x, y, xt, yt = expected(cifar_binary_file(path))
    ds = load(path)
    np.testing.assert_array_equal(ds.x_train, x)
    np.testing.assert_array_equal(ds.y_train, y)
    np.testing.assert_array_equal(ds.x_test, xt)
    np.testing.assert_array_equal(ds.y_test, yt)
    assert ds.classes == fakes.classes
    assert "binary version" in ds.source


def test_old_numpy_module_name_in_pickles(tmp_path, fakes):
    # The real files (written by Python 2) name numpy.core.multiarray._reconstruct.
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    arrays = fakes.arrays(2)
    for name, (x, y) in arrays.items():
        data = fakes.python_batch_bytes(x, y)
        assert b"numpy._core.multiarray" in data
        (folder / name).write_bytes(
            data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        )
    (folder / "batches.meta").write_bytes(fakes.meta_bytes())
    np.testing.assert_array_equal(load(folder).x_test, arrays["test_batch"][0])


def test_image_size_resizes(tmp_path, cifar_python_files):
    path = tmp_path / "c.tar.gz"
    cifar_python_files(path)
    ds = load(path, image_size=16)
    assert ds.x_train.shape == (20, 16, 16, 3) and ds.x_test.shape == (4, 16, 16, 3)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch hacked",))


def test_malicious_pickle_is_refused(tmp_path, cifar_python_files, monkeypatch):
    folder = tmp_path / "batches"
    cifar_python_files(folder, as_tar=False)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        LitelabError,
        match=r"refusing to unpickle (posix|nt)\.system from .*data_batch_3: not a CIFAR-10 batch",
    ):  # noqa: E501
        load(folder)
    assert not (tmp_path / "hacked").exists()


def test_corrupt_pickle_names_the_file(tmp_path, cifar_python_files):
    folder = tmp_path / "batches"
    cifar_python_files(folder, as_tar=False)
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(LitelabError, match="test_batch is not a valid CIFAR-10 python batch"):
        load(folder)


def test_truncated_binary_batch(tmp_path, cifar_binary_file, fakes):
    good = tmp_path / "good.tar.gz"
    cifar_binary_file(good)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(good) as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            fakes.add_member(dst, m.name, data[:-100] if m.name.endswith("_2.bin") else data)
    with pytest.raises(LitelabError, match=r"data_batch_2\.bin is truncated"):
        load(bad)


def test_corrupt_gzip_names_the_file(tmp_path, cifar_python_files):
    good = tmp_path / "good.tar.gz"
    cifar_python_files(good)
    bad = tmp_path / "cut.tar.gz"
    bad.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(LitelabError, match=f"{bad}.*corrupt or truncated"):
        load(bad)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + os.urandom(500))
    with pytest.raises(LitelabError, match=str(junk)):
        load(junk)


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(LitelabError, match="data source not found: .*nope"):
        load(tmp_path / "nope")
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    with pytest.raises(LitelabError, match=f"cannot read {odd}: not a folder"):
        load(odd)


# --- the "cifar10" source: Keras' cache first, else a download --------------------------


def test_cifar10_found_in_keras_cache_without_download(tmp_path, cifar_python_files, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", "http://127.0.0.1:9/cifar.tar.gz")  # must not be used
    datasets = tmp_path / "keras-home" / "datasets"
    datasets.mkdir(parents=True)
    x, *_ = expected(cifar_python_files(datasets / "cifar-10-python.tar.gz"))
    ds = load("cifar10")
    np.testing.assert_array_equal(ds.x_train, x)
    assert ds.source == f"CIFAR-10 (official, {datasets})"


def test_cifar10_found_extracted_in_keras_cache(tmp_path, cifar_python_files, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", "http://127.0.0.1:9/cifar.tar.gz")
    folder = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py"
    x, *_ = expected(cifar_python_files(folder, as_tar=False))
    np.testing.assert_array_equal(load("cifar10").x_train, x)


def test_cifar10_download_checks_md5(tmp_path, cifar_python_files, monkeypatch):
    fake = tmp_path / "served" / "cifar-10-python.tar.gz"
    fake.parent.mkdir()
    x, *_ = expected(cifar_python_files(fake))
    monkeypatch.setattr(cifar, "CIFAR10_URL", fake.as_uri())
    target = tmp_path / "keras-home" / "datasets" / "cifar-10-python.tar.gz"

    monkeypatch.setattr(cifar, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(LitelabError, match="download .* is corrupt .*md5.*--data"):
        load("cifar10")
    assert not target.exists()  # a bad download is not left where it would be found

    monkeypatch.setattr(cifar, "CIFAR10_MD5", hashlib.md5(fake.read_bytes()).hexdigest())
    np.testing.assert_array_equal(load("cifar10").x_train, x)
    assert target.is_file()


def test_cifar10_offline_gives_one_clear_error(monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", "http://127.0.0.1:9/cifar.tar.gz")
    with pytest.raises(LitelabError) as info:
        load("cifar10")
    message = str(info.value)
    assert "\n" not in message
    assert "could not download CIFAR-10 from http://127.0.0.1:9/cifar.tar.gz" in message
    assert "--data path/to/cifar-10-python.tar.gz" in message
    assert "cifar-10-binary.tar.gz" in message and "image-folder archive" in message


def test_restricted_unpickler_allows_only_numpy():
    ok = io.BytesIO()
    pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, ok, protocol=2)
    x, y = cifar.parse_python_batch(ok.getvalue(), "ok")
    assert x.shape == (1, 32, 32, 3) and y.tolist() == [0]
    bad = pickle.dumps({b"data": io.BytesIO}, protocol=2)
    with pytest.raises(LitelabError, match=r"refusing to unpickle _io\.BytesIO from where"):
        cifar.parse_python_batch(bad, "where")
