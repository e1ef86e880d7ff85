"""Start from a trained model for your own classes: ``litelab run --init zoo:fast``.

The source (a run folder, a Keras model file or ``zoo:<name>``) keeps every layer but its
class layer: that body, with its trained weights, becomes the ``backbone`` sub-model (the
name :mod:`litelab.models.transfer` gives an ImageNet base), and a new ``Dense`` softmax
layer answers the data's label set. ``freeze_backbone`` trains that new layer alone, with
BatchNorm in inference mode; ``--fine-tune K`` then adds the same second stage as the
ImageNet transfer models (the backbone's last K layers unfrozen at ``--fine-tune-lr``).
Everything stays on this machine: the weights are litelab's own, not a download.

:func:`load_source` is the one loader of a trained model by reference, shared with
``--teacher`` (:mod:`litelab.distill`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from litelab.errors import LitelabError
from litelab.files import sha256_file
from litelab.models.transfer import BACKBONE_LAYER, backbone_of

HEAD_LAYER = "classes"
_NO_WEIGHTS = (keras.layers.Activation, keras.layers.Softmax, keras.layers.Dropout)


def source_path(ref: str | Path, flag: str) -> Path:
    """The model file a run folder, a Keras model file or ``zoo:<name>`` stands for."""
    from litelab.runs import Run
    from litelab.zoo import is_zoo_ref, resolve

    ref = str(ref)
    if is_zoo_ref(ref):
        return Path(resolve(ref))
    path = Path(ref)
    if not path.exists():
        raise LitelabError(f"{flag} {ref}: not found (a run folder, .keras file or zoo:NAME)")
    if path.is_dir() and Run.looks_like_run(path):
        path = Run(path).model_path
        if not path.is_file():
            raise LitelabError(f"{flag} {ref}: the run has no model.keras (unfinished?)")
    return path


def load_source(ref: str | Path, flag: str) -> tuple[keras.Model, Path, list[str] | None]:
    """A trained model named by a run folder, a Keras model file or ``zoo:<name>``: the
    model, its file and its class names (None when no labels file goes with it)."""
    from litelab.inference import load_model
    from litelab.runs import LABELS_FILE

    path = source_path(ref, flag)
    model = load_model(path)
    labels_path = path.parent / LABELS_FILE
    labels = None
    if labels_path.is_file():
        labels = [s.strip() for s in labels_path.read_text("utf-8").splitlines() if s.strip()]
    return model, path, labels


def source_model_name(ref: str | Path) -> str | None:
    """The zoo model family a source was trained as (a zoo card's or a run's ``model``),
    or None for a bare model file; it names the run and picks the recipe."""
    from litelab import zoo
    from litelab.runs import Run

    if zoo.is_zoo_ref(ref):
        return zoo.get_entry(str(ref)[len(zoo.PREFIX) :]).card.get("model") or None
    if Run.is_run(ref):
        return Run(ref).config.training.model
    return None


def class_layer(model: keras.Model) -> keras.layers.Dense:
    """The model's class layer: its last Dense, with only weightless layers after it."""
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.Dense):
            return layer
        if not isinstance(layer, _NO_WEIGHTS) or layer.weights:
            break
    raise LitelabError(
        f"model {model.name!r} does not end in a Dense class layer; --init needs one to replace"
    )


def init_model(
    ref: str | Path,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    freeze_backbone: bool = False,
) -> keras.Model:
    """``ref``'s trained body (as ``backbone``) under a new class layer for ``num_classes``."""
    from litelab.inference import check_model_fits

    source, _, _ = load_source(ref, "--init")
    check_model_fits(source, int(input_shape[0]), None, where=f"--init {ref}")
    head = class_layer(source)
    body = keras.Model(source.inputs, head.input, name=BACKBONE_LAYER)
    body.trainable = not freeze_backbone
    inputs = keras.Input(shape=tuple(input_shape))
    features = body(inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=HEAD_LAYER)(features)
    return keras.Model(inputs, outputs, name=source.name)


def check_model_name(ref: str | Path, model: str) -> None:
    """``--model`` must not name another family than the one ``--init`` holds."""
    held = source_model_name(ref)
    if held is not None and held != model:
        raise LitelabError(
            f"--init {ref} holds a {held} model but --model is {model}; drop --model "
            "(the architecture comes from --init)"
        )


def start_sha256(ref: str | Path) -> str | None:
    """The source file's sha256, or None once it is gone. Training takes it as it loads the
    start (and keeps it in its checkpoint), so a file replaced or deleted during a long run
    does not change the record; recording must never fail on it (the trained model is saved
    after)."""
    try:
        return sha256_file(source_path(ref, "--init"))
    except (LitelabError, OSError):
        return None


def record(cfg: Any, model: keras.Model, sha256: str | None = None) -> dict[str, Any]:
    """What metrics.json says about the start (empty without ``--init``): ``sha256`` is the
    hash taken at the start (:func:`start_sha256`); without it the file is hashed now."""
    if not cfg.init:
        return {}
    base = backbone_of(model)
    reused = int(base.count_params()) if base is not None else 0
    return {
        "init": {
            "source": str(cfg.init),
            "sha256": sha256 or start_sha256(cfg.init),
            "reused_params": reused,
            "new_params": int(model.count_params()) - reused,
            "freeze_backbone": bool(cfg.freeze_backbone),
        }
    }
