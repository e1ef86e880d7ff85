"""``litelab imagenet``: a whole pretrained network names the ImageNet class of any photo.

As the course does with its lion photo (seed 004): full VGG16 (or MobileNetV2) at 224x224
with its classifier, its own preprocessing, and the 1,000-class index to turn the output
into names. Weights and the class index come from Keras' download cache, or from local
files (``--weights PATH``, ``--class-index PATH``); offline and uncached, one error line
names every file that is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from litelab.data import load_image_files
from litelab.errors import LitelabError, one_of
from litelab.models.pretrained import (
    BACKBONES,
    CLASS_INDEX,
    backbone,
    check_alpha,
    fetch,
    preprocess_layer,
    read_class_index,
)

SIDE = 224


def classify(
    files: list[str | Path],
    *,
    backbone_name: str = "vgg16",
    alpha: float = 1.0,
    weights: str | Path = "imagenet",
    class_index: str | Path | None = None,
    top: int = 3,
) -> list[dict[str, Any]]:
    """Top-``top`` ImageNet classes (name, WordNet id, probability) for each image file."""
    one_of("backbone", backbone_name, BACKBONES)
    if not 1 <= top <= 1000:
        raise LitelabError(f"--top must be between 1 and 1000, got {top}")
    if not files:
        raise LitelabError("no image files given")
    if backbone_name == "mobilenetv2":
        alpha = check_alpha(alpha)
    images = load_image_files(files, size=SIDE)  # bad images fail before any download
    spec = BACKBONES[backbone_name]
    if str(weights) == "none":
        raise LitelabError("litelab imagenet needs trained weights: imagenet or a file")
    if str(weights) == "imagenet" and class_index is None:  # name both files if both miss
        weights, class_index = fetch(
            [spec.remote(SIDE, True, alpha), CLASS_INDEX],
            "pass --weights PATH and --class-index PATH",
        )
    classes = read_class_index(class_index)
    model = backbone(backbone_name, SIDE, include_top=True, weights=str(weights), alpha=alpha)
    x = preprocess_layer(backbone_name)(images.astype("float32") / 255.0)
    probs = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    results = []
    for path, row in zip(files, probs, strict=True):
        best = np.argsort(row)[::-1][:top]
        results.append(
            {
                "file": str(path),
                "top": [
                    {
                        "class": classes[i][1],
                        "wordnet_id": classes[i][0],
                        "probability": round(float(row[i]), 6),
                    }
                    for i in best
                ],
            }
        )
    return results
