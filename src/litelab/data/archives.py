"""Read files from a folder, a zip or a tar archive through one interface, safely.

Nothing is ever extracted to disk: members are read into memory. Every member name is still
validated first, so an archive with absolute paths, ``..`` components or links is refused
outright (it was built to escape a target folder, or is not a plain dataset).
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from litelab.errors import LitelabError

_DRIVE = re.compile(r"^[A-Za-z]:")


def is_ignored(name: str) -> bool:
    """Hidden files and folders and macOS ``__MACOSX`` resource forks are never data."""
    if name.startswith(".") or "/." in name:
        return True
    return "__MACOSX" in name and "__MACOSX" in name.split("/")


def safe_member_name(name: str, archive: Path) -> str:
    """Normalise an archive member name to ``a/b/c``; refuse absolute paths and ``..``."""
    norm = name.replace("\\", "/")
    parts = norm.split("/")
    if norm.startswith("/") or _DRIVE.match(norm) or ".." in parts:
        raise LitelabError(f"unsafe path {name} in archive {archive}")
    return "/".join(p for p in parts if p not in ("", "."))


def sniff(path: Path) -> str | None:
    """What a file is by its first bytes: "zip", "tar" (maybe compressed) or None."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError as exc:
        raise LitelabError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if head[257:262] == b"ustar" or (len(head) == 512 and _is_plain_tar(path)):
        return "tar"
    return None


def _is_plain_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


class Tree:
    """A read-only set of files named by ``/``-separated relative paths."""

    path: Path
    sequential: bool = False  # True when reading means one pass over a stream (tar)

    def scan(self, want: Callable[[str], bool]) -> Iterator[tuple[str, bytes | None]]:
        """Yield every regular file's name, with its bytes when ``want(name)``.

        ``want`` is called exactly once per file, in the order the files are yielded.
        """
        raise NotImplementedError

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Yield ``(name, bytes)`` for the given names (in the tree's own order for tar)."""
        wanted = set(names)
        for name, data in self.scan(wanted.__contains__):
            if data is not None:
                yield name, data

    def known_names(self) -> list[str] | None:
        """All file names if they are known without reading the tree, else None (tar)."""
        return None

    def where(self, name: str) -> str:
        """How to name a member in a message."""
        return f"{self.path}:{name}"

    def close(self) -> None:
        """Release open files (a no-op for most trees)."""


class DirTree(Tree):
    """A folder on disk (symlinked folders are not followed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: list[tuple[str, os.stat_result]] | None = None

    def files(self) -> list[tuple[str, os.stat_result]]:
        """``(relative name, stat)`` of every regular file, sorted by name."""
        if self._files is None:
            found = []
            for root, dirs, files in os.walk(self.path, onerror=self._walk_error):
                dirs.sort()
                rel = Path(root).relative_to(self.path).as_posix()
                for fname in files:
                    full = os.path.join(root, fname)
                    try:
                        st = os.stat(full)
                    except OSError:
                        continue  # a dangling link
                    if stat.S_ISREG(st.st_mode):
                        found.append((fname if rel == "." else f"{rel}/{fname}", st))
            self._files = sorted(found, key=lambda item: item[0])
        return self._files

    def known_names(self) -> list[str]:
        return [name for name, _ in self.files()]

    def _walk_error(self, exc: OSError) -> None:
        raise LitelabError(f"cannot read folder {exc.filename}: {exc.strerror or exc}")

    def _read_one(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except OSError as exc:
            raise LitelabError(f"cannot read {self.path / name}: {exc.strerror or exc}") from None

    def scan(self, want: Callable[[str], bool]) -> Iterator[tuple[str, bytes | None]]:
        for name, _ in self.files():
            yield name, (self._read_one(name) if want(name) else None)

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for name in names:
            yield name, self._read_one(name)

    def where(self, name: str) -> str:
        return str(self.path / name)


class ZipTree(Tree):
    """A zip archive; every name is checked when it is opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise LitelabError(f"{path} is not a readable zip file: {exc}") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = safe_member_name(info.filename, path)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise LitelabError(f"unsafe path {info.filename} in archive {path} (a link)")
            if not info.is_dir() and name:
                self._members[name] = info

    def known_names(self) -> list[str]:
        return list(self._members)

    def close(self) -> None:
        self._zip.close()

    def _read_one(self, name: str) -> bytes:
        try:
            return self._zip.read(self._members[name])
        except (
            zipfile.BadZipFile,
            zlib.error,
            OSError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            raise LitelabError(f"cannot read {name} from {self.path}: {exc}") from None

    def scan(self, want: Callable[[str], bool]) -> Iterator[tuple[str, bytes | None]]:
        for name in self._members:
            yield name, (self._read_one(name) if want(name) else None)

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for name in names:
            yield name, self._read_one(name)


class TarTree(Tree):
    """A tar archive, plain or gzip/bzip2/xz compressed, read as a stream (one pass)."""

    sequential = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def scan(self, want: Callable[[str], bool]) -> Iterator[tuple[str, bytes | None]]:
        path = self.path
        try:
            with tarfile.open(path, mode="r|*") as tar:
                for member in tar:
                    name = safe_member_name(member.name, path)
                    if member.issym() or member.islnk():
                        raise LitelabError(f"unsafe path {member.name} in archive {path} (a link)")
                    if member.isdir():
                        continue
                    if not member.isreg():
                        raise LitelabError(
                            f"unsafe path {member.name} in archive {path} (a device or pipe)"
                        )
                    data = None
                    if name and want(name):
                        if member.issparse():
                            fobj = tar.extractfile(member)
                            data = fobj.read() if fobj is not None else b""
                        else:  # the stream is at the member's data; this skips extractfile's
                            data = tar.fileobj.read(member.size)  # per-member wrappers
                        if len(data) != member.size:
                            raise EOFError(f"{name} is cut short")
                    if name:
                        yield name, data
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise LitelabError(
                f"{path} is not a readable tar archive (corrupt or truncated?): {exc}"
            ) from None


def open_tree(path: Path) -> Tree:
    """A :class:`Tree` for a folder, zip or tar file (the caller has sniffed the kind)."""
    if path.is_dir():
        return DirTree(path)
    kind = sniff(path)
    if kind == "zip":
        return ZipTree(path)
    if kind == "tar":
        return TarTree(path)
    raise LitelabError(
        f"cannot read {path}: not a folder, .npz, .zip or .tar(.gz) archive "
        "(pass cifar10, a dataset archive or a folder of class folders)"
    )
