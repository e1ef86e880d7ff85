"""TFLite/LiteRT conversion: float32, dynamic range, float16 and full-integer int8.

The converter works from a SavedModel written by ``model.export`` (the path TensorFlow
supports for Keras 3 models), with a fixed batch of one image, as a board runs it. Models take
images scaled by ``input_scale / 255``; for int8 the representative images are scaled the
same way, so the quantized input's scale and zero point map raw pixels straight onto the
model's input.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from litelab.errors import LitelabError, one_of
from litelab.files import capture_stderr

KINDS = ("float32", "dynamic", "float16", "int8")


def representative_images(x: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` images drawn without replacement (all of them if fewer)."""
    if count < 1:
        raise LitelabError(f"--representative must be at least 1, got {count}")
    if len(x) == 0:
        raise LitelabError("int8 quantization needs representative images, and none were given")
    idx = np.random.default_rng(seed).permutation(len(x))[: min(count, len(x))]
    return x[np.sort(idx)]


def convert(
    model,
    kind: str,
    *,
    representative: np.ndarray | None = None,
    input_scale: float = 1.0,
    int8_io: bool = True,
) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer of the given ``kind``.

    ``representative`` (uint8 images) is required for ``int8``. With ``int8_io`` the
    model's input and output tensors are int8 too (what a microcontroller wants); without it
    they stay float32 around an int8 body.
    """
    import tensorflow as tf

    one_of("TFLite kind", kind, KINDS)
    if kind == "int8" and (representative is None or len(representative) == 0):
        raise LitelabError("int8 quantization needs representative data: pass --data")
    with tempfile.TemporaryDirectory(prefix="litelab-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        # A board runs one image at a time; a fixed batch of 1 also spares the int8 model the
        # SHAPE/STRIDED_SLICE/PACK ops a dynamic batch needs in front of Flatten.
        spec = tf.TensorSpec((1, *model.inputs[0].shape[1:]), tf.float32)
        model.export(str(saved), format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if kind in ("dynamic", "float16", "int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if kind == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if kind == "int8":
            factor = np.float32(input_scale / 255.0)

            def samples() -> Iterator[list[np.ndarray]]:
                for image in representative:
                    yield [image[None].astype(np.float32) * factor]

            converter.representative_dataset = samples
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if int8_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        try:
            with capture_stderr():  # the converter's progress notices
                return bytes(converter.convert())
        except Exception as exc:  # noqa: BLE001 - the converter raises many types
            raise LitelabError(f"TFLite conversion ({kind}) failed: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if "error:" in line:
            return line.strip()[:300]
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
