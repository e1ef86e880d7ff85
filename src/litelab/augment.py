"""Batch-wise data augmentation on the training pipeline.

Two families:

- ``flip``, ``crop`` and ``cutout`` are vectorised over a whole batch and use *stateless*
  random ops seeded by (run seed, global step), so a run is reproducible even though the
  pipeline maps batches in parallel. They are the augmentations fast CIFAR-10 recipes use
  (airbench, hlb-CIFAR10, MLPerf Tiny): horizontal flip, a random translate of up to
  ``CROP_PAD`` pixels (reflect-pad then crop back), and one zeroed ``CUTOUT_SIZE`` square.
- ``shift`` and ``rotation`` are the course notebooks' ``RandomTranslation`` (10%) and
  ``RandomRotation`` (15 degrees) Keras layers, kept so their recipes mean what they said.
"""

from __future__ import annotations

import keras
import tensorflow as tf

CROP_PAD = 4
CUTOUT_SIZE = 8


def random_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirror each image left-right with probability 1/2."""
    n = tf.shape(images)[0]
    mirror = tf.random.stateless_uniform([n, 1, 1, 1], seed) < 0.5
    return tf.where(mirror, tf.reverse(images, axis=[2]), images)


def random_crop(images: tf.Tensor, seed: tf.Tensor, pad: int = CROP_PAD) -> tf.Tensor:
    """Translate each image by up to ``pad`` pixels each way: reflect-pad, then crop back."""
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    offsets = tf.random.stateless_uniform([n, 2], seed, 0, 2 * pad + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def random_cutout(images: tf.Tensor, seed: tf.Tensor, size: int = CUTOUT_SIZE) -> tf.Tensor:
    """Zero one ``size`` x ``size`` square per image, centred anywhere (it may be clipped)."""
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    centre = tf.random.stateless_uniform([n, 2], seed, 0, tf.minimum(h, w), dtype=tf.int32)
    top = centre[:, :1] - size // 2
    left = centre[:, 1:] - size // 2
    r = tf.range(h)[None, :]
    c = tf.range(w)[None, :]
    in_rows = (r >= top) & (r < top + size)  # (n, h)
    in_cols = (c >= left) & (c < left + size)  # (n, w)
    hole = in_rows[:, :, None] & in_cols[:, None, :]
    return images * tf.cast(~hole, images.dtype)[..., None]


# The names are litelab.config's BATCHED_AUGMENTATIONS and LAYER_AUGMENTATIONS (a test
# checks these tables cover exactly those); batch ops run in this order.
BATCH_OPS = {"crop": random_crop, "flip": random_flip, "cutout": random_cutout}
LAYER_OPS = {
    "shift": lambda seed: keras.layers.RandomTranslation(
        0.1, 0.1, fill_mode="reflect", seed=seed + 1
    ),
    "rotation": lambda seed: keras.layers.RandomRotation(
        15 / 360, fill_mode="reflect", seed=seed + 2
    ),
}


def augment_batch(images: tf.Tensor, names: tuple[str, ...], seed: tf.Tensor) -> tf.Tensor:
    """Apply the named batch-wise augmentations in a fixed order (crop, flip, cutout)."""
    chosen = [name for name in BATCH_OPS if name in names]
    seeds = tf.random.experimental.stateless_split(seed, num=max(len(chosen), 1))
    for i, name in enumerate(chosen):
        images = BATCH_OPS[name](images, seeds[i])
    return images


def augmentation_layers(names: tuple[str, ...], seed: int) -> list[keras.layers.Layer]:
    """The course's Keras preprocessing layers for ``shift`` and ``rotation``."""
    return [make(seed) for name, make in LAYER_OPS.items() if name in names]
