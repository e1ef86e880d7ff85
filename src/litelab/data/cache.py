"""A cache of decoded datasets, so the second load of a folder or archive takes seconds.

One uncompressed ``.npz`` per (source content, image size, format version) under
``$LITELAB_CACHE_DIR`` or ``~/.cache/litelab``. A file source is keyed by the sha256 of its
bytes (moving or renaming it keeps the cache); a folder by the name, size and mtime of every
file in it. A cache file that cannot be read is treated as missing and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litelab.data.splits import Part
from litelab.files import atomic_path

FORMAT_VERSION = 1
_SPLITS = ("train", "test")
_FIELDS = ("x", "y", "index", "labels")


def cache_dir() -> Path:
    """Where cache files live: ``$LITELAB_CACHE_DIR`` or ``~/.cache/litelab``."""
    env = os.environ.get("LITELAB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "litelab"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(path: Path, image_size: int, files: list[tuple[str, os.stat_result]] | None) -> str:
    """The key of a source: content hash of a file, or ``files`` (name, stat) of a folder."""
    digest = hashlib.sha256(f"litelab-data-v{FORMAT_VERSION}|{image_size}|".encode())
    if files is None:
        digest.update(b"file|" + _sha256_file(path).encode())
    else:
        digest.update(b"dir|")
        for name, st in files:
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_file(path: Path, image_size: int, key: str) -> Path:
    """The cache file for a key (the source's name is kept in it to help a human)."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.name)[:40]
    return cache_dir() / f"{stem}-{image_size}px-{key[:24]}.npz"


@dataclass
class Cached:
    """A decoded source as stored: both splits, class names and how to describe it."""

    train: Part
    test: Part
    classes: list[str]
    meta: dict


def load(file: Path, image_size: int) -> Cached | None:
    """The cached dataset in ``file``, or None if absent, unreadable or inconsistent."""
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            classes = [str(c) for c in z["classes"]]
            parts = [Part(*(z[f"{s}_{f}"] for f in _FIELDS)) for s in _SPLITS]
        if meta.get("version") != FORMAT_VERSION:
            return None
        for part in parts:
            n = len(part.y)
            if (
                part.x.dtype != np.uint8
                or part.x.shape[1:] != (image_size, image_size, 3)
                or len(part.x) != n
                or len(part.index) != n
                or (n and (part.index.max() >= len(part.labels)))
            ):
                return None
        return Cached(parts[0], parts[1], classes, meta)
    except Exception:  # any damage means: decode again
        return None


def save(file: Path, cached: Cached) -> None:
    """Write atomically; a cache that cannot be written is a warning, not an error."""
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps({**cached.meta, "version": FORMAT_VERSION})),
        "classes": np.array(cached.classes, dtype=str),
    }
    for split, part in zip(_SPLITS, (cached.train, cached.test), strict=True):
        for field in _FIELDS:
            arrays[f"{split}_{field}"] = np.ascontiguousarray(getattr(part, field))
    try:
        with atomic_path(file) as tmp:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)
    except OSError as exc:
        print(f"litelab: could not write the data cache {file}: {exc}", file=sys.stderr)
