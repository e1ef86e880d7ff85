"""Running .tflite models through LiteRT (``ai-edge-litert``), quantized I/O included.

Images are uint8 pixels; they are scaled by ``input_scale / 255`` like every litelab model
input and, for an int8/uint8 input tensor, quantized with that tensor's scale and zero point.
Quantized outputs are dequantized, so callers always get float class scores.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from litelab.errors import LitelabError
from litelab.files import capture_stderr

TFLITE_MAGIC = b"TFL3"


def read_tflite(path: str | Path) -> bytes:
    """The bytes of a .tflite file, checked to be a TFLite flatbuffer."""
    path = Path(path)
    if not path.is_file():
        raise LitelabError(f"TFLite model not found: {path}")
    data = path.read_bytes()
    check_tflite_bytes(data, str(path))
    return data


def check_tflite_bytes(data: bytes, where: str = "model") -> None:
    """Reject what is not a TFLite flatbuffer before a C++ runtime sees it."""
    if len(data) < 8 or data[4:8] != TFLITE_MAGIC:
        raise LitelabError(f"{where} is not a TFLite model (no 'TFL3' flatbuffer identifier)")


class TFLiteModel:
    """A LiteRT interpreter over one model, with uint8-image-in, float-scores-out helpers."""

    def __init__(self, data: bytes, where: str = "model", num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        check_tflite_bytes(data, where)
        self.where = where
        self.size = len(data)
        try:
            with capture_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                self.interpreter = Interpreter(model_content=data, num_threads=num_threads)
                self.interpreter.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - LiteRT raises ValueError/RuntimeError
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LitelabError(f"{where} cannot be loaded by LiteRT: {msg[:300]}") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise LitelabError(f"{where} must have one input and one output")
        self.input = inputs[0]
        self.output = outputs[0]

    @classmethod
    def from_file(cls, path: str | Path, num_threads: int | None = None) -> TFLiteModel:
        return cls(read_tflite(path), str(path), num_threads)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    @property
    def num_classes(self) -> int:
        return int(self.output["shape"][-1])

    def quantize_input(self, images: np.ndarray, input_scale: float = 1.0) -> np.ndarray:
        """uint8 pixels -> the input tensor's dtype (float, or int8/uint8 quantized)."""
        x = images.astype(np.float32) * np.float32(input_scale / 255.0)
        dtype = self.input["dtype"]
        if dtype in (np.int8, np.uint8):
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            q = np.round(x / scale) + zero
            return np.clip(q, info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        if self.output["dtype"] in (np.int8, np.uint8):
            scale, zero = self.output["quantization"]
            return (raw.astype(np.float32) - zero) * scale
        return raw.astype(np.float32)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """One invoke on an already quantized batch (of one, unless the input was resized)."""
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).copy()

    def predict_scores(
        self, images: np.ndarray, input_scale: float = 1.0, batch_size: int = 1
    ) -> np.ndarray:
        """Float class scores (N, C) for uint8 images (N, H, W, 3).

        One image per invoke by default. With ``batch_size`` > 1 the input is resized to
        that batch for the run (many times faster on a big test set) where the model's batch
        dimension is dynamic; a model with a fixed batch of one is run one image at a time.
        The interpreter is back at its own input shape afterwards, so batch-1 calls
        (``run_raw``, ``latency_ms``) work as before.
        """
        expected = self.input_shape[1:]
        if tuple(images.shape[1:]) != expected:
            raise LitelabError(
                f"{self.where} expects images of shape {expected}, got {tuple(images.shape[1:])}"
            )
        q = self.quantize_input(images, input_scale)
        out = np.empty((len(images), self.num_classes), np.float32)
        if batch_size > 1 and len(images) > 1 and self._predict_batched(q, out, batch_size):
            return out
        for i in range(len(images)):
            out[i] = self.dequantize_output(self.run_raw(q[i : i + 1]))[0]
        return out

    def can_batch(self) -> bool:
        """Whether the model's batch dimension is dynamic (``shape_signature`` -1)."""
        signature = self.input.get("shape_signature", self.input["shape"])
        return len(signature) > 0 and int(signature[0]) == -1

    def _resize_batch(self, batch: int) -> None:
        shape = [batch, *self.input_shape[1:]]
        self.interpreter.resize_tensor_input(self.input["index"], shape, strict=True)
        self.interpreter.allocate_tensors()

    def _predict_batched(self, q: np.ndarray, out: np.ndarray, batch_size: int) -> bool:
        """Fill ``out`` running ``batch_size`` images per invoke; False if the model can't."""
        if not self.can_batch():
            return False
        batch = min(batch_size, len(q))
        try:
            self._resize_batch(batch)
        except (ValueError, RuntimeError):
            self._resize_batch(self.input_shape[0])
            return False
        try:
            for start in range(0, len(q), batch):
                chunk = q[start : start + batch]
                n = len(chunk)
                if n < batch:  # pad the last chunk rather than resize again
                    pad = np.zeros((batch - n, *chunk.shape[1:]), chunk.dtype)
                    chunk = np.concatenate([chunk, pad])
                raw = self.run_raw(chunk)
                if raw.shape[0] != batch:
                    return False
                out[start : start + n] = self.dequantize_output(raw)[:n]
        finally:
            self._resize_batch(self.input_shape[0])
        return True

    def latency_ms(self, image: np.ndarray, repeats: int = 50, input_scale: float = 1.0) -> float:
        """Median wall time of one batch-1 invoke, in milliseconds (after one warm-up)."""
        q = self.quantize_input(image[None], input_scale)
        self.run_raw(q)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self.run_raw(q)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000.0)
