"""Loading any Keras model file and checking that it fits the data.

``load_model`` takes a ``.keras`` file, a legacy ``.h5`` file or a SavedModel folder,
including models made elsewhere, and turns every failure into one clear line. SavedModels
are wrapped with :class:`keras.layers.TFSMLayer` so that all three behave as a Keras model.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from litelab.errors import LitelabError


def load_model(path: str | Path) -> keras.Model:
    """Load a model for inference (not compiled); ``zoo:<name>`` loads a shipped model."""
    import litelab.models.layers  # noqa: F401  (registers litelab's own layers for loading)
    from litelab.zoo import resolve

    path = Path(resolve(path))
    if not path.exists():
        raise LitelabError(f"model not found: {path}")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise LitelabError(
                f"{path} is a folder but not a SavedModel (no saved_model.pb); "
                "pass a .keras or .h5 file or a SavedModel folder"
            )
        return _load_saved_model(path)
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise LitelabError(f"{path} is not a Keras model file (not a .keras zip archive)")
    if suffix in (".h5", ".hdf5") and not _is_hdf5(path):
        raise LitelabError(f"{path} is not a Keras model file (not an HDF5 file)")
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise LitelabError(
            f"{path}: unknown model format {suffix or '(no extension)'}; "
            "pass a .keras or .h5 file or a SavedModel folder"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is unusable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LitelabError(f"cannot load model {path}: {reason[:300]}") from None


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _load_saved_model(path: Path) -> keras.Model:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # noqa: BLE001
        raise LitelabError(f"cannot load SavedModel {path}: {str(exc).splitlines()[0]}") from None
    if "serving_default" not in loaded.signatures:
        raise LitelabError(f"SavedModel {path} has no 'serving_default' signature")
    signature = loaded.signatures["serving_default"]
    specs = [
        s for s in tf.nest.flatten(signature.structured_input_signature) if hasattr(s, "shape")
    ]
    endpoint = "serve" if hasattr(loaded, "serve") else "serving_default"
    if len(specs) != 1:
        raise LitelabError(f"SavedModel {path} must take exactly one image input, not {len(specs)}")
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoint)
    inputs = keras.Input(shape=tuple(specs[0].shape[1:]))
    # A model whose inputs were a list (e.g. a legacy .h5 functional model) exports a "serve"
    # endpoint that takes that list: pass the one image tensor inside a list then.
    signature_args = getattr(getattr(loaded, endpoint, None), "input_signature", None)
    nested = bool(signature_args) and isinstance(signature_args[0], list | tuple)
    outputs = layer([inputs] if nested else inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise LitelabError(f"SavedModel {path} has {len(outputs)} outputs; expected one")
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=path.name)


def check_model_fits(
    model: keras.Model, image_size: int, num_classes: int | None, where: str = "model"
) -> None:
    """The model must take (size, size, 3) images and, if given, output ``num_classes``."""
    in_shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
    if in_shape is None or len(in_shape) != 3:
        raise LitelabError(f"{where} takes inputs of shape {in_shape}; expected (H, W, 3) images")
    h, w, c = in_shape
    if c != 3 or (h is not None and h != image_size) or (w is not None and w != image_size):
        raise LitelabError(
            f"{where} expects input shape {in_shape} but the data is "
            f"({image_size}, {image_size}, 3)"
        )
    out_shape = tuple(model.outputs[0].shape[1:])
    if len(out_shape) != 1:
        raise LitelabError(f"{where} output shape {out_shape} is not a class vector")
    if num_classes is not None and out_shape[0] != num_classes:
        raise LitelabError(f"{where} outputs {out_shape[0]} classes but the data has {num_classes}")


def predict_probs(
    model: keras.Model,
    images: np.ndarray,
    input_scale: float = 1.0,
    batch_size: int = 256,
) -> np.ndarray:
    """Class probabilities for uint8 images, fed as ``pixel / 255 * input_scale``.

    Models whose last layer outputs logits are softmaxed here, so the result always sums
    to one per row.
    """
    images = np.asarray(images)
    if 0 < len(images) <= batch_size:  # one batch (a photo): skip tf.data's per-call set-up
        x = images.astype(np.float32) * np.float32(float(input_scale) / 255.0)
        return as_probabilities(model.predict_on_batch(x))
    batches = input_batches(images, batch_size, input_scale)
    return as_probabilities(model.predict(batches, verbose=0))


def input_batches(images: np.ndarray, batch_size: int, input_scale: float = 1.0) -> Any:
    """uint8 images as a tf.data stream of float32 batches, ``pixel / 255 * input_scale``:
    the same values training feeds, without the training pipeline's shuffling and labels."""
    import tensorflow as tf

    factor = float(input_scale) / 255.0
    ds = tf.data.Dataset.from_tensor_slices(np.ascontiguousarray(images)).batch(batch_size)
    return ds.map(lambda x: tf.cast(x, tf.float32) * factor).prefetch(2)


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Model scores as (N, classes) float64 probabilities.

    A softmax output is kept as it is; an int8 softmax (steps of 1/256) is renormalised to
    sum to one; anything else (logits) is softmaxed.
    """
    probs = np.asarray(scores, dtype="float64")
    if probs.ndim != 2:
        raise LitelabError(f"model output has shape {probs.shape}; expected (N, classes)")
    sums = probs.sum(axis=1)
    if probs.min() >= 0 and np.allclose(sums, 1.0, atol=1e-3):
        return probs
    if probs.min() >= 0 and probs.max() <= 1 and np.allclose(sums, 1.0, atol=0.05):
        return probs / sums[:, None]  # a quantized softmax: steps of 1/256 need not sum to 1
    e = np.exp(probs - probs.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
