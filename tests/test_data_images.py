"""``load_image_files`` (for predict) decodes exactly like the training data; the decode pool."""

from __future__ import annotations

import io
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest
from PIL import Image

import litelab.data.images as images
from litelab.data import load_image_files
from litelab.data.images import decode_image, is_image_name
from litelab.errors import LitelabError


def test_files_of_any_mode_and_size(tmp_path):
    specs = {
        "a.png": Image.new("RGBA", (10, 20), (1, 2, 3, 4)),
        "b.jpg": Image.new("RGB", (640, 480), (200, 100, 50)),
        "c.gif": Image.new("P", (32, 32), 0),
        "d.bmp": Image.new("L", (32, 32), 9),
    }
    paths = []
    for name, im in specs.items():
        im.save(tmp_path / name)
        paths.append(tmp_path / name)
    x = load_image_files(paths)
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.uint8
    assert tuple(x[0, 5, 5]) == (1, 2, 3)
    assert np.abs(x[1].astype(int) - (200, 100, 50)).max() <= 3
    assert (x[3] == 9).all()
    for i, path in enumerate(paths):  # the same pixels the dataset loader gets
        np.testing.assert_array_equal(x[i], decode_image(path.read_bytes(), 32))
    assert load_image_files([str(paths[0])], size=64).shape == (1, 64, 64, 3)
    assert load_image_files([]).shape == (0, 32, 32, 3)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=95)
    x = decode_image(buf.getvalue(), 32)
    assert x[2, 16, 2] > 200 and x[29, 16, 0] > 200  # blue on top after rotation, red below


def test_bad_paths(tmp_path):
    with pytest.raises(LitelabError, match="image not found: .*nope.png"):
        load_image_files([tmp_path / "nope.png"])
    text = tmp_path / "x.png"
    text.write_text("not an image")
    with pytest.raises(LitelabError, match=f"cannot read image {text}: not an image"):
        load_image_files([text])
    with pytest.raises(LitelabError, match="is a directory"):
        load_image_files([tmp_path])


def test_image_names():
    assert is_image_name("a/b/C.JPG") and is_image_name("x.webp")
    assert not is_image_name("notes.txt") and not is_image_name("README")


def _blobs(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (8 + i % 5, 8), (i % 256, 7 * i % 256, 50)).save(buf, "PNG")
        out.append(buf.getvalue())
    out[3] = b"broken"
    return out


def _pool_decode(blobs: list[bytes]) -> tuple[np.ndarray, dict]:
    with images.DecodePool(16, progress=False) as pool:
        for i, blob in enumerate(blobs):
            pool.add(f"k{i}", blob)
        return pool.finish()


@pytest.fixture
def small_pool(monkeypatch):
    monkeypatch.setattr(images, "_MIN_PARALLEL", 8)
    monkeypatch.setattr(images, "_CHUNK_ITEMS", 5)
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "2")


def test_worker_processes_give_the_same_arrays_in_order(small_pool, monkeypatch):
    blobs = _blobs(43)
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "0")
    want_x, want_rows = _pool_decode(blobs)
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "2")

    calls, futures = [], []

    class Spy(ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            in_flight = sum(not f.done() for f in futures)
            assert in_flight < 2 * 2  # at most _CHUNKS_IN_FLIGHT per worker
            calls.append(len(args[0]))
            fut = super().submit(fn, *args, **kwargs)
            futures.append(fut)
            return fut

    monkeypatch.setattr(images, "ProcessPoolExecutor", Spy)
    got_x, got_rows = _pool_decode(blobs)
    assert sum(calls) == 43  # every image went through a worker process
    assert got_rows == want_rows and got_rows["k3"] == -1
    np.testing.assert_array_equal(got_x, want_x)
    for i, blob in enumerate(blobs):
        if i != 3:
            np.testing.assert_array_equal(got_x[got_rows[f"k{i}"]], decode_image(blob, 16))


def test_a_broken_pool_falls_back_to_this_process(small_pool, monkeypatch):
    blobs = _blobs(23)
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "0")
    want_x, want_rows = _pool_decode(blobs)
    monkeypatch.setenv("LITELAB_DECODE_WORKERS", "2")

    class Broken(ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            fut: Future = Future()
            fut.set_exception(BrokenProcessPool("a worker died"))
            return fut

    monkeypatch.setattr(images, "ProcessPoolExecutor", Broken)
    got_x, got_rows = _pool_decode(blobs)
    assert got_rows == want_rows
    np.testing.assert_array_equal(got_x, want_x)
