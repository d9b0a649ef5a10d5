"""Training images per second: plain float32 fit against training/df_CNN.py's path.

    python bench/bench_training.py                  # Meso4, the prepared corpus's size
    python bench/bench_training.py --steps 40 --repeat 3 --model mesoinception4
    KERAS_BACKEND=jax python bench/bench_training.py --precision float32

plain:      model.fit on float32 /255 host arrays, no augmentation, float32 (the
            straightforward way).
df_CNN:     training/df_CNN.py's path: group-weighted uint8 batches from the in-memory
            cache, augmented as the paper by OpenCV in the batch worker threads (a
            PyDataset), rescaled inside the compiled step, the network in --precision
            (auto: bfloat16 on a CPU that has it); without fakes made, and with SBI (half of each batch pairs from the
            forgery pool, which is made once before training: its time is printed
            apart, with what it costs per image of a 500,000-image run).
The faces are the prepared corpus's training crops when data/ has them (else random
faces), N of them in memory (default 9,500, the corpus's size). Every path trains the
same network; each is compiled first, then timed for --steps steps, --repeat times,
interleaved with the others, and the best of each is reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def faces(n: int, data: Path, progress: bool):
    """A Split of n training faces: the prepared corpus's (with landmarks), or random."""
    import numpy as np

    from mesonet.training.dataset import Split, load_split

    rng = np.random.default_rng(0)
    if (data / "training").is_dir() and (data / "corpus.csv").is_file():
        split = load_split(data / "training", progress=progress)
        idx = rng.choice(len(split.y), n, replace=n > len(split.y))
        return Split(split.x[idx], split.y[idx], [split.files[i] for i in idx],
                     split.groups[idx], split.families[idx], split.landmarks[idx]), "corpus"
    x = rng.integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    y = (rng.random(n) < 0.5).astype(np.float32)
    return Split(x, y, [], np.array(["random"] * n), np.array([""] * n),
                 np.full((n, 68, 2), np.nan, np.float32)), "random"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=9500, help="faces in memory (default %(default)s)")
    p.add_argument("--steps", type=int, default=40, help="timed steps per repeat")
    p.add_argument("--repeat", type=int, default=2, help="interleaved repeats; best is kept")
    p.add_argument("--batch-size", type=int, default=75)
    p.add_argument("--model", default="meso4")
    p.add_argument("--precision", default="auto", help="df_CNN's path: auto, float32, "
                   "mixed_bfloat16")
    p.add_argument("--data", default=str(ROOT / "data"), help="prepared corpus, if any")
    p.add_argument("--pool", type=int, default=2000, help="SBI pairs made for the bench")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from mesonet.training.dataset import Augmentation, Batches, Mix, as_keras_dataset, forgery_pool

    split, kind = faces(args.n, Path(args.data), progress=False)
    pool_s, pool = None, None
    if not np.isnan(split.landmarks[:, 0, 0]).all():
        t = time.perf_counter()
        reals, fakes, _ = forgery_pool(split, "sbi", args.pool, progress=False)
        pool_s = time.perf_counter() - t
        pool = (reals, fakes)

    import keras

    from mesonet import classifiers
    from mesonet.training import train as df_CNN
    from mesonet.training.train import training_model

    precision = df_CNN.resolve_precision(args.precision, keras.backend.backend())
    print(f"backend {keras.backend.backend()}, {args.model}, {len(split.y)} {kind} faces in "
          f"memory, batch {args.batch_size}, {args.steps} steps x {args.repeat} (best), "
          f"df_CNN precision {precision}")
    xf = split.x[: args.steps * args.batch_size].astype(np.float32) / 255.0

    def make(path):
        keras.mixed_precision.set_dtype_policy("float32" if path == "plain" else precision)
        if path == "plain":
            model = classifiers.build(args.model)
        else:
            model = training_model(classifiers.build(args.model))
        model.compile(optimizer="adam", loss="mean_squared_error")
        keras.mixed_precision.set_dtype_policy("float32")
        if path == "plain":
            n = args.steps * args.batch_size
            return lambda: model.fit(xf[:n], split.y[:n], batch_size=args.batch_size,
                                     epochs=1, verbose=0, shuffle=True)
        mix = Mix(args.batch_size, path == "sbi", keep_collected=False)
        data, set_epoch = as_keras_dataset(Batches(split, args.batch_size, mix,
                                                   pool if path == "sbi" else None,
                                                   steps=args.steps, augment=Augmentation()))
        return lambda: model.fit(data, epochs=1, verbose=0, callbacks=[set_epoch])

    paths = ["plain", "df_CNN"] + (["sbi"] if pool else [])
    runs = {path: make(path) for path in paths}
    for run in runs.values():
        run()  # compilation, not timed
    best = {path: 0.0 for path in paths}
    for _ in range(args.repeat):
        for path, run in runs.items():
            t = time.perf_counter()
            run()
            best[path] = max(best[path], args.steps * args.batch_size / (time.perf_counter() - t))
    names = {"plain": "plain fit (float32, no augmentation)",
             "df_CNN": f"df_CNN.py, collected fakes ({precision})",
             "sbi": f"df_CNN.py, SBI pairs ({precision})"}
    for path in paths:
        print(f"{names[path]:<42} {best[path]:8.1f} images/s  ratio "
              f"{best[path] / best['plain']:.2f}")
    if pool_s is not None:
        per = pool_s / args.pool
        print(f"forgery pool: {args.pool} SBI pairs in {pool_s:.1f} s ({1000 * per:.1f} ms a "
              f"pair); df_CNN's default pool of 12,000 is made once per run, "
              f"{12000 * per / 500000 * 1000:.2f} ms per image of a 500,000-image run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
