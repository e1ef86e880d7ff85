"""Image folders and archives of them: layouts, modes, order, skipping, errors, safety."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import litelab.data.images as images
from litelab.config import DatasetConfig
from litelab.data import CIFAR10_CLASSES, load_dataset
from litelab.errors import LitelabError

pytestmark = pytest.mark.usefixtures("data_env")


def load(source, seed=42, **kw):
    kw.setdefault("val_split", 0.0)
    kw.setdefault("cache", False)
    return load_dataset(DatasetConfig(source=str(source), **kw), seed=seed, progress=False)


def save(path: Path, im: Image.Image, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt)


def make_tar(root: Path, target: Path, arcname: str = "top") -> Path:
    with tarfile.open(target, "w:gz") as tar:
        tar.add(root, arcname=arcname)
    return target


def make_zip(root: Path, target: Path, arcname: str = "top") -> Path:
    with zipfile.ZipFile(target, "w") as z:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, f"{arcname}/{p.relative_to(root).as_posix()}")
    return target


def test_any_mode_and_size_becomes_rgb(tmp_path):
    root = tmp_path / "ds"
    grey16 = Image.fromarray(np.full((20, 20), 32896, dtype=np.uint16))  # 16-bit grey, 50%
    palette = Image.new("P", (32, 32), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    cases = {
        "train/a/rgb.png": (Image.new("RGB", (32, 32), (250, 1, 2)), (250, 1, 2)),
        "train/a/rgba.png": (Image.new("RGBA", (32, 32), (9, 8, 7, 100)), (9, 8, 7)),
        "train/a/grey.png": (Image.new("L", (32, 32), 100), (100, 100, 100)),
        "train/b/palette.png": (palette, (10, 20, 30)),
        "train/b/big.jpg": (Image.new("RGB", (64, 48), (0, 0, 255)), (0, 0, 255)),
        "train/b/cmyk.jpg": (Image.new("CMYK", (32, 32), (0, 0, 0, 0)), (255, 255, 255)),
        "test/a/grey16.png": (grey16, (128, 128, 128)),
        "test/b/photo.tiff": (Image.new("RGB", (7, 5), (30, 60, 90)), (30, 60, 90)),
    }
    for name, (im, _) in cases.items():
        save(root / name, im)
    ds = load(root)
    assert ds.classes == ["a", "b"]
    assert ds.x_train.shape == (6, 32, 32, 3) and ds.x_test.shape == (2, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    got = {tuple(int(v) for v in img.reshape(-1, 3).mean(0).round()) for img in ds.x_train}
    got |= {tuple(int(v) for v in img.reshape(-1, 3).mean(0).round()) for img in ds.x_test}
    for name, (_, colour) in cases.items():
        assert any(np.abs(np.subtract(g, colour)).max() <= 3 for g in got), (name, got)


def test_order_is_the_fixed_permutation_and_val_is_the_end(tmp_path, image_folder, fakes):
    root = image_folder(tmp_path / "ds", {"a": (10, 2), "b": (10, 2), "c": (10, 2)})
    ds = load(root, val_split=0.2)
    sorted_pairs = [(c, i) for c in range(3) for i in range(10)]  # (class, file) sorted
    perm = np.random.default_rng(0).permutation(30)
    order = [sorted_pairs[k] for k in perm]
    labels = np.array([c for c, _ in order])
    np.testing.assert_array_equal(np.concatenate([ds.y_train, ds.y_val]), labels)
    assert len(ds.x_val) == 6
    for img, (c, i) in zip(np.concatenate([ds.x_train, ds.x_val]), order, strict=True):
        assert tuple(img[0, 0]) == fakes.color_of(c, i)
    assert len(set(labels[:6].tolist())) > 1  # classes are interleaved, not in blocks
    # the test set has the same kind of order, and is the same whatever the run seed
    np.testing.assert_array_equal(load(root, seed=1).x_test, load(root, seed=2).x_test)


def test_archives_with_a_top_folder_match_the_folder(tmp_path, image_folder):
    root = image_folder(tmp_path / "ds", {"cat": (4, 2), "dog": (3, 2)})
    (root / "README.txt").write_text("not an image")
    want = load(root)
    for archive in (make_tar(root, tmp_path / "ds.tar.gz"), make_zip(root, tmp_path / "ds.zip")):
        got = load(archive)
        assert got.classes == want.classes == ["cat", "dog"]
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(got, key), getattr(want, key))
        assert got.source == f"image folders (2 classes) from {archive}"


def test_cifar_class_jpegs_are_described_as_the_jpeg_copy(tmp_path):
    root = tmp_path / "cifar10-jpeg"
    for split in ("train", "test"):
        for c in CIFAR10_CLASSES:
            save(root / split / c / "0000.jpg", Image.new("RGB", (32, 32), (1, 2, 3)))
    tar = make_tar(root, tmp_path / "c.tar.gz", arcname="cifar10-jpeg")
    ds = load(tar)
    assert ds.classes == CIFAR10_CLASSES
    assert ds.source == f"CIFAR-10 (JPEG copy) from {tar}"


def test_single_root_is_split_stratified_and_fixed(tmp_path, image_folder):
    root = image_folder(tmp_path / "flowers", {"a": 10, "b": 5, "c": 1}, split=False)
    ds = load(root, test_fraction=0.2)
    assert ds.classes == ["a", "b", "c"]
    assert np.bincount(ds.y_test, minlength=3).tolist() == [2, 1, 0]
    assert np.bincount(ds.y_train, minlength=3).tolist() == [8, 4, 1]
    again = load(root, seed=7, test_fraction=0.2)
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    half = load(root, test_fraction=0.5).y_test  # a: 5, b: round(2.5) = 2, c: keeps its one
    assert np.bincount(half, minlength=3).tolist() == [5, 2, 0]
    # no image is in both sets
    seen = {img.tobytes() for img in ds.x_train}
    assert not any(img.tobytes() in seen for img in ds.x_test)


def test_non_images_are_skipped_with_one_warning(tmp_path, image_folder, capsys):
    root = image_folder(tmp_path / "ds", {"cat": (2, 1), "dog": (2, 1)})
    (root / "README.txt").write_text("x")
    (root / "train" / "cat" / "notes.md").write_text("x")
    (root / "train" / "dog" / "broken.jpg").write_bytes(b"not really a jpeg")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\0")  # hidden: ignored, not counted
    (root / "__MACOSX" / "train").mkdir(parents=True)
    (root / "__MACOSX" / "train" / "._x.png").write_bytes(b"\0")
    ds = load(root)
    assert len(ds.x_train) == 4 and len(ds.x_test) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("litelab:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"litelab: skipped 3 non-image files in {root}")


def test_no_images_errors(tmp_path, image_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LitelabError, match=f"no images and no CIFAR-10 batches found in {empty}"):
        load(empty)
    texts = tmp_path / "texts"
    (texts / "a").mkdir(parents=True)
    (texts / "a" / "x.txt").write_text("x")
    with pytest.raises(LitelabError, match=f"no images and no CIFAR-10 batches found in {texts}"):
        load(texts)
    root = image_folder(tmp_path / "ds", {"cat": (2, 1), "dog": (2, 1)})
    (root / "train" / "emu").mkdir()
    (root / "train" / "emu" / "x.txt").write_text("x")
    (root / "test" / "emu").mkdir()
    with pytest.raises(LitelabError, match=r"class folder train/emu in .* has no images"):
        load(root)


def test_class_sets_must_match(tmp_path, image_folder):
    root = image_folder(tmp_path / "ds", {"cat": (2, 1), "dog": (2, 1)})
    image_folder(root / "train", {"emu": 1}, split=False)
    image_folder(root / "test", {"fox": 1}, split=False)
    with pytest.raises(LitelabError, match="only in train: emu; only in test: fox"):
        load(root)


def test_layout_errors(tmp_path, image_folder):
    root = image_folder(tmp_path / "half", {"cat": 2, "dog": 2}, split=False)
    (root / "train").mkdir()
    (root / "train" / "cat").mkdir()
    (root / "train" / "cat" / "x.png").write_bytes((root / "cat" / "000.png").read_bytes())
    with pytest.raises(LitelabError, match="has a train/ folder but no test/ folder"):
        load(root)
    one = image_folder(tmp_path / "one", {"cat": 3}, split=False)
    with pytest.raises(LitelabError, match="only one class folder"):
        load(one)


def _tar_with(target: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(target, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if data else None)
    return target


@pytest.mark.parametrize("name", ["../evil.png", "ok/../../evil.png", "/etc/evil.png"])
def test_unsafe_member_names_are_refused(tmp_path, fakes, name):
    info = tarfile.TarInfo(name)
    data = fakes.png_bytes((1, 2, 3))
    info.size = len(data)
    tar = _tar_with(tmp_path / "evil.tar.gz", info, data)
    with pytest.raises(LitelabError, match=f"unsafe path {name} in archive {tar}"):
        load(tar)
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("train/a/ok.png", data)
        z.writestr(zipfile.ZipInfo(name), data)
    with pytest.raises(LitelabError, match=f"unsafe path .*evil.png in archive {zpath}"):
        load(zpath)
    assert not (tmp_path.parent / "evil.png").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_in_tar_are_refused(tmp_path, kind):
    info = tarfile.TarInfo("train/a/link.png")
    info.type = kind
    info.linkname = "/etc/passwd"
    tar = _tar_with(tmp_path / "links.tar", info)
    with pytest.raises(LitelabError, match=f"unsafe path train/a/link.png in archive {tar}"):
        load(tar)


def test_symlink_in_zip_is_refused(tmp_path):
    zpath = tmp_path / "links.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        info = zipfile.ZipInfo("train/a/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(LitelabError, match=f"unsafe path train/a/link.png in archive {zpath}"):
        load(zpath)


def test_worker_processes_give_the_same_arrays(tmp_path, image_folder, monkeypatch):
    root = image_folder(tmp_path / "ds", {"a": (12, 3), "b": (12, 3), "c": (11, 3)})
    (root / "train" / "a" / "bad.png").write_bytes(b"broken")
    tar = make_tar(root, tmp_path / "ds.tar.gz")
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "0")
    want = load(tar)

    calls = []
    real = images.ProcessPoolExecutor.submit

    def spy(self, fn, blobs, *args, **kwargs):
        calls.append(len(blobs))
        return real(self, fn, blobs, *args, **kwargs)

    monkeypatch.setattr(images, "_MIN_PARALLEL", 8)
    monkeypatch.setattr(images, "_CHUNK_ITEMS", 5)
    monkeypatch.setattr(images.ProcessPoolExecutor, "submit", spy)
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "2")
    got = load(tar)
    assert sum(calls) == 35 + 9 + 1  # every image went through a worker process
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(got, key), getattr(want, key))
