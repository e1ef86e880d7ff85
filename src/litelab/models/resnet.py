"""ResNet-8, the MLPerf Tiny image-classification reference (mlcommons/tiny).

Three residual stacks (16, 32, 64 filters) after a 16-filter stem, L2 1e-4 on every conv,
global average pooling and a softmax dense: 78,666 parameters for 32x32x3 and 10 classes,
the same as the reference's pretrainedResnet.h5. The reference takes raw 0..255 pixels;
this zoo entry takes 0..1 like every other litelab model.
"""

from __future__ import annotations

import keras
from keras import layers, regularizers

from litelab.models.registry import register


def _conv(filters: int, kernel: int, strides: int = 1) -> layers.Conv2D:
    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.l2(1e-4),
    )


def _stack(x, filters: int, strides: int, activation: str):
    y = _conv(filters, 3, strides)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation(activation)(y)
    y = _conv(filters, 3)(y)
    y = layers.BatchNormalization()(y)
    if strides != 1 or x.shape[-1] != filters:
        x = _conv(filters, 1, strides)(x)
    x = layers.Add()([x, y])
    return layers.Activation(activation)(x)


@register(
    "resnet8",
    source="MLPerf Tiny image classification reference (mlcommons/tiny, resnet_v1_eembc)",
    description="ResNet-8: stem16 + residual stacks 16/32/64 + global avg pool + Dense10",
    optimizer="adam",
    learning_rate=1e-3,
    batch_size=32,
    epochs=30,
    schedule="exponential",  # MLPerf's train.py: lr 1e-3 * 0.99 ** epoch
    lr_decay=0.99,
    augment=("flip", "shift", "rotation"),
)
def resnet8(input_shape, num_classes, activation="relu"):
    inputs = keras.Input(shape=input_shape)
    x = _conv(16, 3)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation(activation)(x)
    x = _stack(x, 16, 1, activation)
    x = _stack(x, 32, 2, activation)
    x = _stack(x, 64, 2, activation)
    x = layers.AveragePooling2D(pool_size=int(min(x.shape[1:3])))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs, name="resnet8")
