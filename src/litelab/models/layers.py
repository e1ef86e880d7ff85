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
