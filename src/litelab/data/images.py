"""Turn encoded image files into fixed-size RGB uint8 arrays.

Every image litelab sees, for training or for ``litelab predict``, goes through
:func:`decode_image`, so both see identical pixels. Decoding tens of thousands of tiny JPEGs
is bound by Pillow's per-file Python work, not by the decoder itself (threads made it slower
in measurements), so :class:`DecodePool` spreads large jobs over a few worker processes (a standard
:class:`~concurrent.futures.ProcessPoolExecutor`, spawn start method), falling back to
in-process decoding when they cannot run.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Hashable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from litelab.errors import LitelabError

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .bmp .dib .gif .tif .tiff .webp .ppm .pgm .pbm .pnm "
    ".tga .ico .qoi .avif .jp2 .j2k .pcx .sgi .ras".split()
)
# Formats Pillow may try. Leaves out the ones that run external programs (EPS) or are rarely
# images (MPEG, HDF5 stubs), so an odd file is skipped instead of handed to ghostscript.
_SAFE_FORMATS = (
    "JPEG", "MPO", "PNG", "BMP", "DIB", "GIF", "TIFF", "WEBP", "PPM", "TGA", "ICO", "QOI",
    "AVIF", "JPEG2000", "PCX", "SGI", "SUN",
)  # fmt: skip
_MIN_PARALLEL = 4096  # fewer images than this: starting worker processes costs more than it saves
_MIN_PARALLEL_BYTES = 64 << 20  # ... unless they are big
_CHUNK_ITEMS = 512
_CHUNK_BYTES = 16 << 20
_CHUNKS_IN_FLIGHT = 2  # per worker; bounds the memory held by encoded bytes not yet decoded


def is_image_name(name: str) -> bool:
    """Whether a file name has an image extension (case-insensitive)."""
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def _formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in _SAFE_FORMATS if f in Image.OPEN)


_FORMATS = _formats()


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB; 16/32-bit integer and float grey are scaled, not clipped."""
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16"):
        arr = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if arr.size and arr.max() > 255:
            arr = arr / 257.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L").convert("RGB")
    return im.convert("RGB")


def _decode(data: bytes, size: int) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
        if im.format in ("JPEG", "MPO") and im.size != (size, size):
            im.draft("RGB", (size, size))
        if "exif" in im.info:
            im = ImageOps.exif_transpose(im)
        im = _to_rgb(im)
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def decode_image(data: bytes, size: int) -> np.ndarray | None:
    """Decode one encoded image to ``(size, size, 3)`` uint8, or None if Pillow cannot read it.

    Any mode becomes RGB; the image is resized (Lanczos) only when its size differs. Large
    JPEGs are first reduced by the decoder itself (``draft``), which is much faster.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's warnings about odd files are not actionable
        try:
            return _decode(data, size)
        except Exception:  # a corrupt file can raise nearly anything inside Pillow's plugins
            return None


def decode_chunk(
    blobs: Sequence[bytes], size: int, quiet: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Decode several images: ``(n, size, size, 3)`` pixels (zeros where it failed), ok mask.

    Same result as :func:`decode_image` on each, with less per-image overhead. Pass
    ``quiet=False`` from threads: silencing warnings is not thread-safe.
    """
    out = np.zeros((len(blobs), size, size, 3), dtype=np.uint8)
    ok = np.zeros(len(blobs), dtype=bool)
    with warnings.catch_warnings() if quiet else contextlib.nullcontext():
        if quiet:
            warnings.simplefilter("ignore")
        for i, blob in enumerate(blobs):
            try:
                out[i] = _decode(blob, size)
            except Exception:
                continue
            ok[i] = True
    return out, ok


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 ``(N, H, W, 3)`` batch to ``size`` with Lanczos (no-op if it fits)."""
    if x.shape[1:3] == (size, size):
        return x
    out = np.empty((len(x), size, size, 3), dtype=np.uint8)
    for i, img in enumerate(x):
        im = Image.fromarray(img, "RGB").resize((size, size), Image.Resampling.LANCZOS)
        out[i] = np.asarray(im)
    return out


def load_image_files(paths: Sequence[str | Path], size: int = 32) -> np.ndarray:
    """Load image files (e.g. for ``litelab predict``) as ``(n, size, size, 3)`` uint8.

    Uses the same decoding as training data. Threads help here: a few large photos spend
    their time inside Pillow's decoder, which releases the GIL.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise LitelabError(f"image not found: {path}")
        if not path.is_file():
            raise LitelabError(f"not an image file: {path} is a directory")

    def one(path: Path) -> np.ndarray:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LitelabError(f"cannot read image {path}: {exc.strerror or exc}") from None
        try:
            return _decode(data, size)
        except Exception:
            raise LitelabError(
                f"cannot read image {path}: not an image Pillow can decode"
            ) from None

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    with warnings.catch_warnings():  # here, not in the threads: it is not thread-safe
        warnings.simplefilter("ignore")
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(paths)))) as pool:
            for i, arr in enumerate(pool.map(one, paths)):
                out[i] = arr
    return out


def _worker_count() -> int:
    """Decode processes to use: ``$LITELAB_DECODE_WORKERS`` or one per CPU (max 8; 0 = none)."""
    env = os.environ.get("LITELAB_DECODE_WORKERS", "").strip()
    if env.isdigit():
        return min(int(env), 32)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, 8)


def _ignore_sigint() -> None:
    """Runs in each decode process: Ctrl-C is the parent's, which shuts the pool down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DecodePool:
    """Decode a stream of ``(key, bytes)`` images, in parallel when there are many.

    Feed with :meth:`add` while reading an archive (decoding overlaps with reading), then
    :meth:`finish` returns the pixels and each key's row in them. The first
    ``_MIN_PARALLEL`` images are buffered; if more come, a spawn-based
    :class:`~concurrent.futures.ProcessPoolExecutor` decodes chunks of them, with at most
    ``_CHUNKS_IN_FLIGHT`` chunks per worker submitted at a time. If the processes cannot
    start or die, the rest is decoded in this process. Use as a context manager so the
    workers are always stopped.
    """

    def __init__(
        self, size: int, progress: bool = True, total: int | None = None, desc: str = "decoding"
    ) -> None:
        self.size = size
        self._keys: list[Hashable] = []
        self._blobs: list[bytes] = []
        self._nbytes = 0
        # one entry per chunk, in order: [keys, blobs while pending, future or (pixels, ok)]
        self._results: list[list] = []
        self._pending: dict[Future, list] = {}
        self._executor: ProcessPoolExecutor | None = None
        self._limit = 0
        self._parallel: bool | None = None  # decided once _MIN_PARALLEL images were seen
        self._bar_args = {"total": total, "desc": desc, "disable": not progress}
        self._bar: tqdm | None = None  # made on the first image, so an unused pool shows nothing

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, key: Hashable, data: bytes) -> None:
        """Queue one encoded image."""
        if self._bar is None:
            self._bar = tqdm(unit="img", file=sys.stderr, leave=False, **self._bar_args)
        self._keys.append(key)
        self._blobs.append(data)
        self._nbytes += len(data)
        if self._parallel is None:
            if len(self._blobs) >= _MIN_PARALLEL or self._nbytes >= _MIN_PARALLEL_BYTES:
                self._start()
                self._flush()
        elif len(self._blobs) >= _CHUNK_ITEMS or self._nbytes >= _CHUNK_BYTES:
            self._flush()

    def finish(self) -> tuple[np.ndarray, dict[Hashable, int]]:
        """Decode what is left; return all pixels and each key's row in them (-1: failed)."""
        if self._parallel is None:
            self._parallel = False
        self._flush()
        self._wait(0)
        arrays, rows, start = [], {}, 0
        for keys, _blobs, (arr, ok) in self._results:
            arrays.append(arr)
            for i, (key, good) in enumerate(zip(keys, ok.tolist(), strict=True)):
                rows[key] = start + i if good else -1
            start += len(keys)
        self._results.clear()
        self.close()
        size = self.size
        images = np.concatenate(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
        return images, rows

    def close(self) -> None:
        """Stop the worker processes and the progress bar."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._pending.clear()
        if self._bar is not None:
            self._bar.close()

    def _start(self) -> None:
        count = _worker_count()
        self._parallel = count > 0 and bool(sys.executable)
        if not self._parallel:
            return
        try:
            self._executor = ProcessPoolExecutor(
                max_workers=count,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_ignore_sigint,
            )
        except (OSError, ValueError, NotImplementedError):
            self._parallel = False
            return
        self._limit = _CHUNKS_IN_FLIGHT * count

    def _flush(self) -> None:
        keys, blobs = self._keys, self._blobs
        self._keys, self._blobs, self._nbytes = [], [], 0
        for start in range(0, len(blobs), _CHUNK_ITEMS):
            ck, cb = keys[start : start + _CHUNK_ITEMS], blobs[start : start + _CHUNK_ITEMS]
            if self._executor is not None:
                self._wait(self._limit - 1)  # wait while the workers are behind
            entry = [ck, cb, None]
            self._results.append(entry)
            if self._executor is not None:
                try:
                    fut = self._executor.submit(decode_chunk, cb, self.size)
                except (BrokenProcessPool, RuntimeError, OSError):
                    self._give_up()
                else:
                    entry[2] = fut
                    self._pending[fut] = entry
                    continue
            self._local(entry)

    def _wait(self, most: int) -> None:
        """Collect finished chunks until at most ``most`` are still being decoded."""
        while len(self._pending) > most:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            for fut in done:
                entry = self._pending.pop(fut, None)
                if entry is None:  # already decoded here after the pool broke
                    continue
                try:
                    entry[2] = fut.result()
                except (BrokenProcessPool, OSError, EOFError):
                    self._give_up()
                    self._local(entry)
                    continue
                entry[1] = None  # decoded: the encoded bytes can go
                if self._bar is not None:
                    self._bar.update(len(entry[0]))

    def _give_up(self) -> None:
        """The worker processes broke: decode the rest (pending chunks too) in-process."""
        if self._executor is None:
            return
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None
        pending, self._pending = list(self._pending.values()), {}
        for entry in pending:
            self._local(entry)

    def _local(self, entry: list) -> None:
        entry[2] = decode_chunk(entry[1], self.size)
        entry[1] = None
        if self._bar is not None:
            self._bar.update(len(entry[0]))
