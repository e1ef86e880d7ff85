"""A cache of decoded datasets, so the second load of a folder or archive takes seconds.

One uncompressed ``.npz`` per (source content, image size, format version) under
``$LITELAB_CACHE_DIR`` or ``~/.cache/litelab``. A file source is keyed by the sha256 of its
bytes (moving or renaming it keeps the cache); a folder by the name, size and mtime of every
file in it. Each file records the sha256 of its arrays; a file that is truncated, bit-flipped
or otherwise unreadable is never used: one warning line, and the source is decoded again and
the entry rewritten. Entries are written atomically, so two processes filling the same entry
at once leave one whole file, and a full disk is a warning naming the bytes needed.
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
from litelab.errors import LitelabError
from litelab.files import atomic_path, sha256_file

FORMAT_VERSION = 2  # 2: a checksum of the arrays in meta
_SPLITS = ("train", "test")
_FIELDS = ("x", "y", "index", "labels")


def cache_dir() -> Path:
    """Where cache files live: ``$LITELAB_CACHE_DIR`` or ``~/.cache/litelab``."""
    env = os.environ.get("LITELAB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "litelab"


def cache_key(path: Path, image_size: int, files: list[tuple[str, os.stat_result]] | None) -> str:
    """The key of a source: content hash of a file, or ``files`` (name, stat) of a folder."""
    digest = hashlib.sha256(f"litelab-data-v{FORMAT_VERSION}|{image_size}|".encode())
    if files is None:
        digest.update(b"file|" + sha256_file(path).encode())
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


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes (the meta entry aside)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "meta":
            continue
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        digest.update(a.data if a.dtype != object else repr(a.tolist()).encode())
    return digest.hexdigest()


def warn_damaged(file: Path, why: str) -> None:
    print(
        f"litelab: warning: the data cache {file} is damaged ({why}); not using it, "
        "decoding the source again",
        file=sys.stderr,
    )


def load(file: Path, image_size: int) -> Cached | None:
    """The cached dataset in ``file``, or None if absent, damaged or inconsistent.

    A damaged file (unreadable, or its arrays do not match their recorded checksum) is
    reported in one warning line; the caller decodes again and :func:`save` replaces it.
    """
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        meta = json.loads(str(arrays["meta"]))
    except Exception as exc:  # noqa: BLE001 - any damage means: decode again
        warn_damaged(file, f"unreadable: {type(exc).__name__}")
        return None
    if meta.get("version") != FORMAT_VERSION:
        return None
    if meta.get("sha256") != checksum(arrays):
        warn_damaged(file, "checksum mismatch")
        return None
    try:
        classes = [str(c) for c in arrays["classes"]]
        parts = [Part(*(arrays[f"{s}_{f}"] for f in _FIELDS)) for s in _SPLITS]
    except KeyError as exc:
        warn_damaged(file, f"no array {exc}")
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


def save(file: Path, cached: Cached) -> None:
    """Write atomically, with the checksum; a cache that cannot be written is a warning."""
    arrays: dict[str, np.ndarray] = {"classes": np.array(cached.classes, dtype=str)}
    for split, part in zip(_SPLITS, (cached.train, cached.test), strict=True):
        for field in _FIELDS:
            arrays[f"{split}_{field}"] = np.ascontiguousarray(getattr(part, field))
    meta = {**cached.meta, "version": FORMAT_VERSION, "sha256": checksum(arrays)}
    arrays["meta"] = np.array(json.dumps(meta))
    size = sum(a.nbytes for a in arrays.values()) + 512 * len(arrays)  # + zip/npy headers
    try:
        with atomic_path(file, size_hint=size) as tmp:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)
    except (OSError, LitelabError) as exc:
        print(f"litelab: warning: the data cache was not saved: {exc}", file=sys.stderr)
