"""One loaded model, Keras or TFLite, that turns images into class probabilities.

``litelab predict`` and ``litelab serve`` both classify through :class:`Predictor`, so a
photo gets the same answer from the command line and from the web page: the same decoding
(:func:`litelab.data.images.decode_image`), the same ``pixel / 255 * input_scale`` input and
the same probabilities (a Keras model through :func:`litelab.inference.predict_probs`, a
``.tflite`` file through LiteRT with its own input quantization).

Models are only ever loaded from files litelab wrote or the user named (a run folder, the
zoo, ``--model``); Keras files are loaded with Keras' safe mode on, so a model file cannot
run Python code of its own.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from litelab.errors import LitelabError

TFLITE_SUFFIX = ".tflite"


class Predictor:
    """A model file ready to classify uint8 images; safe to share between threads."""

    def __init__(
        self,
        path: str | Path,
        *,
        labels_file: str | Path | None = None,
        input_scale: float = 1.0,
    ) -> None:
        from litelab.runs import model_labels
        from litelab.zoo import resolve

        if not input_scale > 0:
            raise LitelabError(f"--input-scale must be greater than 0, got {input_scale}")
        self.path = Path(resolve(path))
        self.input_scale = input_scale
        self._lock = threading.Lock()
        if self.path.suffix.lower() == TFLITE_SUFFIX:
            from litelab.export.litert import TFLiteModel

            self.kind = "tflite"
            self._tflite = TFLiteModel.from_file(self.path)
            shape = self._tflite.input_shape
            if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
                raise LitelabError(
                    f"{self.path} takes input of shape {shape}; expected (1, size, size, 3)"
                )
            self.size = int(shape[1])
            outputs = self._tflite.num_classes
            self.dtype = np.dtype(self._tflite.input["dtype"]).name
        else:
            from litelab.inference import check_model_fits, load_model

            self.kind = "keras"
            self._keras = load_model(self.path)
            size = self._keras.inputs[0].shape[1]
            self.size = int(size) if size is not None else 32
            check_model_fits(self._keras, self.size, None, where=str(self.path))
            outputs = int(self._keras.outputs[0].shape[-1])
            self.dtype = "float32"
        self.classes = model_labels(self.path, outputs, labels_file)

    def probs(self, images: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities for (N, size, size, 3) uint8 images."""
        return self.timed_probs(images)[0]

    def timed_probs(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        """``probs`` and the milliseconds the model itself took (not decoding, not waiting
        for another request to finish with this model)."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise LitelabError(
                f"{self.path} takes images of shape ({self.size}, {self.size}, 3), "
                f"got {images.shape[1:]}"
            )
        from litelab.inference import as_probabilities, predict_probs

        with self._lock:  # neither a LiteRT interpreter nor model.predict is re-entrant
            start = time.perf_counter()
            if self.kind == "tflite":
                probs = as_probabilities(self._tflite.predict_scores(images, self.input_scale))
            else:
                probs = predict_probs(self._keras, images, input_scale=self.input_scale)
            elapsed = (time.perf_counter() - start) * 1000.0
        return probs, elapsed

    def top(self, row: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
        """The ``k`` most likely classes of one probability row, highest first."""
        from litelab.evaluate import topk

        return [
            {"class": c, "probability": round(p, 6)}
            for c, p in topk(row, self.classes, k=min(k, len(self.classes)))
        ]
