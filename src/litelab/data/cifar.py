"""The official CIFAR-10 files: find, download and parse them without trusting pickle.

The python version's batches are pickles. Unpickling runs whatever a file names, so they are
read with :class:`_BatchUnpickler`, which admits only the few numpy globals a CIFAR batch
needs (Keras' own ``load_batch`` unpickles without limits). The binary version is plain
records: one label byte and 3,072 pixel bytes (channel-major) per image.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from litelab.errors import LitelabError

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FILE = "cifar-10-python.tar.gz"

PYTHON_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
PYTHON_FILES = [*PYTHON_TRAIN, "test_batch", "batches.meta"]
BINARY_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
BINARY_FILES = [*BINARY_TRAIN, "test_batch.bin", "batches.meta.txt"]
MEMBER_NAMES = frozenset(PYTHON_FILES + BINARY_FILES)

_RECORD = 1 + 3072
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    # Python 3 writes bytes as _codecs.encode(str, "latin1") in protocol 2; it only builds bytes.
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch and nothing else: unknown globals are refused."""

    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        target = _NUMPY_GLOBALS.get((module, name))
        if target is None:
            raise LitelabError(
                f"refusing to unpickle {module}.{name} from {self.where}: not a CIFAR-10 batch"
            )
        return super().find_class(*target)


def _unpickle(data: bytes, where: str) -> dict:
    try:
        obj = _BatchUnpickler(data, where).load()
    except LitelabError:
        raise
    except Exception as exc:  # a corrupt pickle raises nearly anything
        why = " ".join(str(exc).split())  # some of pickle's messages span two lines
        raise LitelabError(f"{where} is not a valid CIFAR-10 python batch: {why}") from None
    if not isinstance(obj, dict):
        raise LitelabError(f"{where} is not a CIFAR-10 python batch (no dict inside)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def parse_python_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One python batch to ``(N, 32, 32, 3)`` uint8 images and int64 labels."""
    batch = _unpickle(data, where)
    x, y = batch.get("data"), batch.get("labels")
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 3072:
        shape = getattr(x, "shape", None)
        raise LitelabError(f"{where}: 'data' must be an (N, 3072) array, got {shape}")
    if not isinstance(y, list | np.ndarray) or len(y) != len(x):
        raise LitelabError(f"{where}: 'labels' must list one label per image ({len(x)})")
    images = x.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(y, dtype=np.int64).reshape(-1)


def parse_python_meta(data: bytes, where: str) -> list[str]:
    """Class names from ``batches.meta``."""
    names = _unpickle(data, where).get("label_names")
    if not isinstance(names, list) or not names:
        raise LitelabError(f"{where}: no 'label_names' list in the meta file")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def parse_binary_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch (label byte + 3072 CHW bytes per record) to images and labels."""
    if not data or len(data) % _RECORD:
        raise LitelabError(
            f"{where} is truncated or not a CIFAR-10 binary batch: {len(data)} bytes is not "
            f"a multiple of the {_RECORD}-byte record"
        )
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), rec[:, 0].astype(np.int64)


def parse_binary_meta(data: bytes, where: str) -> list[str]:
    """Class names from ``batches.meta.txt`` (one per line)."""
    try:
        names = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise LitelabError(f"{where} is not a text file of class names") from None
    if not names:
        raise LitelabError(f"{where} lists no class names")
    return names


def find_batches(names: Collection[str], files: list[str]) -> str | None:
    """The folder prefix (``""`` or ``"a/b/"``) holding all of ``files``, if any."""
    present = set(names)
    prefixes = sorted({n[: -len(files[0])] for n in present if n.endswith(files[0])})
    for prefix in prefixes:
        if (not prefix or prefix.endswith("/")) and all(prefix + f in present for f in files):
            return prefix
    return None


def parse_batches(
    read: Callable[[str], bytes], where: Callable[[str], str], prefix: str, binary: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Parse a complete set of official batches: train (batches 1-5 in order), test, classes."""
    files = BINARY_FILES if binary else PYTHON_FILES
    parse = parse_binary_batch if binary else parse_python_batch
    meta = parse_binary_meta if binary else parse_python_meta
    train = [parse(read(prefix + f), where(prefix + f)) for f in files[:5]]
    x_test, y_test = parse(read(prefix + files[5]), where(prefix + files[5]))
    classes = meta(read(prefix + files[6]), where(prefix + files[6]))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    for y, name in ((y_train, "training"), (y_test, "test")):
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise LitelabError(
                f"{where(prefix)}: a {name} label is {int(y.max())}, but the meta file names "
                f"only {len(classes)} classes"
            )
    return x_train, y_train, x_test, y_test, classes


def keras_datasets_dir() -> Path:
    """Keras' download cache, located as Keras does: ``$KERAS_HOME`` or ``~/.keras``."""
    home = os.environ.get("KERAS_HOME")
    if home:
        return Path(home).expanduser() / "datasets"
    base = Path.home()
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras" / "datasets"


def find_cached_cifar10() -> Path | None:
    """An official copy already in Keras' cache (ours, or one Keras' own loader left)."""
    ddir = keras_datasets_dir()
    for folder in (
        ddir / "cifar-10-batches-py",  # Keras 2's cifar10.load_data
        ddir / "cifar-10-batches-py-target" / "cifar-10-batches-py",  # Keras 3's
    ):
        if all((folder / f).is_file() for f in PYTHON_FILES):
            return folder
    for name in (CIFAR10_FILE, "cifar-10-batches-py.tar.gz", "cifar-10-batches-py-target_archive"):
        if (ddir / name).is_file() and (ddir / name).stat().st_size > 0:
            return ddir / name
    return None


_DEFAULTS = {"CIFAR10_URL": CIFAR10_URL, "CIFAR10_MD5": CIFAR10_MD5}


def _setting(name: str) -> str:
    """A constant as it is now: changed on this module or on ``litelab.data`` (tests do)."""
    here = globals()[name]
    package = sys.modules.get("litelab.data")
    there = getattr(package, name, here)
    return there if here == _DEFAULTS[name] else here


def download_cifar10() -> Path:
    """Download the official python version into Keras' cache (md5 checked) and return it."""
    url, md5 = _setting("CIFAR10_URL"), _setting("CIFAR10_MD5")
    import keras  # slow (TensorFlow): only when a download is needed

    target = keras_datasets_dir() / CIFAR10_FILE
    # get_file quietly falls back to /tmp/.keras when cache_dir does not exist yet
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname=CIFAR10_FILE,
            origin=url,
            file_hash=md5,
            hash_algorithm="md5",
            cache_subdir="datasets",
            cache_dir=str(keras_datasets_dir().parent),
        )
    except ValueError as exc:
        if "hash" not in str(exc):
            raise
        target.unlink(missing_ok=True)  # never leave a bad download where we would find it
        raise LitelabError(
            f"the CIFAR-10 download from {url} is corrupt (its md5 is not {md5}); try again, "
            f"or pass a local copy with --data path/to/{CIFAR10_FILE}"
        ) from None
    except Exception as exc:  # urllib/keras raise plain Exception on network errors
        target.unlink(missing_ok=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = reason.split(" -- ", 1)[-1]  # Keras: "URL fetch failure on <url>: <n> -- why"
        raise LitelabError(
            f"could not download CIFAR-10 from {url} ({reason}); pass a local copy instead: "
            f"--data path/to/{CIFAR10_FILE}, an extracted cifar-10-batches-py folder, "
            "cifar-10-binary.tar.gz, or an image-folder archive"
        ) from None
    return Path(path)
