"""The TensorFlow Lite Micro C++ sources, found or fetched.

litelab builds the board program against a TFLM source tree. It takes, in this order:

1. ``--tflm DIR`` (the ``tflm`` argument of :func:`find_tree`),
2. the ``LITELAB_TFLM_DIR`` environment variable,
3. the tree unpacked in litelab's cache (``~/.cache/litelab/tflm`` or
   ``$LITELAB_CACHE_DIR/tflm``),
4. a download of the pinned archives below from GitHub into that cache.

``DIR`` is either a source tree (a ``tflite-micro`` checkout whose dependencies sit beside it
or in its ``tensorflow/lite/micro/tools/make/downloads/``, as TFLM's own Makefile leaves
them) or a folder of the pinned ``.tar.gz`` archives, which are checked against their
SHA-256 and unpacked into the cache. Each archive is a ``git archive`` of a public repository
at the commit pinned here (the dependency pins are those of this TFLM commit's download
scripts). After unpacking, TFLM's own patch to flatbuffers is applied by hand, as its
Makefile would after a download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from litelab.errors import LitelabError

ENV_DIR = "LITELAB_TFLM_DIR"
TFLM_COMMIT = "90b983c2b3f1480642e040bbd2ddb37b998f3424"


@dataclass(frozen=True)
class Archive:
    """One pinned source archive: ``folder`` is what it unpacks into."""

    file: str
    folder: str
    repo: str
    ref: str
    sha256: str
    license: str = "Apache-2.0"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}/archive/{self.ref}.tar.gz"


ARCHIVES: tuple[Archive, ...] = (
    Archive(
        "tflite-micro-90b983c2.tar.gz",
        "tflite-micro",
        "tensorflow/tflite-micro",
        TFLM_COMMIT,
        "b178aedd2f7f89631bfe424a877ae5e31027e73e43311ce3138980999dd6631c",
    ),
    Archive(
        "flatbuffers-v25.9.23.tar.gz",
        "flatbuffers",
        "google/flatbuffers",
        "v25.9.23",
        "cf7fb50de7f35bcd8b7f3f7a68cbd08d9bf7105401e731a1ace6357df9f5b2ca",
    ),
    Archive(
        "gemmlowp-719139ce.tar.gz",
        "gemmlowp",
        "google/gemmlowp",
        "719139ce755a0f31cbf1c37f7f98adcc7fc9f425",
        "b05222cda04979bc8e6559f5453624f6dd05bd4e98471ada008adebae3e4e30b",
    ),
    Archive(
        "ruy-d3712831.tar.gz",
        "ruy",
        "google/ruy",
        "d37128311b445e758136b8602d1bbd2a755e115d",
        "a3907d058dc4c9698981a5994fa5e6a6e18375a4dae49ba3956243c87a4bc955",
    ),
    Archive(
        "kissfft-v130.tar.gz",
        "kissfft",
        "mborgerding/kissfft",
        "v130",
        "d311e5b7f82867caa783bedaf53af3c9c1e6021df2d83a5ac864c070ded5e391",
        "BSD-3-Clause",
    ),
    Archive(
        "cmsis-nn-4ab83cc3.tar.gz",
        "cmsis_nn",
        "ARM-software/CMSIS-NN",
        "4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae",
        "7ccfe5f727e929ff3e0a9b2a00a387777d5a86d5d6eb996eb7447943798487db",
    ),
    Archive(
        "cmsis6-5782d6f8.tar.gz",
        "cmsis",
        "ARM-software/CMSIS_6",
        "5782d6f8057906d360f4b95ec08a2354afe5c9b9",
        "785023e7b4cd764501dd902341d7aa7dc1200f9abef700ff01aa96f55bd540e0",
    ),
    Archive(
        "cortex-dfp-c2c70a97.tar.gz",
        "cortex_dfp",
        "ARM-software/Cortex_DFP",
        "c2c70a97a20fb355815e2ead3d4a40e35a4a3cdf",
        "afec7c3243e7547f02faff341f333adbfa6aefe53c83dc4c19a229c1e0812e51",
    ),
    Archive(
        "esp-nn-d45b843c.tar.gz",
        "esp-nn",
        "espressif/esp-nn",
        "d45b843ca5f873ca9d0706ab0e7f14eafd132e98",
        "2c4034fe7de9396634f827f0f61ef837af0b5738b0642c26096371f9a3a17020",
    ),
    Archive(
        "esp-tflite-micro-99f49e14.tar.gz",
        "esp-tflite-micro",
        "espressif/esp-tflite-micro",
        "99f49e1498b0984f4db54d9bf3938aceb99ad422",
        "0080e511d79a004e9675f0b8a8fd8e202a2fedeb92c79ab7eb97c292490c08db",
    ),
    Archive(
        "esp32-camera-2ac69a6f.tar.gz",
        "esp32-camera",
        "espressif/esp32-camera",
        "2ac69a6f1749694804f5196e63fa1f79800b74bf",
        "389cb4dfce7e35739b8d4d0927082f6d6e3a615abc976b8a963873686c457c0c",
    ),
)
BY_FOLDER = {a.folder: a for a in ARCHIVES}
# What each kind of build needs.
HOST_PARTS = ("tflite-micro", "flatbuffers", "gemmlowp", "ruy")
ARM_PARTS = (*HOST_PARTS, "cmsis_nn", "cmsis")
ESP_NN_PARTS = (*HOST_PARTS, "esp-nn", "esp-tflite-micro")
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
_MARKER = ".litelab-unpacked"


def cache_root() -> Path:
    """``$LITELAB_CACHE_DIR/tflm``, else ``~/.cache/litelab/tflm``."""
    base = os.environ.get("LITELAB_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "litelab"
    return root / "tflm"


@dataclass(frozen=True)
class Tree:
    """Where each source folder is (``parts``: folder name -> path) and what it is."""

    parts: dict[str, Path]
    origin: str  # "--tflm DIR", "LITELAB_TFLM_DIR", "cache" or "download"
    ident: str  # what the build cache is keyed on (the pinned commit, or the tree's path)

    @property
    def tflm(self) -> Path:
        return self.parts["tflite-micro"]

    def need(self, names: tuple[str, ...], why: str) -> None:
        missing = [n for n in names if n not in self.parts]
        if missing:
            raise LitelabError(
                f"the TFLM tree ({self.origin}: {self.tflm}) lacks {', '.join(missing)} "
                f"for {why}; pass --tflm with a folder holding them (or the pinned archives "
                f"{', '.join(BY_FOLDER[n].file for n in missing)})"
            )

    def __getitem__(self, name: str) -> Path:
        return self.parts[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tree_from_dir(root: Path, origin: str) -> Tree | None:
    """The source folders under ``root`` (unpacked layout, or a tflite-micro checkout)."""
    root = root.resolve()
    if (root / "tflite-micro" / "tensorflow" / "lite" / "micro").is_dir():
        base, tflm = root, root / "tflite-micro"
    elif (root / "tensorflow" / "lite" / "micro").is_dir():
        base, tflm = root.parent, root
    else:
        return None
    parts = {"tflite-micro": tflm}
    for folder in BY_FOLDER:
        if folder == "tflite-micro":
            continue
        for candidate in (base / folder, tflm / DOWNLOADS / folder):
            if candidate.is_dir():
                parts[folder] = candidate
                break
    pinned = (root / _MARKER).is_file()
    return Tree(parts, origin, TFLM_COMMIT[:12] if pinned else f"local-{_path_id(tflm)}")


def _path_id(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:12]


def _has_archives(folder: Path) -> bool:
    return any((folder / a.file).is_file() for a in ARCHIVES)


def _unpack(archives: dict[str, Path], dest: Path, quiet: bool = True) -> None:
    """Check each archive's SHA-256, unpack them into ``dest`` (atomically) and patch."""
    for name, path in archives.items():
        want = BY_FOLDER[name].sha256
        got = _sha256(path)
        if got != want:
            raise LitelabError(f"{path}: SHA-256 {got[:16]}... is not the pinned {want[:16]}...")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        for name, path in archives.items():
            if not quiet:
                print(f"unpacking {path.name}", flush=True)
            with tarfile.open(path, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
            if not (tmp / name).is_dir():
                raise LitelabError(f"{path} did not unpack into {name}/")
        _apply_patches(tmp)
        (tmp / _MARKER).write_text(TFLM_COMMIT + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _apply_patches(root: Path) -> None:
    """TFLM's Makefile patches flatbuffers (and kissfft) after downloading; do the same."""
    jobs = [
        (
            root / "flatbuffers",
            root / "tflite-micro/tensorflow/lite/micro/tools/make/flatbuffers.patch",
        ),
        (root / "kissfft", root / "tflite-micro/third_party/kissfft/kissfft.patch"),
    ]
    patch = shutil.which("patch")
    for folder, diff in jobs:
        if not folder.is_dir() or not diff.is_file():
            continue
        if patch:
            cmd = [patch, "-p1", "--quiet", "--forward", "-i", str(diff)]
        else:
            cmd = ["git", "apply", str(diff)]
        try:
            done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise LitelabError("applying TFLM's patches needs `patch` or `git` on PATH") from None
        if done.returncode != 0:
            raise LitelabError(f"could not apply {diff.name} to {folder.name}/: {done.stdout}")


def _download(archive: Archive, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(archive.url, timeout=30) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError, TimeoutError):
        tmp.unlink(missing_ok=True)
        raise
    tmp.rename(dest)


def offline_message(names: tuple[str, ...]) -> str:
    files = ", ".join(BY_FOLDER[n].file for n in names)
    return (
        f"cannot download the TFLite Micro sources ({files}) from github.com; pass "
        f"--tflm DIR (or set {ENV_DIR}) to a TFLM source tree or to a folder holding those "
        f"archives, or put the archives in {cache_root() / 'archives'}"
    )


def fetch(names: tuple[str, ...] = ARM_PARTS, *, quiet: bool = True) -> Tree:
    """The cached tree, downloading and unpacking the pinned archives it lacks."""
    root = cache_root()
    dest = root / TFLM_COMMIT[:12]
    tree = _tree_from_dir(dest, "cache") if (dest / _MARKER).is_file() else None
    if tree is not None and all(n in tree.parts for n in names):
        return tree
    store = root / "archives"
    store.mkdir(parents=True, exist_ok=True)
    wanted = tuple(dict.fromkeys((*names, *(tree.parts if tree else ()))))
    for name in wanted:
        target = store / BY_FOLDER[name].file
        if target.is_file() and _sha256(target) == BY_FOLDER[name].sha256:
            continue
        if not quiet:
            print(f"downloading {BY_FOLDER[name].url}", flush=True)
        try:
            _download(BY_FOLDER[name], target)
        except (urllib.error.URLError, OSError, TimeoutError):
            raise LitelabError(offline_message(wanted)) from None
    with _lock(root):
        _unpack({n: store / BY_FOLDER[n].file for n in wanted}, dest, quiet)
    found = _tree_from_dir(dest, "download")
    assert found is not None
    return found


def _from_archives(folder: Path, names: tuple[str, ...], origin: str, quiet: bool) -> Tree:
    """Unpack the pinned archives in ``folder`` into the cache (once) and use that tree."""
    root = cache_root()
    dest = root / TFLM_COMMIT[:12]
    have = [a.folder for a in ARCHIVES if (folder / a.file).is_file()]
    missing = [n for n in names if n not in have]
    if missing:
        raise LitelabError(
            f"{folder} lacks the archives {', '.join(BY_FOLDER[n].file for n in missing)}"
        )
    with _lock(root):
        tree = _tree_from_dir(dest, origin) if (dest / _MARKER).is_file() else None
        if tree is None or not all(n in tree.parts for n in have):
            _unpack({n: folder / BY_FOLDER[n].file for n in have}, dest, quiet)
    found = _tree_from_dir(dest, origin)
    assert found is not None
    return found


def find_tree(
    tflm: str | Path | None = None,
    names: tuple[str, ...] = HOST_PARTS,
    *,
    download: bool = True,
    quiet: bool = True,
) -> Tree:
    """The TFLM sources for a build needing ``names``: --tflm, $LITELAB_TFLM_DIR, cache, web."""
    for value, origin in ((tflm, "--tflm"), (os.environ.get(ENV_DIR), ENV_DIR)):
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_dir():
            raise LitelabError(f"{origin} {path}: no such folder")
        if _has_archives(path):
            return _from_archives(path, names, origin, quiet)
        tree = _tree_from_dir(path, origin)
        if tree is None:
            raise LitelabError(
                f"{origin} {path} is neither a TFLite Micro source tree (no "
                "tensorflow/lite/micro/) nor a folder of its pinned archives"
            )
        tree.need(names, "this build")
        return tree
    store = cache_root() / "archives"
    if _has_archives(store) and all((store / BY_FOLDER[n].file).is_file() for n in names):
        return _from_archives(store, names, "cache", quiet)
    dest = cache_root() / TFLM_COMMIT[:12]
    if (dest / _MARKER).is_file():
        tree = _tree_from_dir(dest, "cache")
        if tree is not None and all(n in tree.parts for n in names):
            return tree
    if not download:
        raise LitelabError(offline_message(names))
    return fetch(names, quiet=quiet)


class _lock:
    """An exclusive advisory lock on ``<folder>/.lock`` (fcntl; a no-op where missing)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> _lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:  # Windows: no fcntl; builds there are single-process
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


lock = _lock
