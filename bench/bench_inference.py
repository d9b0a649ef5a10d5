"""Faces per second: plain Keras predict against our compiled path, in one invocation.

    python bench/bench_inference.py                 # Meso4 and MesoInception4, CPU
    KERAS_BACKEND=jax python bench/bench_inference.py --n 65536 --device-resident \
        --models meso4 --batch-size 512 1024 4096 --precision float32 float16   # a GPU

plain: keras.Model.predict on float32 /255 arrays, batch 64 (what the original does).
xla:   Classifier(runtime="keras").predict on uint8 arrays: rescaled inside one
       compiled fixed-shape function (XLA via tf.function(jit_compile=True) on
       TensorFlow; "jit": jax.jit on JAX), in float32 or, with --precision, in float16
       or bfloat16; with --device-resident the uint8 arrays already lie on the device.
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
    p.add_argument("--batch-size", type=int, nargs="+", help="our compiled batch sizes, "
                   "each measured (default: the classifier's own: 16 for ONNX Runtime, 64 "
                   "for Keras on a CPU, 1024 on a GPU)")
    p.add_argument("--precision", nargs="+", default=["float32"],
                   choices=["float32", "float16", "bfloat16"],
                   help="what our Keras path computes in, each measured (reduced precision: "
                        "Keras mixed precision, weights kept in float32)")
    p.add_argument("--device-resident", action="store_true",
                   help="JAX: put the uint8 faces on the device first (jax.device_put) and "
                        "time our path on them there, as a GPU user feeding it would")
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
    ours_x8 = x8
    if args.device_resident:
        if keras.backend.backend() != "jax":
            p.error("--device-resident needs KERAS_BACKEND=jax")
        import jax

        ours_x8 = jax.device_put(x8)
        print(f"our inputs on {ours_x8.devices()}")
    for name in args.models:
        base = classifiers.CLASSIFIERS[name]()
        base.model.predict(xf[:64], batch_size=64, verbose=0)
        plain = best_rate(lambda: base.model.predict(xf, batch_size=64, verbose=0), args.n,
                          args.repeats)
        reference = base.model.predict(xf, batch_size=64, verbose=0)
        gmacs = macs_per_face(base.model) / 1e9
        ceiling = args.peak_gflops / (2 * gmacs)
        print(f"{name}: plain {plain:,.1f} faces/s; {gmacs * 1e3:.0f} M MACs/face, "
              f"ceiling ~{ceiling:,.0f} at {args.peak_gflops:,.0f} GFLOP/s")
        for runtime in runtimes:
            for precision in args.precision if runtime == "keras" else ["float32"]:
                clf = classifiers.CLASSIFIERS[name](runtime=runtime, precision=precision)
                clf.model.set_weights(base.model.get_weights())
                label = ("onnx" if runtime == "onnx" else "xla"
                         if keras.backend.backend() == "tensorflow" else "jit")
                for batch_size in args.batch_size or [clf.batch_size]:
                    clf.batch_size = batch_size
                    data = ours_x8 if runtime == "keras" else x8
                    clf.predict(data[:batch_size])
                    rate = best_rate(lambda: clf.predict(data), args.n, args.repeats)
                    diff = float(np.abs(clf.predict(data) - reference).max())
                    print(f"  {label:<4} {precision:<8} batch {batch_size:<5} {rate:11,.1f} "
                          f"faces/s  {rate / plain:6.1f}x plain  max|diff| {diff:.0e}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
