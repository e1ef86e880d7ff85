"""Files in and out: atomic writes, one-line-error reads, Markdown tables.

Every file litelab writes goes through here: the bytes land in a temporary file in the
same folder, then ``os.replace`` swaps it in, which is atomic on POSIX and Windows. Every
TOML or JSON file a user hands litelab is read here, so a missing or malformed file is the
same one-line error everywhere.

A write that runs out of disk space (ENOSPC, from Python, HDF5 or TensorFlow alike) is one
:class:`LitelabError` naming the file and the bytes it needs; the file it would have
replaced, and every other file, is left as it was. A process killed mid-write leaves at most
a hidden ``.<name>.*.tmp*`` file, which no reader takes for the real one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litelab.errors import LitelabError


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` means "no space left on device", whoever raised it.

    Python sets ``errno``; h5py and TensorFlow put the C library's message in the text.
    """
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "errno = 28" in text


def _size(path: Path) -> int:
    """Bytes in a file or folder (0 when it is not there)."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size if path.exists() else 0
    except OSError:
        return 0


def disk_full_error(path: Path, needed: int | None = None, written: int = 0) -> LitelabError:
    """The one line for a write that ran out of space: the path, the bytes, what is free.

    ``needed`` is the size when the caller knows it; otherwise the bytes already written when
    the disk filled are a lower bound.
    """
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = 0
    if needed:
        need = f"needs {needed:,} bytes"
    else:
        need = f"needs more than {max(written, 1):,} bytes"
    return LitelabError(
        f"disk full: writing {path} {need}, {free:,} bytes free there; "
        "free some space (earlier files are intact) and run the command again"
    )


@contextlib.contextmanager
def atomic_path(
    path: str | Path, suffix: str | None = None, size_hint: int | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    ``suffix`` defaults to the target's own suffix, since some writers (Keras, matplotlib)
    choose the format from the file name. Works for files and for directories (a directory
    target that already exists is replaced only after the new one is complete).
    On error the temporary file or folder is removed and ``path`` is untouched; running out
    of disk space becomes :func:`disk_full_error` (``size_hint``: the bytes it will need).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent
        )
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(path, size_hint) from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers create it themselves (some refuse to overwrite)
    try:
        try:
            yield tmp
        except Exception as exc:
            if is_disk_full(exc):
                raise disk_full_error(path, size_hint, _size(tmp)) from None
            raise
        if path.is_dir() and tmp.is_dir():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, size_hint=len(data)) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def capture_stderr() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file; the list gets its text on exit.

    C++ runtimes (TensorFlow's converter, LiteRT, TFLite Micro) print straight to fd 2, past
    Python's sys.stderr: their notices would clutter litelab's output, and TFLM reports its
    errors only there.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    log: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield log
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            log.append(tmp.read().decode("utf-8", "replace"))


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Read a TOML file; a missing or malformed one is a one-line error naming ``what``."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise LitelabError(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LitelabError(f"{what} {path} is not valid TOML: {exc}") from None


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file; a missing, unreadable or malformed one is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise LitelabError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise LitelabError(f"{what} {path} is not valid JSON: {exc}") from None


def md_cell(value: Any) -> str:
    """A value as text safe inside a Markdown table cell."""
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value) if value else "none"
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def markdown_table(header: list[str], rows: list[list[Any]], align: str | None = None) -> list[str]:
    """Markdown table lines. ``align`` has 'l' or 'r' per column (default: all left).

    Cells that are not already strings go through :func:`md_cell`.
    """
    align = align or "l" * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += [
        "| " + " | ".join(c if isinstance(c, str) else md_cell(c) for c in row) + " |"
        for row in rows
    ]
    return lines
