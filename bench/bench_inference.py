"""Faces per second: plain Keras predict against our compiled path, in one invocation.

    python bench/bench_inference.py                 # Meso4 and MesoInception4, CPU
    KERAS_BACKEND=jax python bench/bench_inference.py --n 8192 --device-resident

plain: keras.Model.predict on float32 /255 arrays, batch 64 (what the original does).
xla:   Classifier(runtime="keras").predict on uint8 arrays: rescaled inside one
       compiled fixed-shape function (XLA via tf.function(jit_compile=True) on
       TensorFlow, jax.jit on JAX).
onnx:  Classifier(runtime="onnx").predict on uint8 arrays: ONNX Runtime on the CPU
       (what --runtime auto picks on a CPU).
Both score the same random faces; the largest difference between their outputs is
printed, with the multiply-adds per face and the ceiling they imply for this CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def macs_per_face(model) -> int:
    """Multiply-adds of the convolutions and dense layers for one 256x256 face."""
    total = 0
    for layer in model.layers:
        name = layer.__class__.__name__
        if name == "Conv2D":
            h, w, c_out = layer.output.shape[1:]
            kh, kw, c_in, _ = layer.kernel.shape
            total += h * w * c_out * kh * kw * c_in
        elif name == "Dense":
            total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return int(total)


def best_rate(fn, n, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n / min(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1024, help="faces per timed pass")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, help="our compiled batch size (default: the "
                   "classifier's own, 64 for Keras and 16 for ONNX Runtime)")
    p.add_argument("--models", nargs="+", default=["meso4", "mesoinception4"])
    p.add_argument("--peak-gflops", type=float, default=2 * 2 * 2 * 8 * 2.5,
                   help="the machine's float32 peak (default: 2 cores x 2 FMA x 8 lanes x "
                        "2 flops x 2.5 GHz = 160 GFLOP/s)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    import classifiers

    print(f"backend {keras.backend.backend()}, {args.n} faces per pass, best of {args.repeats}")
    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, (args.n, 256, 256, 3), dtype=np.uint8)
    xf = x8.astype(np.float32) / 255.0
    import importlib.util

    runtimes = ["keras"] + (["onnx"] if importlib.util.find_spec("onnxruntime")
                            and keras.backend.backend() == "tensorflow" else [])
    for name in args.models:
        base = classifiers.CLASSIFIERS[name]()
        base.model.predict(xf[:64], batch_size=64, verbose=0)
        plain = best_rate(lambda: base.model.predict(xf, batch_size=64, verbose=0), args.n,
                          args.repeats)
        reference = base.model.predict(xf, batch_size=64, verbose=0)
        gmacs = macs_per_face(base.model) / 1e9
        ceiling = args.peak_gflops / (2 * gmacs)
        line = f"{name:<15} plain {plain:7.1f}"
        for runtime in runtimes:
            clf = classifiers.CLASSIFIERS[name](runtime=runtime)
            clf.model.set_weights(base.model.get_weights())
            clf.batch_size = args.batch_size or clf.batch_size
            clf.predict(x8[:64])
            rate = best_rate(lambda: clf.predict(x8), args.n, args.repeats)
            diff = float(np.abs(clf.predict(x8) - reference).max())
            label = "xla" if runtime == "keras" and keras.backend.backend() == "tensorflow" \
                else ("jit" if runtime == "keras" else runtime)
            line += f" | {label} {rate:7.1f} ({rate / plain:4.1f}x, max|diff| {diff:.0e})"
        print(line + f" | faces/s; {gmacs * 1e3:.0f} M MACs/face, ceiling ~{ceiling:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
