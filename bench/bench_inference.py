"""Faces per second: plain Keras predict, the original API and the scripts' path, in one
invocation, each path run interleaved with the others --repeats times (best of each).

    python bench/bench_inference.py                 # Meso4 and MesoInception4, CPU
    KERAS_BACKEND=jax python bench/bench_inference.py --n 65536 --device-resident \
        --models meso4 --batch-size 512 1024 4096 --precision float32 float16   # a GPU

plain:    keras.Model.predict on float32 /255 arrays, batch 64 (what the original does).
api:      the original API as a researcher calls it, Meso4().load(weights).predict(uint8):
          the runtime picked for where it runs (ONNX Runtime on a CPU, jax.jit on a GPU).
scripts:  scorers.load_scorer(weights).predict(uint8): what the scripts and the service use
          (the cached ONNX graph, without TensorFlow, on a CPU).
keras:    Classifier(runtime="keras").predict on uint8: one compiled fixed-shape function
          (XLA via tf.function on TensorFlow, "jit" on JAX), in float32 or, with
          --precision, float16 or bfloat16; --device-resident puts the faces on the device.
All score the same random faces with the same weights; the largest difference from
plain's outputs is printed, with the multiply-adds per face.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def interleaved(paths: dict, n: int, repeats: int) -> dict:
    """Faces/s of each path: every path once per round, `repeats` rounds, best of each
    (the machine's load moves between rounds, not within one)."""
    best = {name: 0.0 for name in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            t = time.perf_counter()
            fn()
            best[name] = max(best[name], n / (time.perf_counter() - t))
    return best


WEIGHTS = {"meso4": "meso4-corpus", "mesoinception4": "mesoinception4-df"}
#: with --int8: weights whose int8 graph is shipped (weights/NAME.int8.onnx)
INT8_WEIGHTS = {"meso4": "meso4-df", "mesoinception4": "mesoinception4-df"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1024, help="faces per timed pass")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; best is kept")
    p.add_argument("--batch-size", type=int, nargs="+", help="the keras path's compiled batch "
                   "sizes, each measured (default: the classifier's own: 64 on a CPU, 1024 on "
                   "a GPU)")
    p.add_argument("--precision", nargs="+", default=["float32"],
                   choices=["float32", "float16", "bfloat16"],
                   help="what the keras path computes in, each measured (reduced precision: "
                        "Keras mixed precision, weights kept in float32)")
    p.add_argument("--device-resident", action="store_true",
                   help="JAX: put the uint8 faces on the device first (jax.device_put) and "
                        "time the keras path on them there, as a GPU user feeding it would")
    p.add_argument("--models", nargs="+", default=["meso4", "mesoinception4"])
    p.add_argument("--int8", action="store_true",
                   help="also ONNX Runtime's int8 graph (--precision int8 of the scripts) "
                        "against the float32 ONNX path, on the weights of INT8_WEIGHTS")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from mesonet import classifiers
    from mesonet import scorers
    from mesonet import zoo

    print(f"backend {keras.backend.backend()}, {args.n} faces per pass, {args.repeats} "
          "interleaved rounds, best of each")
    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, (args.n, 256, 256, 3), dtype=np.uint8)
    xf = x8.astype(np.float32) / 255.0
    keras_x8 = x8
    if args.device_resident:
        if keras.backend.backend() != "jax":
            p.error("--device-resident needs KERAS_BACKEND=jax")
        import jax

        keras_x8 = jax.device_put(x8)
        print(f"keras path inputs on {keras_x8.devices()}")
    for name in args.models:
        try:
            weights = zoo.resolve(WEIGHTS[name])
        except (ValueError, OSError) as e:
            print(f"{name}: skipped, no weights ({e})")
            continue
        api = classifiers.CLASSIFIERS[name]().load(weights)
        plain_model = api.model
        scripts = scorers.load_scorer(weights)  # exports the graph into the cache the first time
        scripts = scorers.load_scorer(weights)  # ... and this one scores from the cache
        paths = {"plain": lambda: plain_model.predict(xf, batch_size=64, verbose=0),
                 f"api ({api.runtime})": lambda: api.predict(x8),
                 f"scripts ({type(scripts).__name__})": lambda: scripts.predict(x8)}
        if args.int8:
            int8_weights = zoo.resolve(INT8_WEIGHTS[name])
            f32 = scorers.load_scorer(int8_weights)
            i8 = scorers.load_scorer(int8_weights, precision="int8")
            paths[f"onnx float32 ({int8_weights.name})"] = lambda f32=f32: f32.predict(x8)
            paths[f"onnx int8 ({int8_weights.name})"] = lambda i8=i8: i8.predict(x8)
        for precision in args.precision:
            for batch_size in args.batch_size or [None]:
                clf = classifiers.CLASSIFIERS[name](runtime="keras", precision=precision)
                clf.load(weights)
                clf.batch_size = batch_size or clf.batch_size
                label = "xla" if keras.backend.backend() == "tensorflow" else "jit"
                paths[f"keras {label} {precision} batch {clf.batch_size}"] = \
                    lambda clf=clf: clf.predict(keras_x8)
        reference = plain_model.predict(xf, batch_size=64, verbose=0)
        if args.int8:  # int8 is compared with its own weights in float32
            own = paths[f"onnx float32 ({int8_weights.name})"]()
        diffs = {k: float(np.abs(np.asarray(fn()) - (own if "int8" in k or "onnx float32" in k
                                                       else reference)).max())
                 if k != "plain" else 0.0
                 for k, fn in paths.items()}  # also the warm-up of every path
        rates = interleaved(paths, args.n, args.repeats)
        print(f"{name} (weights {weights.name}), {macs_per_face(plain_model) / 1e6:.0f} M "
              "MACs/face:")
        for k, rate in rates.items():
            print(f"  {k:<34} {rate:10,.1f} faces/s  {rate / rates['plain']:5.2f}x plain  "
                  f"max|diff| {diffs[k]:.0e}", flush=True)
        api_rate = rates[f"api ({api.runtime})"]
        scripts_rate = rates[f"scripts ({type(scripts).__name__})"]
        print(f"  original API: {api_rate / scripts_rate:.2f}x the scripts' path, "
              f"{api_rate / rates['plain']:.2f}x plain")
        if args.int8:
            print(f"  int8: {rates[f'onnx int8 ({int8_weights.name})'] / rates[f'onnx float32 ({int8_weights.name})']:.2f}x "
                  f"the float32 ONNX path (max|diff| on these random inputs; parity on real "
                  f"faces: weights/{int8_weights.name}.record.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
