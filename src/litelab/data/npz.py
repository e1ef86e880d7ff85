"""Datasets stored as numpy arrays in an ``.npz`` file.

Accepted: ``x_*`` as (N, H, W, 3) or (N, H, W, 1) or (N, H, W) uint8 (or floats in 0..1, or
integers in 0..255), ``y_*`` as (N,), (N, 1) or one-hot (N, C), optional ``classes``.
Never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from litelab.data.images import resize_images
from litelab.errors import LitelabError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def _images(x: np.ndarray, key: str, path: Path, size: int) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 3:
        x = np.repeat(x[..., None], 3, axis=-1)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise LitelabError(
            f"{key} in {path} has shape {x.shape}; expected (N, H, W, 3) or (N, H, W) images"
        )
    if x.dtype.kind == "f":
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if lo < 0 or hi > 1 or not np.isfinite([lo, hi]).all():
            raise LitelabError(
                f"{key} in {path} holds floats in {lo:g}..{hi:g}; store floats in 0..1 or "
                "uint8 in 0..255"
            )
        x = np.rint(x * 255.0).astype(np.uint8)
    elif x.dtype.kind in "iu" and x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise LitelabError(f"{key} in {path} has values outside 0..255 ({x.dtype})")
        x = x.astype(np.uint8)
    elif x.dtype != np.uint8:
        raise LitelabError(f"{key} in {path} has dtype {x.dtype}; expected uint8 or float")
    return resize_images(np.ascontiguousarray(x), size)


def _labels(y: np.ndarray, key: str, path: Path, n: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = np.argmax(y, axis=1)
    if y.ndim != 1 or len(y) != n:
        raise LitelabError(
            f"{key} in {path} has shape {y.shape}; expected ({n},), ({n}, 1) or one-hot ({n}, C)"
        )
    if y.dtype.kind == "f":
        if not np.array_equal(y, np.round(y)):
            raise LitelabError(f"{key} in {path} holds non-integer labels")
    elif y.dtype.kind not in "iub":
        raise LitelabError(f"{key} in {path} has dtype {y.dtype}; expected integer labels")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise LitelabError(f"{key} in {path} holds a negative label ({int(y.min())})")
    return y


def load_npz(path: Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
    """``x_train, y_train, x_test, y_test, classes`` from an ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise LitelabError(
                    f"{path} has no {missing[0]!r} array; an .npz dataset needs "
                    f"{', '.join(KEYS)} (and optionally classes)"
                )
            arrays = {k: z[k] for k in KEYS}
            classes_arr = z["classes"] if "classes" in z.files else None
    except LitelabError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise LitelabError(
                f"{path} holds object arrays; store plain numeric arrays and "
                "a string array of classes"
            ) from None
        raise LitelabError(f"{path} is not a readable .npz file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LitelabError(f"{path} is not a readable .npz file: {exc}") from None

    out = []
    for split in ("train", "test"):
        x = _images(arrays[f"x_{split}"], f"x_{split}", path, size)
        y = _labels(arrays[f"y_{split}"], f"y_{split}", path, len(x))
        out += [x, y]
    width = max(
        [int(y.max()) + 1 for y in out[1::2] if len(y)]
        + [a.shape[1] for k, a in arrays.items() if k.startswith("y") and a.ndim == 2]
        + [1]
    )
    if classes_arr is not None:
        if classes_arr.ndim != 1 or classes_arr.dtype.kind not in "US":
            raise LitelabError(
                f"classes in {path} has shape {classes_arr.shape} and dtype {classes_arr.dtype}; "
                "expected a 1-D array of strings"
            )
        classes = [c.decode() if isinstance(c, bytes) else str(c) for c in classes_arr.tolist()]
        if width > len(classes):
            raise LitelabError(
                f"{path} has labels up to {width - 1} but only {len(classes)} classes"
            )
    else:
        classes = [str(i) for i in range(width)]
    return out[0], out[1], out[2], out[3], classes
