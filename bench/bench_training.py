"""Training images per second: plain fit from float32 arrays against our input pipeline.

    python bench/bench_training.py                       # Meso4, this machine's backend
    KERAS_BACKEND=jax python bench/bench_training.py --n 30000 --batch-size 75

plain: model.fit on float32 /255 host arrays, no augmentation (the straightforward way).
ours:  training/df_CNN.py's path: uint8 batches from the in-memory cache (a PyDataset
       with worker threads) and the paper's augmentation as Keras layers inside the
       compiled training step. Both train the same model shape on the same random faces;
       the first epoch (compilation) is not timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "training")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1500, help="images per timed epoch")
    p.add_argument("--batch-size", type=int, default=75)
    p.add_argument("--model", default="meso4")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    import classifiers
    from data import Batches, training_model

    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, (args.n, 256, 256, 3), dtype=np.uint8)
    y = (rng.random(args.n) < 0.5).astype(np.float32)
    xf = x8.astype(np.float32) / 255.0
    print(f"backend {keras.backend.backend()}, {args.model}, {args.n} images per epoch, "
          f"batch {args.batch_size}")

    def timed(model, fit):
        model.compile(optimizer="adam", loss="mean_squared_error")
        fit(model, 1)  # compilation
        t = time.perf_counter()
        fit(model, 2)
        return 2 * args.n / (time.perf_counter() - t)

    plain = timed(classifiers.build(args.model), lambda m, e: m.fit(
        xf, y, batch_size=args.batch_size, epochs=e, verbose=0))
    steps = args.n // args.batch_size
    ours = timed(training_model(classifiers.build(args.model), augment=True), lambda m, e: m.fit(
        Batches(x8, y, args.batch_size, steps=steps), epochs=e, verbose=0))
    ours_plain = timed(training_model(classifiers.build(args.model), augment=False),
                       lambda m, e: m.fit(Batches(x8, y, args.batch_size, steps=steps),
                                          epochs=e, verbose=0))
    print(f"plain fit (float32, no augmentation) {plain:8.1f} images/s")
    print(f"ours (uint8, augmentation in graph)  {ours:8.1f} images/s  ratio {ours / plain:.2f}")
    print(f"ours without augmentation            {ours_plain:8.1f} images/s  "
          f"ratio {ours_plain / plain:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
