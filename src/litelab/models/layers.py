"""Layers the fast models share.

:class:`BatchNorm` is Keras' ``BatchNormalization`` with one change: when training on the
TensorFlow backend it computes the batch statistics and the normalisation in TF's single
fused kernel instead of Keras' separate moments and arithmetic ops. On the 2-core CPU this
trains a fastnet-like model about 8% faster (benchmarks/fast_widths.py); everywhere
else (inference, export, other backends, masks, renorm) it is the stock layer, so the
saved model and its TFLite conversion are unchanged. One difference: TF's kernel feeds
the moving variance the unbiased (n - 1) batch variance, Keras the biased one.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="litelab")
class BatchNorm(keras.layers.BatchNormalization):
    """``BatchNormalization`` with a fused training kernel on TensorFlow (NHWC, float32)."""

    def _fusable(self, inputs, training, mask) -> bool:
        return bool(
            training
            and self.trainable
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.scale
            and self.center
            and not self.renorm
            and inputs.dtype == "float32"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            self.gamma,
            self.beta,
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return outputs


# ImageNet channel means (RGB) that Keras' "caffe" preprocessing subtracts, on the 0..255 scale.
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="litelab")
class ImageNetPreprocess(keras.layers.Layer):
    """A pretrained backbone's own input preprocessing, as a layer, for images in 0..1.

    ``mode="caffe"`` (VGG16): scale to 0..255, RGB to BGR, subtract the ImageNet channel
    means. ``mode="tf"`` (MobileNetV2): scale to -1..1. Inside the model, so that a saved
    transfer model takes the same 0..1 input as every other litelab model, and so that
    TFLite and the C sources carry it too.
    """

    def __init__(self, mode: str = "caffe", **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf"):
            raise ValueError(f"mode must be 'caffe' or 'tf', got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        from keras import ops

        if self.mode == "tf":
            return inputs * 2.0 - 1.0
        bgr = ops.flip(inputs * 255.0, axis=-1)
        mean = ops.convert_to_tensor(CAFFE_MEAN_RGB[::-1], dtype=inputs.dtype)
        return bgr - mean

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


# --------------------------------------------------------------------------- portable files


def has_litelab_objects(model: keras.Model) -> bool:
    """Does saving ``model`` as is name a litelab class (a layer or a compile object)?"""
    return any(_is_own(layer) for layer in _leaf_layers(model)) or _compile_names_litelab(model)


def portable(model: keras.Model) -> keras.Model:
    """``model`` as plain Keras can load it: the same network, litelab's layers swapped.

    :class:`BatchNorm` becomes ``keras.layers.BatchNormalization`` (same config, same four
    weights: inference is the stock layer's code, so outputs are identical).
    :class:`ImageNetPreprocess` becomes ``Rescaling(2, -1)`` ("tf") or a frozen 1x1
    ``Conv2D`` whose kernel is 255 times the RGB->BGR permutation and whose bias is minus the
    channel means ("caffe"; 12 non-trainable weights more). A compiled model stays compiled
    with the same loss and metrics; a litelab learning-rate schedule in the optimizer becomes
    its value at the current step, and the optimizer's slots are copied. A model with
    nothing of litelab's comes back unchanged (the very object), so saving it is as before.
    """
    if not has_litelab_objects(model):
        return model
    pairs: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []

    def swap(layer: keras.layers.Layer) -> keras.layers.Layer:
        new = _standard_layer(layer)
        pairs.append((layer, new))
        return new

    clone = keras.models.clone_model(model, clone_function=swap, recursive=True)
    for old, new in pairs:
        if isinstance(old, ImageNetPreprocess):
            if old.mode == "caffe":
                new.set_weights(_caffe_weights())
        elif getattr(old, "weights", None):  # a layer with weights (not a bare op like `/`)
            new.set_weights(old.get_weights())
    if getattr(model, "optimizer", None) is not None and model.compiled:
        _compile_like(clone, model)
    return clone


def _leaf_layers(model: keras.layers.Layer):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _is_own(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, BatchNorm | ImageNetPreprocess)


def _compile_names_litelab(model: keras.Model) -> bool:
    if getattr(model, "optimizer", None) is None or not model.compiled:
        return False
    import json

    text = json.dumps(model.get_compile_config(), default=str)
    return '"litelab>' in text


def _standard_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, BatchNorm):
        return keras.layers.BatchNormalization.from_config(layer.get_config())
    if isinstance(layer, ImageNetPreprocess):
        if layer.mode == "tf":
            return keras.layers.Rescaling(2.0, offset=-1.0, name=layer.name)
        return keras.layers.Conv2D(3, 1, trainable=False, name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def _caffe_weights() -> list:
    import numpy as np

    kernel = np.zeros((1, 1, 3, 3), dtype="float32")
    for rgb in range(3):
        kernel[0, 0, rgb, 2 - rgb] = 255.0  # output channel b g r <- input r g b
    bias = -np.asarray(CAFFE_MEAN_RGB[::-1], dtype="float32")
    return [kernel, bias]


def _compile_like(clone: keras.Model, model: keras.Model) -> None:
    """Compile ``clone`` as ``model`` is, without litelab objects, and copy the slots."""
    config = model.get_compile_config()
    optimizer = dict(config["optimizer"])
    inner = dict(optimizer.get("config", {}))
    rate = inner.get("learning_rate")
    if isinstance(rate, dict) and str(rate.get("registered_name", "")).startswith("litelab>"):
        inner["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    optimizer["config"] = inner
    clone.compile_from_config({**config, "optimizer": optimizer})
    # Slots by path ("sgd/conv2d_kernel_momentum"): layer names survive the swap, and a float
    # learning rate adds a variable a schedule does not have.
    slots = {v.path: v for v in clone.optimizer.variables}
    for var in model.optimizer.variables:
        if var.path in slots and tuple(slots[var.path].shape) == tuple(var.shape):
            slots[var.path].assign(var)
