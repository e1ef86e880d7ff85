"""Fast-training CNNs for a 2-core CPU (issue 4), after airbench and hlb-CIFAR10.

Compute, not parameters, is what a CPU pays for: every model here keeps its widest
convolutions at the lowest resolutions, uses BatchNorm so that a high one-cycle learning
rate is stable, and ends in a global max pool so the head is tiny. Their recipes are the
tricks measured in ``benchmarks/fast_recipe.py``: SGD with Nesterov momentum on a one-cycle
schedule, label smoothing, decoupled weight decay, flip + translate augmentation, and
test-time flip averaging.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
from keras import layers

from litelab.errors import LitelabError
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


WHITEN_LAYER = "patch_whitening"
WHITEN_PATCH = 2  # airbench's 2x2 patches: 12 numbers a patch, 24 filters (each sign)
WHITEN_EPS = 5e-4
WHITEN_IMAGES = 5000  # training images whose patches estimate the covariance


def air_net(input_shape, num_classes, activation="relu", *, widths=(64, 256, 256), name="airnet"):
    """airbench94's network (K. Jordan, '94% on CIFAR-10 in 3.29 seconds', 2024) in Keras.

    A frozen 2x2 patch-whitening convolution (24 filters, set from the training images by
    :func:`fit_whitening` before the first step), then three groups of conv-pool-BN-act,
    conv-BN-act at ``widths``, a global max pool and a bias-free Dense whose logits are
    scaled by 1/9 as airbench does. The whitening layer makes the first steps see
    decorrelated inputs, which is what lets a few epochs go far. ``widths`` (three channel
    counts, the option ``widths``) sizes it for a board: the flatbuffer grows with their
    squares, the TFLM arena with the first.
    """
    widths = [int(w) for w in widths]
    if len(widths) != 3 or any(w < 1 for w in widths):
        raise LitelabError(f"model_options.widths must be 3 positive integers, got {widths}")
    inputs = keras.Input(shape=input_shape)
    whiten = 2 * WHITEN_PATCH * WHITEN_PATCH * int(input_shape[-1])
    x = layers.Conv2D(whiten, WHITEN_PATCH, name=WHITEN_LAYER, trainable=False)(inputs)
    x = layers.Activation(activation)(x)
    for filters in widths:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(2)(x)
        x = BatchNorm(momentum=0.9)(x)
        x = layers.Activation(activation)(x)
        x = _conv_bn(x, filters, activation)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dense(num_classes, use_bias=False)(x)
    x = layers.Rescaling(1.0 / 9.0)(x)
    return keras.Model(inputs, layers.Activation("softmax")(x), name=name)


def fit_whitening(model: keras.Model, images: np.ndarray) -> None:
    """Set the patch-whitening layer from ``images`` (uint8 training images, N x H x W x C).

    Its filters are the eigenvectors of the covariance of every 2x2 patch of up to
    WHITEN_IMAGES images, each divided by the square root of its eigenvalue (plus
    WHITEN_EPS), taken with both signs so that the ReLU after it keeps all the information.
    Only training images are read, so the test split stays unseen.
    """
    layer = model.get_layer(WHITEN_LAYER)
    k = WHITEN_PATCH
    x = np.asarray(images[:WHITEN_IMAGES], dtype=np.float32) / 255.0
    c = x.shape[-1]
    patches = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    # (n, h-k+1, w-k+1, c, k, k) -> rows in the (kh, kw, c) order of a Keras kernel
    patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * c).astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(patches, rowvar=False))
    filters = eigenvectors / np.sqrt(np.maximum(eigenvalues, 0.0) + WHITEN_EPS)
    kernel = np.concatenate([filters, -filters], axis=1).reshape(k, k, c, 2 * k * k * c)
    layer.set_weights([kernel.astype(np.float32), np.zeros(2 * k * k * c, np.float32)])


def _registered(name: str, builder, source: str, description: str, prepare=None, **recipe) -> None:
    """Register ``builder`` under ``name`` with the fast recipe, overridden by ``recipe``."""

    def build(input_shape, num_classes, activation="relu", **options):
        return builder(input_shape, num_classes, activation, name=name, **options)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = builder.__doc__
    # the builder's keyword-only knobs (airnet's widths) are the model's options
    signature = inspect.signature(builder)
    build.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "name"]
    )
    register(name, source=source, description=description, prepare=prepare, **{**_FAST, **recipe})(
        build
    )


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
    ("airnet", air_net, "airbench94 (K. Jordan, 2024), ported to Keras for issue 16",
     "2x2 patch whitening (24) + conv-pool-BN 64, 256, 256 (two convs each) + global max "
     "pool + Dense10/9 (118 M MACs)",
     dict(epochs=10, batch_size=512, learning_rate=0.4, prepare=fit_whitening)),
):  # fmt: skip
    _registered(*_entry[:4], **_entry[4])
