"""Batch normalization in one fused kernel while training on TensorFlow.

Keras 3's BatchNormalization trains by separate operations (a cast to float32, the
moments, the normalization, and their gradients), each a pass over the feature maps.
Meso4's first maps are 256 x 256 x 8 for every face, so on a CPU those memory-bound
passes took about half of a training step (BENCHMARKS.md). TensorFlow's
FusedBatchNormV3, which oneDNN runs, does the forward pass in one kernel and the backward
pass in another. `fuse_batch_norm(model)` makes the model's BatchNormalization layers
train through it: the same batch statistics, the same normalization, the same moving
averages (Keras's, from the biased batch variance), the same variables, so the weights and
saved states are those of plain Keras layers. Inference, other backends and any layer
that the fused kernel does not cover (not 4-D channels-last, renorm, synchronized, a
mask, no centre or scale, a channel count not a multiple of 8: oneDNN's kernel for those
is a slow generic one) keep Keras's own path.

The kernel computes in float32: under mixed_bfloat16 the bfloat16 maps are cast to
float32 for it, as Keras does for its own path (TensorFlow's bfloat16 fused kernel was
several times slower on the CPU).
"""

from __future__ import annotations

import types


def _fusable(layer) -> bool:
    # oneDNN has vectorized kernels for channel counts in multiples of 8; others (such as
    # MesoInception4's 11 concatenated channels) fall to a generic one, measured 5x slower
    # than Keras's path on its 256 x 256 maps
    channels = layer.gamma.shape[0] if layer.built and layer.scale else 0
    return (layer.axis in (-1, 3) and layer.center and layer.scale and channels % 8 == 0
            and channels > 0 and not layer.renorm and not layer.synchronized)


def _fused_call(self, inputs, training=None, mask=None):
    import tensorflow as tf

    if not (training and self.trainable) or mask is not None or len(inputs.shape) != 4:
        return type(self).call(self, inputs, training=training, mask=mask)
    x = tf.cast(inputs, tf.float32)
    y, mean, unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=tf.cast(self.gamma, tf.float32), offset=tf.cast(self.beta, tf.float32),
        mean=tf.constant([], tf.float32), variance=tf.constant([], tf.float32),
        epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
        is_training=True)
    # the kernel normalizes by the biased variance and returns the unbiased one (Bessel's
    # correction); Keras's moving variance averages the biased one
    n = tf.cast(tf.size(x, out_type=tf.int64) // tf.cast(tf.shape(x)[-1], tf.int64),
                tf.float32)
    variance = unbiased * tf.maximum(n - 1.0, 0.0) / n
    m = self.momentum
    self.moving_mean.assign(tf.cast(self.moving_mean, tf.float32) * m + mean * (1.0 - m))
    self.moving_variance.assign(
        tf.cast(self.moving_variance, tf.float32) * m + variance * (1.0 - m))
    return tf.cast(y, self.compute_dtype)


def fuse_batch_norm(model) -> int:
    """Make each fusable BatchNormalization layer of `model` train through TensorFlow's
    fused kernel (a no-op on other backends); returns how many layers were switched."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return 0
    n = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and _fusable(layer):
            layer.call = types.MethodType(_fused_call, layer)
            n += 1
    return n
