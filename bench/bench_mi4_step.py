"""Where MesoInception4's training step goes: the step as df_CNN.py trains it, against
variants that each change one thing.

    python bench/bench_mi4_step.py                  # 8 steps x 3 repeats, batch 75
    python bench/bench_mi4_step.py --steps 12 --repeat 4

as trained:     training/df_CNN.py's model (uint8 in, rescaled inside, the network in
                --precision, batch normalization through fused_bn where it applies).
dilated dense:  the two dilated 3x3 convolutions of each inception module computed as
                dense 5x5 / 7x7 convolutions with zeros between the taps (the same
                arithmetic; oneDNN's dilated path is not used).
inception BN padded: the two inception modules' batch normalizations (11 and 12
                channels, which oneDNN's fused kernel runs only by a generic, slow path)
                through the fused kernel with the channels padded to 16 by zeros.
no inception BN: those two layers removed: not the network, only a bound on what any
                faster batch normalization could win.
meso4:          Meso4's step the same way, for scale.

Each variant trains on the same random batch of 75 uint8 faces (the content does not
change the work); each is compiled first, then timed for --steps steps, --repeat times
interleaved with the others; the best of each is reported, with its ratio to 'as
trained'.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dense_dilated(self, inputs, kernel):
    """A dilated convolution as a dense one: the kernel's taps spread onto a zero grid."""
    import numpy as np
    from keras import ops

    r, k = self.dilation_rate[0], kernel.shape[0]
    spread = np.zeros(((k - 1) * r + 1, k), "float32")
    spread[np.arange(k) * r, np.arange(k)] = 1.0
    s = ops.cast(spread, kernel.dtype)
    full = ops.einsum("ia,jb,abcd->ijcd", s, s, kernel)
    return ops.conv(inputs, full, strides=list(self.strides), padding=self.padding,
                    dilation_rate=1, data_format=self.data_format)


def _padded_fused_call(self, inputs, training=None, mask=None):
    """fused_bn's training call with the channels padded by zeros to a multiple of 8."""
    import tensorflow as tf

    if not (training and self.trainable) or mask is not None:
        return type(self).call(self, inputs, training=training, mask=mask)
    x = tf.cast(inputs, tf.float32)
    c = x.shape[-1]
    pad = (-c) % 8
    gamma, beta = tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32)
    x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, pad]])
    gamma = tf.concat([gamma, tf.ones([pad])], 0)
    beta = tf.concat([beta, tf.zeros([pad])], 0)
    y, mean, unbiased, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=gamma, offset=beta, mean=tf.constant([], tf.float32),
        variance=tf.constant([], tf.float32), epsilon=self.epsilon,
        exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
    n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
    variance = unbiased[:c] * tf.maximum(n - 1.0, 0.0) / n
    m = self.momentum
    self.moving_mean.assign(tf.cast(self.moving_mean, tf.float32) * m + mean[:c] * (1 - m))
    self.moving_variance.assign(tf.cast(self.moving_variance, tf.float32) * m
                                + variance * (1 - m))
    return tf.cast(y[..., :c], self.compute_dtype)


def _skip(self, inputs, training=None, mask=None):
    return inputs


def build(variant: str, precision: str):
    import keras

    from mesonet import classifiers
    from mesonet.training.train import training_model

    keras.mixed_precision.set_dtype_policy(precision)
    base = classifiers.build("meso4" if variant == "meso4" else "mesoinception4")
    for layer in base.layers:
        if variant == "dilated dense" and isinstance(layer, keras.layers.Conv2D) \
                and layer.dilation_rate[0] > 1:
            layer.convolution_op = types.MethodType(_dense_dilated, layer)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name.startswith("incep"):
            if variant == "inception BN padded":
                layer.call = types.MethodType(_padded_fused_call, layer)
            elif variant == "no inception BN":
                layer.call = types.MethodType(_skip, layer)
    model = training_model(base)  # fused_bn leaves the 11- and 12-channel layers alone
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_squared_error")
    keras.mixed_precision.set_dtype_policy("float32")
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=8, help="timed steps per repeat")
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats; best is kept")
    p.add_argument("--batch-size", type=int, default=75)
    p.add_argument("--precision", default="auto", help="auto, float32 or mixed_bfloat16")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from mesonet.training import train as df_CNN

    precision = df_CNN.resolve_precision(args.precision, keras.backend.backend())
    if keras.backend.backend() != "tensorflow":
        print("bench_mi4_step.py measures the TensorFlow backend's CPU step", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.batch_size, 256, 256, 3), dtype=np.uint8)
    y = rng.integers(0, 2, (args.batch_size, 1)).astype(np.float32)
    variants = ["as trained", "dilated dense", "inception BN padded", "no inception BN",
                "meso4"]
    models = {v: build(v, precision) for v in variants}
    for model in models.values():
        model.train_on_batch(x, y)  # compilation, not timed
        model.train_on_batch(x, y)
    best = {v: float("inf") for v in variants}
    for _ in range(args.repeat):
        for v, model in models.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            best[v] = min(best[v], (time.perf_counter() - t) / args.steps)
    print(f"MesoInception4 training step, batch {args.batch_size}, {precision}, "
          f"{args.steps} steps x {args.repeat} (best)")
    for v in variants:
        print(f"{v:<22} {best[v]:6.3f} s a step  {args.batch_size / best[v]:7.1f} images/s  "
              f"ratio {best['as trained'] / best[v]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
