"""Transfer learning: a pretrained ImageNet backbone, frozen, under a small new head.

The course's answer to a plateauing small CNN (seed 004): VGG16's convolutional part with
ImageNet weights, frozen, then Flatten, Dense(64, relu) and the class layer. The backbone's
preprocessing is a layer inside the model, so it takes 0..1 images like every litelab
model. ``mobilenetv2-transfer`` is the base that can reach a microcontroller: MobileNetV2 at
width ``alpha``, its 32x32 input upsampled to the 96x96 its ImageNet weights are made for,
then global average pooling, Dense(64, relu) and the class layer.

With ``weights="none"`` there is nothing to keep, so the backbone trains with the head.
``--fine-tune K`` (see :mod:`litelab.train`) unfreezes the last K layers of the backbone for
a second stage at a low learning rate.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from litelab.errors import LitelabError
from litelab.models.pretrained import BACKBONES, backbone, check_alpha, preprocess_layer
from litelab.models.registry import register

BACKBONE_LAYER = "backbone"


def _transfer(
    name: str,
    input_shape,
    num_classes: int,
    activation: str,
    weights: str,
    alpha: float,
    pool: str,
) -> keras.Model:
    side = int(input_shape[0])
    if input_shape[0] != input_shape[1] or input_shape[2] != 3:
        raise LitelabError(f"{name} needs square RGB images, got {tuple(input_shape)}")
    spec = BACKBONES[name]
    inputs = keras.Input(shape=input_shape)
    x = inputs
    factor = math.ceil(spec.min_side / side)
    if factor > 1:  # the smallest input the ImageNet weights are made for
        x = layers.UpSampling2D(factor, interpolation="bilinear", name="upsample")(x)
    x = preprocess_layer(name)(x)
    base = backbone(name, side * factor, include_top=False, weights=weights, alpha=alpha)
    base.name = BACKBONE_LAYER
    base.trainable = str(weights) == "none"
    x = base(x, training=False)  # BatchNorm stays in inference mode, even when fine-tuned
    x = layers.Flatten()(x) if pool == "flatten" else layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(64, activation=activation)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"{name}_transfer")


@register(
    "vgg16-transfer",
    source="seed 004 (using a pre-trained model): VGG16's conv base with ImageNet weights",
    description="VGG16 conv base (frozen) + Flatten + Dense64 + Dense10; "
    "options: weights (imagenet, none or a file)",
    optimizer="adam",
    learning_rate=1e-3,
    batch_size=32,
    epochs=10,
)
def vgg16_transfer(input_shape, num_classes, activation="relu", *, weights="imagenet"):
    return _transfer("vgg16", input_shape, num_classes, activation, weights, 1.0, "flatten")


@register(
    "mobilenetv2-transfer",
    source="litelab (issue 6): MobileNetV2 with ImageNet weights, the edge-sized base",
    description="MobileNetV2 (frozen, 32px upsampled to 96) + global avg pool + Dense64 + "
    "Dense10; options: alpha (0.35, 0.5, 0.75, 1.0), weights",
    optimizer="adam",
    learning_rate=1e-3,
    batch_size=32,
    epochs=10,
)
def mobilenetv2_transfer(
    input_shape, num_classes, activation="relu", *, alpha=0.35, weights="imagenet"
):
    alpha = check_alpha(alpha)
    return _transfer("mobilenetv2", input_shape, num_classes, activation, weights, alpha, "gap")


def backbone_of(model: keras.Model) -> keras.Model | None:
    """The pretrained backbone inside a transfer model, or None for any other model."""
    for layer in model.layers:
        if layer.name == BACKBONE_LAYER and isinstance(layer, keras.Model):
            return layer
    return None


def unfreeze_last(model: keras.Model, k: int) -> keras.Model:
    """Make exactly the last ``k`` layers of the backbone trainable (the rest frozen)."""
    base = backbone_of(model)
    if base is None:
        raise LitelabError("--fine-tune needs a transfer model (vgg16-transfer, ...)")
    if not 1 <= k <= len(base.layers):
        raise LitelabError(
            f"--fine-tune must be between 1 and the backbone's {len(base.layers)} layers, got {k}"
        )
    base.trainable = True
    for layer in base.layers[: len(base.layers) - k]:
        layer.trainable = False
    return base
