"""Fast-training CNNs for a 2-core CPU (issue 4), after airbench and hlb-CIFAR10.

Compute, not parameters, is what a CPU pays for: every model here keeps its widest
convolutions at the lowest resolutions, uses BatchNorm so that a high one-cycle learning
rate is stable, and ends in a global max pool so the head is tiny. Their recipes are the
tricks measured in ``benchmarks/fast_recipe.py``: SGD with Nesterov momentum on a one-cycle
schedule, label smoothing, decoupled weight decay, flip + translate augmentation, and
test-time flip averaging.
"""

from __future__ import annotations

import keras
from keras import layers

from litelab.models.layers import BatchNorm
from litelab.models.registry import register

_FAST = dict(
    optimizer="nesterov",
    learning_rate=0.2,
    batch_size=256,
    schedule="onecycle",
    warmup=0.2,
    label_smoothing=0.2,
    weight_decay=5e-4,
    augment=("flip", "crop"),
    tta=True,
)


def _conv_bn(x, filters: int, activation: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = BatchNorm(momentum=0.9)(x)
    return layers.Activation(activation)(x)


def _head(x, num_classes: int):
    x = layers.GlobalMaxPooling2D()(x)
    return layers.Dense(num_classes, activation="softmax")(x)


def fast_vgg(
    input_shape, num_classes, activation="relu", widths=(16, 64, 128, 256), name="fastnet"
):
    """One conv-BN-act per resolution (32, 16, 8, 4 px), a max pool between each.

    The full-resolution layer is kept narrow: on 2 cores its memory-bound BatchNorm, ReLU
    and pooling over 32x32 maps cost more than its arithmetic, and 16 channels there train
    about 1.2x faster than 32 (benchmarks/fast_widths.py)."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for i, filters in enumerate(widths):
        if i:
            x = layers.MaxPooling2D(2)(x)
        x = _conv_bn(x, filters, activation)
    return keras.Model(inputs, _head(x, num_classes), name=name)


def fast_resnet(
    input_shape, num_classes, activation="relu", widths=(16, 32, 64, 128), name="fastres"
):
    """ResNet-9 (Page, 'How to train your ResNet') at a fraction of its width."""
    inputs = keras.Input(shape=input_shape)
    x = _conv_bn(inputs, widths[0], activation)
    x = _conv_bn(x, widths[1], activation)
    x = layers.MaxPooling2D(2)(x)
    r = _conv_bn(_conv_bn(x, widths[1], activation), widths[1], activation)
    x = layers.Add()([x, r])
    x = _conv_bn(x, widths[2], activation)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, widths[3], activation)
    x = layers.MaxPooling2D(2)(x)
    r = _conv_bn(_conv_bn(x, widths[3], activation), widths[3], activation)
    x = layers.Add()([x, r])
    return keras.Model(inputs, _head(x, num_classes), name=name)


def mcu_vgg(input_shape, num_classes, activation="relu", name="mcunet"):
    """Conv-BN 16@32px | 32, 32 @16px | 64, 64 @8px + global max pool + Dense.

    Sized for the MLPerf Tiny budget: about 70 k parameters (an int8 flatbuffer under
    ResNet-8's 98,496 B), 7.5 M MACs (ResNet-8: 12.5 M), and no tensor pair larger than
    the 32x32x16 one, so its TFLM arena stays under ResNet-8's 55,984 B.
    """
    inputs = keras.Input(shape=input_shape)
    x = _conv_bn(inputs, 16, activation)
    for filters in (32, 64):
        x = layers.MaxPooling2D(2)(x)
        x = _conv_bn(x, filters, activation)
        x = _conv_bn(x, filters, activation)
    return keras.Model(inputs, _head(x, num_classes), name=name)


def _registered(name: str, builder, source: str, description: str, **recipe) -> None:
    """Register ``builder`` under ``name`` with the fast recipe, overridden by ``recipe``."""

    def build(input_shape, num_classes, activation="relu"):
        return builder(input_shape, num_classes, activation, name=name)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = builder.__doc__
    register(name, source=source, description=description, **{**_FAST, **recipe})(build)


# name, builder, where it comes from, what it is, and how its recipe differs from _FAST
for _entry in (
    ("fastnet", fast_vgg, "litelab (issue 4), after airbench / hlb-CIFAR10",
     "Conv-BN 16@32px, 64@16, 128@8, 256@4 + global max pool + Dense10 (12 M MACs)",
     dict(epochs=8)),
    ("fastres", fast_resnet, "litelab (issue 4), ResNet-9 after D. Page at quarter width",
     "ResNet-9 at widths 16/32/64/128 + global max pool + Dense10 (24 M MACs)",
     dict(epochs=6)),
    ("mcunet", mcu_vgg, "litelab (issue 4): the fast recipe at the MLPerf Tiny ResNet-8 budget",
     "Conv-BN 16@32px, 32x2@16, 64x2@8 + global max pool + Dense10 (7.5 M MACs)",
     dict(epochs=30, tta=False)),
):  # fmt: skip
    _registered(*_entry[:4], **_entry[4])
