"""Measuring an exported model through its own format: accuracy, agreement, latency.

The Keras files are reloaded from disk and the TFLite files run in LiteRT; each is compared
with the in-memory Keras model it was made from (the reference).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from litelab.export.litert import TFLiteModel

EVAL_BATCH = 32  # measured: 10-40% faster than one at a time; larger batches no better
LATENCY_REPEATS = 100


@dataclass
class Measurement:
    """One format's predictions on the test images (None without data) and its latency."""

    pred: np.ndarray | None
    latency_ms: float
    eval_seconds: float  # load + predict the whole test set
    latency_seconds: float
    tflite: TFLiteModel | None = None  # the LiteRT model measured, for a TFLite format


def measure_reference(
    model: Any, x_test: np.ndarray, y_test: np.ndarray, *, input_scale: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """The in-memory model's test predictions and its accuracy and evaluation time."""
    from litelab.inference import predict_probs

    t0 = time.perf_counter()
    pred = predict_probs(model, x_test, input_scale=input_scale).argmax(axis=1)
    return pred, {
        "test_accuracy": accuracy(pred, y_test),
        "eval_seconds": round(time.perf_counter() - t0, 3),
    }


def measure_file(
    path: Path,
    blob: bytes | None = None,
    *,
    x_test: np.ndarray | None,
    probe: np.ndarray,
    repeats: int = LATENCY_REPEATS,
    input_scale: float = 1.0,
) -> Measurement:
    """Load a written format, predict ``x_test`` and time batch-1 calls on ``probe``.

    ``blob`` is a TFLite flatbuffer (measured in LiteRT, batched where the model allows);
    without it ``path`` is a Keras file or SavedModel, reloaded from disk.
    """
    from litelab.inference import load_model, predict_probs

    t1 = time.perf_counter()
    tfl = None if blob is None else TFLiteModel(blob, str(path))
    loaded = load_model(path) if tfl is None else None
    pred = None
    if x_test is not None:
        scores = (
            predict_probs(loaded, x_test, input_scale=input_scale)
            if tfl is None
            else tfl.predict_scores(x_test, input_scale, batch_size=EVAL_BATCH)
        )
        pred = scores.argmax(axis=1)
    t2 = time.perf_counter()
    if tfl is None:
        latency = keras_latency_ms(loaded, probe, repeats, input_scale)
    else:
        latency = tfl.latency_ms(probe, repeats, input_scale)
    seconds = round(t2 - t1, 3), round(time.perf_counter() - t2, 3)
    return Measurement(pred, latency, *seconds, tflite=tfl)


def compare(
    pred: np.ndarray | None,
    ref_pred: np.ndarray | None,
    y_test: np.ndarray | None,
    ref_accuracy: float | None,
) -> dict[str, Any]:
    """test_accuracy, accuracy_change (points vs the reference) and agreement (%)."""
    if pred is None or ref_pred is None or y_test is None or ref_accuracy is None:
        return {"test_accuracy": None, "accuracy_change": None, "agreement": None}
    acc = accuracy(pred, y_test)
    return {
        "test_accuracy": acc,
        "accuracy_change": round((acc - ref_accuracy) * 100, 2),
        "agreement": round(float(np.mean(pred == ref_pred)) * 100, 2),
    }


def keras_latency_ms(
    model: Any, image: np.ndarray, repeats: int = LATENCY_REPEATS, input_scale: float = 1.0
) -> float:
    """Median wall time of one batch-1 ``model(x, training=False)`` call, in milliseconds.

    Timed like ``TFLiteModel.latency_ms``: the same scaled image, warm-up calls first.
    """
    import keras

    x = keras.ops.convert_to_tensor(image[None].astype(np.float32) * np.float32(input_scale / 255))
    for _ in range(10):
        np.asarray(model(x, training=False))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(model(x, training=False))
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return round(float(np.mean(pred == y)), 6)


def tensor_info(tfl: TFLiteModel) -> dict[str, Any]:
    """The input and output tensors' dtype, shape and quantization, plain JSON values."""

    def one(d: dict[str, Any]) -> dict[str, Any]:
        scale, zero = d["quantization"]
        return {
            "dtype": np.dtype(d["dtype"]).name,
            "shape": [int(v) for v in d["shape"]],
            "scale": float(scale),
            "zero_point": int(zero),
        }

    return {"input": one(tfl.input), "output": one(tfl.output)}


def int8_note(info: dict[str, Any], count: int) -> str:
    """The int8 row's note: its I/O types and the representative image count."""
    i = info["input"]
    if i["dtype"] in ("int8", "uint8"):
        io_text = f"{i['dtype']} I/O (input scale {i['scale']:.6g}, zero point {i['zero_point']})"
    else:
        io_text = f"{i['dtype']} I/O"
    return f"full integer, {io_text}, {count} representative train images"


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a SavedModel)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def input_size(model: Any) -> int:
    """The model's square input side (32 when it does not say)."""
    shape = model.inputs[0].shape if model.inputs else None
    if shape is not None and len(shape) == 4 and shape[1] is not None:
        return int(shape[1])
    return 32
