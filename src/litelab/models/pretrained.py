"""Pretrained ImageNet backbones (VGG16, MobileNetV2): their weight files, offline, checked.

``weights`` is ``"imagenet"`` (Keras' own files, downloaded once into its cache,
``~/.keras/models`` or ``$KERAS_HOME/models``), ``"none"`` (random initialisation) or the
path of a local weights file (``.h5`` as Keras publishes them, or ``.weights.h5``). When an
ImageNet file is neither cached nor downloadable (as on a machine without internet), the
error names the exact file and where it comes from, so it can be copied in by hand.
A file that is not HDF5, is truncated, or holds another architecture is a one-line error.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from litelab.errors import LitelabError
from litelab.models.layers import ImageNetPreprocess

_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0)
MOBILENET_SIZES = (96, 128, 160, 192, 224)


@dataclass(frozen=True)
class RemoteFile:
    """A file Keras downloads into its cache (``cache_subdir="models"``)."""

    name: str
    url: str
    md5: str | None = None


CLASS_INDEX = RemoteFile(
    "imagenet_class_index.json",
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
    "c2c37ea517e94d9795004a39431a14cb",
)


@dataclass(frozen=True)
class Backbone:
    """One pretrained architecture: how to build it, its preprocessing and its files."""

    name: str
    preprocess: str  # ImageNetPreprocess mode
    min_side: int  # the smallest input side its ImageNet weights are made for

    def build(self, side: int, include_top: bool, alpha: float = 1.0) -> keras.Model:
        shape = (side, side, 3)
        if self.name == "vgg16":
            return keras.applications.VGG16(
                include_top=include_top, weights=None, input_shape=shape
            )
        return keras.applications.MobileNetV2(
            input_shape=shape, alpha=alpha, include_top=include_top, weights=None
        )

    def remote(self, side: int, include_top: bool, alpha: float = 1.0) -> RemoteFile:
        """The ImageNet weights file Keras would fetch for this configuration."""
        if self.name == "vgg16":
            if include_top:
                return RemoteFile(
                    "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                    _KERAS_APPS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                    "64373286793e3c8b2b4e3219cbf3544b",
                )
            return RemoteFile(
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                _KERAS_APPS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "6d6bbae143d832006294945121d1f1fc",
            )
        tail = "" if include_top else "_no_top"
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{side}{tail}.h5"
        return RemoteFile(name, _KERAS_APPS + "mobilenet_v2/" + name)


BACKBONES = {
    "vgg16": Backbone("vgg16", "caffe", 32),
    "mobilenetv2": Backbone("mobilenetv2", "tf", 96),
}


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (what ``keras.utils.get_file`` uses)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def fetch(files: list[RemoteFile], hint: str) -> list[Path]:
    """The cached copies of ``files``, downloading the missing ones; offline, one line
    naming every file that is missing, its address, and ``hint`` (the flag to pass)."""
    paths, missing = [], []
    for f in files:
        try:
            path = keras.utils.get_file(
                f.name,
                f.url,
                cache_dir=str(keras_cache_dir().parent),  # $KERAS_HOME as it is now
                cache_subdir="models",
                file_hash=f.md5,
            )
            paths.append(Path(path))
        except Exception:  # noqa: BLE001 - URL, HTTP, DNS and hash errors all mean "not here"
            missing.append(f)
    if missing:
        names = "; ".join(f"{f.name} (from {f.url})" for f in missing)
        raise LitelabError(
            f"ImageNet files are not in {keras_cache_dir()} and cannot be downloaded here: "
            f"{names}. Copy them there, or {hint}"
        )
    return paths


def check_alpha(alpha: Any) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = math.nan
    if value not in MOBILENET_ALPHAS:
        raise LitelabError(
            f"--alpha must be one of {', '.join(map(str, MOBILENET_ALPHAS))}, got {alpha!r}"
        )
    return value


def load_weights_checked(model: keras.Model, path: str | Path, what: str) -> None:
    """``model.load_weights(path)`` with one-line errors for the ways a file can be wrong."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise LitelabError(f"weights file not found: {path}")
    if not h5py.is_hdf5(path):
        raise LitelabError(f"weights file {path} is not an HDF5 (.h5) file, or it is truncated")
    if not path.name.endswith((".h5", ".hdf5")):
        raise LitelabError(f"weights file {path} must end in .h5 or .weights.h5")
    try:
        model.load_weights(path)
    except (ValueError, KeyError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        first = " ".join(lines[:2])[:300] if lines else type(exc).__name__
        raise LitelabError(f"weights file {path} does not match {what}: {first}") from None
    except OSError as exc:
        raise LitelabError(f"weights file {path} is damaged or truncated: {exc}") from None


def backbone(
    name: str,
    side: int,
    *,
    include_top: bool,
    weights: str = "imagenet",
    alpha: float = 1.0,
) -> keras.Model:
    """A backbone with ``weights`` loaded (see the module docstring)."""
    spec = BACKBONES[name]
    model = spec.build(side, include_top, alpha)
    what = f"{name}" + (f" alpha {alpha}" if name == "mobilenetv2" else "")
    what += f" at {side}x{side}" + ("" if include_top else " without its top")
    weights = str(weights)
    if weights == "none":
        return model
    if weights == "imagenet":
        remote = spec.remote(side, include_top, alpha)
        (path,) = fetch([remote], "pass --weights PATH (or --weights none to train from scratch)")
    else:
        path = Path(weights)
    load_weights_checked(model, path, what)
    return model


def read_class_index(path: str | Path | None = None) -> list[tuple[str, str]]:
    """ImageNet's 1,000 (wordnet id, name) pairs from ``imagenet_class_index.json``."""
    if path is None:
        (path,) = fetch([CLASS_INDEX], "pass --class-index PATH")
    path = Path(path)
    if not path.is_file():
        raise LitelabError(f"class index file not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        pairs = [tuple(raw[str(i)]) for i in range(1000)]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise LitelabError(
            f"{path} is not ImageNet's class index (1,000 entries '0'..'999': [id, name]): {exc}"
        ) from None
    if any(len(p) != 2 for p in pairs):
        raise LitelabError(f"{path}: every class index entry must be [wordnet id, name]")
    return pairs  # type: ignore[return-value]


def preprocess_layer(name: str) -> ImageNetPreprocess:
    return ImageNetPreprocess(BACKBONES[name].preprocess, name="imagenet_preprocess")
