"""The course's CNNs (seeds 000, 002 and 003), rebuilt layer for layer.

Each builder takes the input shape, the class count and the hidden activation; with the
defaults (32x32x3, 10 classes) their parameter counts equal the course's printed summaries.
"""

from __future__ import annotations

import re

import keras
from keras import layers

from litelab.errors import LitelabError
from litelab.models.registry import register

_LAYERS = {
    "Conv": lambda n, act: layers.Conv2D(int(n), 3, activation=act),
    "Conv5x": lambda n, act: layers.Conv2D(int(n), 5, activation=act),
    "ConvSame": lambda n, act: layers.Conv2D(int(n), 3, padding="same", activation=act),
    "Pool": lambda n, act: layers.MaxPooling2D(2),
    "AvgPool": lambda n, act: layers.AveragePooling2D(2),
    "BN": lambda n, act: layers.BatchNormalization(),
    "Flatten": lambda n, act: layers.Flatten(),
    "Dense": lambda n, act: layers.Dense(int(n), activation=act),
    "Dropout": lambda n, act: layers.Dropout(float(n)),
}


def stack(spec: str, input_shape, num_classes, activation="relu", name="stack"):
    """A Sequential CNN from a layer spec such as ``"Conv32-Pool-Flatten-Dense64"``.

    Tokens: ``ConvN`` (N 3x3 filters), ``ConvSameN`` (same padding), ``Conv5xN`` (5x5),
    ``Pool`` (2x2 max), ``AvgPool``,
    ``BN``, ``Flatten``, ``DenseN``, ``DropoutP``. Hidden layers use ``activation``; a
    softmax Dense of ``num_classes`` ends the model. The course models' registry
    descriptions are their specs, so what ``litelab models`` prints is what gets built.
    """
    model = keras.Sequential([keras.Input(shape=input_shape)], name=name)
    for token in spec.split("-"):
        m = re.fullmatch(r"(Conv5x|ConvSame|[A-Za-z]+)([0-9.]*)", token)
        if m is None or m.group(1) not in _LAYERS:
            raise LitelabError(f"unknown layer {token!r} in layer spec {spec!r}")
        model.add(_LAYERS[m.group(1)](m.group(2), activation))
    model.add(layers.Dense(num_classes, activation="softmax"))
    return model


def _register_stack(name: str, spec: str, source: str, recipe: dict, activation="relu"):
    """Register a course model that is a plain layer stack (its description is its spec)."""

    def build(input_shape, num_classes, activation=activation):
        return stack(spec, input_shape, num_classes, activation, name=name.replace("-", "_"))

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"{source}: {spec}-Dense(classes)"
    if activation != "relu":  # the registry's default
        recipe = {"activation": activation, **recipe}
    return register(name, source=source, description=f"{spec}-Dense10", **recipe)(build)


def _vgg_spec(dropout: bool) -> str:
    """Seed 002: three double-conv blocks (32, 64, 64 filters, same padding) + Dense512."""
    block = "-Dropout0.25" if dropout else ""
    convs = "-".join(f"ConvSame{f}-ConvSame{f}-Pool{block}" for f in (32, 64, 64))
    return convs + "-Flatten-Dense512" + ("-Dropout0.5" if dropout else "")


_SEED000 = dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=10)
_SEED002 = dict(optimizer="rmsprop", learning_rate=1e-3, batch_size=256, epochs=31)
_SEED003 = _SEED000

baseline = _register_stack(
    "baseline",
    "Conv32-Pool-Conv64-Pool-Flatten-Dense64",
    "seed 000 (CNN example, the CIFAR-10 case)",
    _SEED000,
)
vgg_blocks = _register_stack(
    "vgg-blocks",
    _vgg_spec(dropout=False),
    "seed 002 (CNN in TensorFlow and Keras), the baseline without dropout",
    _SEED002,
)
dropout_cnn = _register_stack(
    "dropout-cnn",
    _vgg_spec(dropout=True),
    "seed 002 (CNN in TensorFlow and Keras), the model with dropout",
    _SEED002,
)
tiny = _register_stack(
    "tiny",
    "Conv10-Pool-Flatten-Dense100",
    "seed 003 (CNN for CIFAR10), the first model (its summary shows 10 filters)",
    _SEED003,
)
wide = _register_stack(
    "wide",
    "Conv8-Pool-Conv512-Pool-Conv256-Flatten-Dense100",
    "seed 003 (CNN for CIFAR10), the second model",
    _SEED003,
)
lenet5 = _register_stack(
    "lenet5",
    "Conv5x6-BN-AvgPool-Conv5x16-AvgPool-Conv5x120-Flatten-Dense84-Dropout0.2",
    "seed 003 (CNN for CIFAR10), LeNet-5 adapted to 32x32x3",
    _SEED003,
    activation="tanh",
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
