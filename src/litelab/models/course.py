"""The course's CNNs (seeds 000, 002 and 003), rebuilt layer for layer.

Each builder takes the input shape, the class count and the hidden activation; with the
defaults (32x32x3, 10 classes) their parameter counts equal the course's printed summaries.
"""

from __future__ import annotations

import keras
from keras import layers

from litelab.models.registry import register


@register(
    "baseline",
    source="seed 000 (CNN example, the CIFAR-10 case)",
    description="Conv32-Pool-Conv64-Pool-Flatten-Dense64-Dense10",
    optimizer="adam",
    learning_rate=1e-3,
    batch_size=32,
    epochs=10,
)
def baseline(input_shape, num_classes, activation="relu"):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, 3, activation=activation),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation=activation),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation=activation),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="baseline",
    )


def _vgg_blocks(input_shape, num_classes, activation, dropout: bool, name: str):
    """Seed 002: three double-conv blocks (32, 64, 64 filters, same padding) + Dense512."""
    model = keras.Sequential([keras.Input(shape=input_shape)], name=name)
    for filters in (32, 64, 64):
        model.add(layers.Conv2D(filters, 3, padding="same", activation=activation))
        model.add(layers.Conv2D(filters, 3, padding="same", activation=activation))
        model.add(layers.MaxPooling2D(2))
        if dropout:
            model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    model.add(layers.Dense(512, activation=activation))
    if dropout:
        model.add(layers.Dropout(0.5))
    model.add(layers.Dense(num_classes, activation="softmax"))
    return model


_SEED002 = dict(optimizer="rmsprop", learning_rate=1e-3, batch_size=256, epochs=31)


@register(
    "vgg-blocks",
    source="seed 002 (CNN in TensorFlow and Keras), the baseline without dropout",
    description="3 x (Conv-Conv-Pool) with 32/64/64 filters + Dense512",
    **_SEED002,
)
def vgg_blocks(input_shape, num_classes, activation="relu"):
    return _vgg_blocks(input_shape, num_classes, activation, dropout=False, name="vgg_blocks")


@register(
    "dropout-cnn",
    source="seed 002 (CNN in TensorFlow and Keras), the model with dropout",
    description="vgg-blocks with Dropout 0.25 after each block and 0.5 before the output",
    **_SEED002,
)
def dropout_cnn(input_shape, num_classes, activation="relu"):
    return _vgg_blocks(input_shape, num_classes, activation, dropout=True, name="dropout_cnn")


_SEED003 = dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=10)


@register(
    "tiny",
    source="seed 003 (CNN for CIFAR10), the first model (its summary shows 10 filters)",
    description="Conv10-Pool-Flatten-Dense100-Dense10",
    **_SEED003,
)
def tiny(input_shape, num_classes, activation="relu"):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(10, 3, activation=activation),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(100, activation=activation),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="tiny",
    )


@register(
    "wide",
    source="seed 003 (CNN for CIFAR10), the second model",
    description="Conv8-Pool-Conv512-Pool-Conv256-Flatten-Dense100-Dense10",
    **_SEED003,
)
def wide(input_shape, num_classes, activation="relu"):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(8, 3, activation=activation),
            layers.MaxPooling2D(2),
            layers.Conv2D(512, 3, activation=activation),
            layers.MaxPooling2D(2),
            layers.Conv2D(256, 3, activation=activation),
            layers.Flatten(),
            layers.Dense(100, activation=activation),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="wide",
    )


@register(
    "lenet5",
    source="seed 003 (CNN for CIFAR10), LeNet-5 adapted to 32x32x3",
    description="Conv6(5x5)-BN-AvgPool-Conv16(5x5)-AvgPool-Conv120(5x5)-Dense84-Dropout-Dense10",
    activation="tanh",
    **_SEED003,
)
def lenet5(input_shape, num_classes, activation="tanh"):
    """LeNet-5 as the course lists it; its recipe's activation is tanh."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(6, 5, activation=activation),
            layers.BatchNormalization(),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation=activation),
            layers.AveragePooling2D(2),
            layers.Conv2D(120, 5, activation=activation),
            layers.Flatten(),
            layers.Dense(84, activation=activation),
            layers.Dropout(0.2),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="lenet5",
    )
