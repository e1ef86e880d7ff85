"""The course's CNNs (seeds 000, 002 and 003), rebuilt layer for layer.

Each builder takes the input shape, the class count and the hidden activation; with the
defaults (32x32x3, 10 classes) their parameter counts equal the course's printed summaries.
"""

from __future__ import annotations

import keras
from keras import layers

from litelab.errors import LitelabError
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


@register(
    "cnn",
    source="seed 004 (making the CNN better): the baseline as a family the study and the "
    "tuner vary",
    description="n x (Conv[-Conv]-Pool) + Dense + optional Dropout; options in "
    "[training.model_options] (defaults: the baseline)",
    optimizer="adam",
    learning_rate=1e-3,
    batch_size=32,
    epochs=10,
)
def cnn(
    input_shape,
    num_classes,
    activation="relu",
    *,
    filters=(32, 64),
    convs_per_block=1,
    dense_units=64,
    dropout=0.0,
    first_activation=None,
):
    """The course's CNN with its knobs exposed (seed 004 and its keras-tuner space).

    One block per entry of ``filters``: ``convs_per_block`` 3x3 convolutions, then 2x2 max
    pooling (valid padding, as in the baseline). Then Flatten, a hidden Dense of
    ``dense_units`` (0 drops it), Dropout of ``dropout`` before the output, and softmax.
    ``first_activation`` replaces the activation of the first convolution only (the
    course's "one tanh layer"). With the defaults it is the baseline, parameter for
    parameter (167,562).
    """
    filters = [int(f) for f in filters]
    if not filters or any(f < 1 for f in filters):
        raise LitelabError(f"model_options.filters must be positive integers, got {filters}")
    if int(convs_per_block) < 1:
        raise LitelabError(f"model_options.convs_per_block must be >= 1, got {convs_per_block}")
    if int(dense_units) < 0:
        raise LitelabError(f"model_options.dense_units must be >= 0, got {dense_units}")
    if not 0.0 <= float(dropout) < 1.0:
        raise LitelabError(f"model_options.dropout must be in [0, 1), got {dropout}")
    side = int(input_shape[0])
    for _ in filters:
        side = (side - 2 * int(convs_per_block)) // 2
    if side < 1:
        raise LitelabError(
            f"{len(filters)} blocks of {convs_per_block} convolution(s) shrink a "
            f"{input_shape[0]}px image to nothing; use fewer blocks or convolutions"
        )
    model = keras.Sequential([keras.Input(shape=input_shape)], name="cnn")
    for i, f in enumerate(filters):
        for j in range(int(convs_per_block)):
            act = first_activation if (i == 0 and j == 0 and first_activation) else activation
            model.add(layers.Conv2D(f, 3, activation=act))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    if int(dense_units):
        model.add(layers.Dense(int(dense_units), activation=activation))
    if float(dropout):
        model.add(layers.Dropout(float(dropout)))
    model.add(layers.Dense(num_classes, activation="softmax"))
    return model
