"""Train MesoNet (or a baseline) on face crops, with the paper's recipe by default.

    python training/df_CNN.py --data data/ --output weights/meso4-mine.weights.h5
    python training/df_CNN.py --data data/ --init-weights meso4-df --learning-rate 1e-5
    python training/df_CNN.py --data data/ --synthesize-fakes sbi   # real faces only
    python training/df_CNN.py --data data/ --synthesize-fakes sbi --keep-collected-fakes
    python training/df_CNN.py --data data/ --synthesize-fakes sbi --exclude-groups cross-source

DATA holds training/ and validation/, each with df/ (or fake/) and real/ face crops;
labels df = 0, real = 1; a folder made by training/prepare_corpus.py also has corpus.csv
(groups, families, landmarks). Defaults are the paper's (Afchar et al. 2018, section 4):
Adam at 1e-3 divided by 10 every 1000 iterations down to 1e-6, batches of 75, squared
error on the sigmoid, augmentation by zoom 0.2, rotation 15 degrees, brightness 0.8-1.2,
channel shift 30 and horizontal flips.

Batches draw each source group in proportion to the square root of its size (no source
dominates) and leave out the DFDC fakes whose swap is missing in their frame. With
--synthesize-fakes, forged faces are made once, before training, into a pool of
--forge-pool pairs (a real face and its self-blended forgery, post-processed alike);
half of each batch are such pairs, or a quarter with --keep-collected-fakes. A sample
grid of the forgeries and their masks is written beside OUTPUT. --exclude-groups leaves
source groups out of training and validation (`cross-source`: DFDC, FF++/DFD and
StyleGAN2 with its matched reals, corpus.LEFT_OUT_SOURCES), for training/evaluate.py
--left-out to measure on. On a CPU with bfloat16 instructions the network computes in
bfloat16 with float32 weights (--precision).

Next to OUTPUT it writes the settings used (.settings.json), the history (.history.csv),
learning curves (.curves.png) and a resumable training state (.state.keras); the best
epoch on validation AUC is kept in OUTPUT. Run the same command again after an
interruption and training resumes after the last finished epoch.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import time
from pathlib import Path


from mesonet import cli  # noqa: E402
from mesonet.outputs import atomic_path, atomic_write_text  # noqa: E402
from mesonet.training.corpus import LEFT_OUT_SOURCES  # noqa: E402

logger = logging.getLogger("df_CNN")


def model_names():
    """What --model takes (without importing Keras: a wrong name fails at once)."""
    from mesonet.contract import ARCHITECTURES, BASELINE_ARCHITECTURES

    return list(ARCHITECTURES) + list(BASELINE_ARCHITECTURES)


def build_model(name: str, weights_file: str | None = None):
    from mesonet.training import baselines
    from mesonet import classifiers

    if name in classifiers.BUILDERS:
        return classifiers.build(name)
    if name in baselines.BASELINES:
        return baselines.build(name, weights_file)
    raise ValueError(f"Unknown model {name!r}; known models: {', '.join(model_names())}")


def training_model(base, fuse: bool = True):
    """uint8 faces -> /255 -> base network: what `fit` trains. The paper's augmentation runs
    before, on the host (dataset.Augmentation, in the batch workers beside the step); the
    rescaling stays float32 also when the network computes in bfloat16. With `fuse`, batch
    normalization trains through TensorFlow's fused kernel (fused_bn: the same statistics
    and variables, about half the step on a CPU)."""
    import keras
    from keras import layers, ops

    from mesonet.contract import FACE_SIZE
    from mesonet.training.fused_bn import fuse_batch_norm

    if fuse:
        fuse_batch_norm(base)

    inputs = keras.Input(shape=(FACE_SIZE, FACE_SIZE, 3), dtype="uint8", name="face_uint8")
    x = layers.Rescaling(1.0 / 255.0, name="to_unit_range", dtype="float32")(
        ops.cast(inputs, "float32"))
    return keras.Model(inputs, base(x), name=f"train_{base.name}")


def data_parallel(n: int, batch_size: int):
    """Spread every batch over n devices (keras.distribution.DataParallel: weights
    replicated, the batch split along its first axis, gradients averaged across devices by
    XLA), or a ValueError saying what is missing. On a CPU,
    XLA_FLAGS=--xla_force_host_platform_device_count=N makes N virtual devices."""
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(f"--devices {n} needs the JAX backend (Keras 3's distribution API): "
                         f"run with KERAS_BACKEND=jax; this is {keras.backend.backend()}")
    devices = keras.distribution.list_devices()
    if len(devices) < n:
        raise ValueError(f"--devices {n}: only {len(devices)} device(s) here ({devices}); on a "
                         f"CPU, XLA_FLAGS=--xla_force_host_platform_device_count={n} makes "
                         f"virtual ones")
    if batch_size % n:
        raise ValueError(f"--batch-size {batch_size} must divide evenly over --devices {n}")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[:n]))
    logger.info("Data-parallel over %d devices: %s", n, ", ".join(map(str, devices[:n])))


def learning_rate_schedule(initial: float, every: int, floor: float):
    """The paper's schedule: initial / 10 every `every` steps, never below `floor`."""
    import keras

    @keras.saving.register_keras_serializable("mesonet")
    class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, initial, every, floor):
            self.initial, self.every, self.floor = initial, every, floor

        def __call__(self, step):
            drops = keras.ops.floor(keras.ops.cast(step, "float32") / self.every)
            return keras.ops.maximum(self.initial * keras.ops.power(0.1, drops), self.floor)

        def get_config(self):
            return {"initial": self.initial, "every": self.every, "floor": self.floor}

    return StepDecay(initial, every, floor)


PRECISIONS = ("auto", "float32", "mixed_bfloat16")


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, backend: str) -> str:
    """'auto': mixed bfloat16 on TensorFlow on a CPU that has it (1.7x a float32 step,
    BENCHMARKS.md), float32 elsewhere."""
    if precision != "auto":
        return precision
    if backend == "tensorflow" and cpu_has_bfloat16():
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return "mixed_bfloat16"
    return "float32"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--data", default="data",
                   help="folder with training/ and validation/ (default: %(default)s)")
    p.add_argument("--model", default="meso4",
                   help="meso4, mesoinception4, meso1, or a baseline: cnn3, densenet121, "
                        "xception (default: %(default)s)")
    p.add_argument("--output", default="weights/meso4-trained.weights.h5",
                   help="where the best weights go (settings, history, curves beside them)")
    p.add_argument("--epochs", type=int, default=20,
                   help="epochs; validation after each (default: %(default)s)")
    p.add_argument("--steps", type=int, help="steps per epoch (default: one pass over the data)")
    p.add_argument("--batch-size", type=int, default=75, help="the paper's 75")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="the paper's 1e-3")
    p.add_argument("--lr-drop-every", type=int, default=1000,
                   help="divide the learning rate by 10 every N steps (the paper: 1000)")
    p.add_argument("--lr-floor", type=float, default=1e-6, help="the paper's 1e-6")
    p.add_argument("--loss", choices=["mse", "bce"], default="mse",
                   help="mse, the paper's, or binary cross-entropy")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--degrade", type=float, default=0.0, metavar="SHARE",
                   help="beyond the paper: this share of the faces also gets JPEG 40-100, "
                        "down-and-up scaling or a blur, alike for real and fake "
                        "(default: %(default)s)")
    p.add_argument("--synthesize-fakes", choices=["fwa", "sbi"],
                   help="make the df class from real crops by self-blending or face warping "
                        "(no collected fakes)")
    p.add_argument("--keep-collected-fakes", action="store_true",
                   help="with --synthesize-fakes: the collected fakes too (a quarter of each "
                        "batch each)")
    p.add_argument("--forge-pool", type=int, default=12000,
                   help="forged pairs made before training (default: %(default)s)")
    p.add_argument("--exclude-groups", nargs="+", default=[], metavar="GROUP",
                   help="source groups to leave out of training and validation: group names, "
                        f"{', '.join(LEFT_OUT_SOURCES)}, or cross-source (all three)")
    p.add_argument("--keep-near-identical", action="store_true",
                   help="train on the DFDC fakes flagged near-identical to their original too")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="what the network computes in; auto: mixed_bfloat16 on a CPU with "
                        "bfloat16 instructions, else float32")
    p.add_argument("--init-weights", help="start from these weights (name or file); the "
                   "authors advise --learning-rate 1e-5 for fine-tuning")
    p.add_argument("--backbone-weights", help="local weights file for a keras.applications "
                   "baseline (nothing can be downloaded)")
    p.add_argument("--restart", action="store_true", help="ignore a saved state and start over")
    p.add_argument("--devices", type=int, default=1,
                   help="train data-parallel on N accelerators (Keras 3's DataParallel; "
                        "needs KERAS_BACKEND=jax; each device takes batch-size / N faces of "
                        "every batch) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds initialisation, batches, augmentation and forgeries "
                        "(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def outputs_of(output: Path) -> dict[str, Path]:
    stem = output.name.removesuffix(".weights.h5").removesuffix(".h5")
    folder = output.parent
    return {"weights": folder / f"{stem}.weights.h5", "settings": folder / f"{stem}.settings.json",
            "history": folder / f"{stem}.history.csv", "curves": folder / f"{stem}.curves.png",
            "state": folder / f"{stem}.state.keras",
            "samples": folder / f"{stem}.samples.png"}


def check_arguments(args) -> dict[str, Path]:
    """Every check that can fail, before any long work starts."""
    if args.model not in model_names():
        raise ValueError(f"Unknown model {args.model!r}; known models: {', '.join(model_names())}")
    for name in ("epochs", "batch_size", "lr_drop_every", "forge_pool", "devices"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; received "
                             f"{getattr(args, name)}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1; received {args.steps}")
    if args.synthesize_fakes and args.batch_size < 4:
        raise ValueError(f"--batch-size must be at least 4 with --synthesize-fakes; received "
                         f"{args.batch_size}")
    if not 0.0 <= args.degrade <= 1.0:
        raise ValueError(f"--degrade is a share of the faces, from 0 to 1; received "
                         f"{args.degrade}")
    if args.degrade and args.no_augment:
        raise ValueError("--degrade is part of the augmentation: it cannot go with --no-augment")
    if args.keep_collected_fakes and not args.synthesize_fakes:
        raise ValueError("--keep-collected-fakes goes with --synthesize-fakes fwa|sbi")
    if args.init_weights:
        from mesonet import zoo

        try:
            zoo.check_architecture(zoo.resolve(args.init_weights), args.model)
        except ValueError as e:
            raise ValueError(f"--init-weights: {e}") from None
    paths = outputs_of(Path(args.output))
    folder = paths["weights"].parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"Output folder {folder} cannot be written: {e}") from None
    for split in ("training", "validation"):
        if not (Path(args.data) / split).is_dir():
            raise FileNotFoundError(f"{Path(args.data) / split} does not exist: --data must hold "
                                    "training/ and validation/, each with df/ and real/")
    return paths


def plot_curves(history_csv: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    for ax, metric in zip(axes, ("loss", "auc")):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            if key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def load_data(args, progress: bool):
    """The training and validation splits, and the forgery pool when fakes are made."""
    from mesonet.training.dataset import forgery_pool, load_split

    data = Path(args.data)
    train = load_split(data / "training", args.exclude_groups,
                       drop_near_identical=not args.keep_near_identical, progress=progress)
    val = load_split(data / "validation", args.exclude_groups,
                     drop_near_identical=not args.keep_near_identical, progress=progress)
    for name, split in (("training", train), ("validation", val)):
        if len(set(split.y.tolist())) < 2:
            raise ValueError(f"{data / name}: after leaving out {args.exclude_groups}, only "
                             f"one class is left ({len(split.y)} faces)")
    logger.info("training: %d faces (%d df, %d real) from %d groups; left out: %s; "
                "validation: %d faces", len(train.y), int((train.y == 0).sum()), train.n_real,
                len(set(train.groups.tolist())), train.counts, len(val.y))
    pool = None
    if args.synthesize_fakes:
        if train.counts["without_landmarks"]:
            logger.warning("%d real faces have no landmarks in %s (an older prepared folder?); "
                           "they are not forged, only shown as real. Rerun "
                           "training/prepare_corpus.py to add them", train.counts["without_landmarks"],
                           data / "corpus.csv")
        reals, fakes, failed = forgery_pool(train, args.synthesize_fakes, args.forge_pool,
                                            args.seed, progress=progress)
        pool = (reals, fakes)
        train.counts["forgeries_failed"] = failed
        train.counts["forgeries"] = len(fakes)
        if failed:
            logger.warning("%d of %d faces gave an empty mask and were skipped", failed,
                           args.forge_pool)
    return train, val, pool


def write_sample_grid(train, method: str, path: Path, seed: int) -> None:
    """Forged samples with their masks (rows: original, forgery, mask), beside OUTPUT."""
    import numpy as np
    from PIL import Image

    from mesonet.training.synthesize import sample_grid

    rng = np.random.default_rng(seed)
    real = np.flatnonzero((train.y == 1) & ~np.isnan(train.landmarks[:, 0, 0]))
    pick = rng.choice(real, min(len(real), 24), replace=False)
    grid = sample_grid(train.x[pick], train.landmarks[pick], method, rng, n=8)
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")


def build_training_model(args, precision: str):
    """(base network, compiled training model), with --init-weights loaded."""
    import keras

    from mesonet import classifiers

    keras.mixed_precision.set_dtype_policy(precision)
    base = build_model(args.model, args.backbone_weights)
    if args.init_weights:  # its architecture was checked by check_arguments
        from mesonet import zoo

        classifiers.load_weights_file(base, zoo.resolve(args.init_weights).path)
    model = training_model(base)
    schedule = learning_rate_schedule(args.learning_rate, args.lr_drop_every, args.lr_floor)
    loss = "mean_squared_error" if args.loss == "mse" else "binary_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss=loss,
                  metrics=["accuracy", keras.metrics.AUC(name="auc")])
    return base, model


def resume(args, paths, base, model, steps: int):
    """(base, model, initial epoch, best val AUC): from the saved state when there is one.

    The state's step count says how many epochs it holds: history rows beyond them (an
    epoch logged, then killed before its state was saved) are dropped, so no epoch is
    counted twice or skipped."""
    import keras

    from mesonet.training.fused_bn import fuse_batch_norm

    if args.restart or not (paths["state"].exists() and paths["history"].exists()):
        if paths["history"].exists():  # a restart, or a run killed before its first state
            paths["history"].unlink()
        return base, model, 0, -math.inf
    saved = json.loads(paths["settings"].read_text()) if paths["settings"].exists() else {}
    if saved.get("model") != args.model:
        raise ValueError(f"{paths['state']} holds a {saved.get('model')} run, not "
                         f"{args.model}; use --restart or another --output")
    # the saved state holds weights, optimizer moments and the step count (so the
    # learning-rate schedule goes on where it stopped)
    model = keras.saving.load_model(paths["state"], compile=True)
    base = model.get_layer(base.name)
    fuse_batch_norm(base)  # a saved state holds plain Keras layers
    with open(paths["history"], newline="") as f:
        rows = list(csv.DictReader(f))
    done = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) // steps
    if len(rows) > done:
        from mesonet.outputs import atomic_write_text, csv_text

        logger.info("History had %d epochs, the state %d: the rest is done again",
                    len(rows), done)
        rows = rows[:done]
        atomic_write_text(paths["history"], csv_text(rows, list(rows[0]) if rows else []))
    best = max((float(r["val_auc"]) for r in rows), default=-math.inf)
    logger.info("Resuming %s after epoch %d (best val AUC %.4f)", paths["state"], len(rows),
                best)
    return base, model, len(rows), best


def reseed_dropout_callback(model, seed: int):
    """Each epoch's dropout masks from (seed, epoch), not from a generator state that the
    saved training state does not hold: a resumed run draws what an uninterrupted run
    would have drawn."""
    import keras
    import numpy as np

    generators = [layer.seed_generator for layer in model._flatten_layers()
                  if isinstance(getattr(layer, "seed_generator", None),
                                keras.random.SeedGenerator)]

    class ReseedDropout(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for k, generator in enumerate(generators):
                state = np.array([seed * 1_000_003 + k, epoch], dtype=generator.state.dtype)
                generator.state.assign(state)

    return ReseedDropout()


def keep_best_callback(paths, base, model, settings, best):
    """Best weights on validation AUC into OUTPUT; the full state after every epoch."""
    import keras

    from mesonet import classifiers

    class KeepBest(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = best

        def on_epoch_end(self, epoch, logs=None):
            if logs["val_auc"] > self.best:
                self.best = logs["val_auc"]
                classifiers.save_weights_file(
                    base, paths["weights"], trained_with=json.dumps(settings),
                    epoch=epoch + 1, val_auc=float(logs["val_auc"]),
                    val_accuracy=float(logs["val_accuracy"]))
                logger.info("epoch %d: val AUC %.4f, saved %s", epoch + 1, self.best,
                            paths["weights"])
            with atomic_path(paths["state"], suffix=".keras") as tmp:
                model.save(tmp)
            plot_curves(paths["history"], paths["curves"])

    return KeepBest()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.verbose)
    progress = not args.no_progress
    try:
        paths = check_arguments(args)
        from mesonet.outputs import remove_stale

        for path in paths.values():
            remove_stale(path)  # what a killed run was writing
        # data and forgeries first, before TensorFlow starts its threads
        train, val, pool = load_data(args, progress)
        if args.synthesize_fakes:
            write_sample_grid(train, args.synthesize_fakes, paths["samples"], args.seed)
        import keras

        from mesonet.training.dataset import Augmentation, Batches, Mix, as_keras_dataset

        keras.utils.set_random_seed(args.seed)
        if args.devices > 1:
            data_parallel(args.devices, args.batch_size)
        precision = resolve_precision(args.precision, keras.backend.backend())
        base, model = build_training_model(args, precision)
        steps = args.steps or max(1, len(train.y) // args.batch_size)
        settings = {k: v for k, v in vars(args).items()
                    if k not in ("no_progress", "verbose", "devices")}
        settings.update({"steps_per_epoch": steps, "backend": keras.backend.backend(),
                         "precision_used": precision, "keras": keras.__version__,
                         "n_train": len(train.y), "n_val": len(val.y),
                         "left_out": {"training": train.counts, "validation": val.counts},
                         "groups": sorted(set(train.groups.tolist())),
                         "labels": {"df": 0, "real": 1}})
        base, model, initial_epoch, best = resume(args, paths, base, model, steps)
        mix = Mix(args.batch_size, bool(args.synthesize_fakes), args.keep_collected_fakes)
        batches = Batches(train, args.batch_size, mix, pool, args.seed, steps,
                          augment=None if args.no_augment else Augmentation(degrade=args.degrade))
    except (ValueError, OSError) as e:
        logger.error("%s", e)
        return 2
    atomic_write_text(paths["settings"], json.dumps(settings, indent=1) + "\n")
    data, set_epoch = as_keras_dataset(batches)  # epoch e draws batches (seed, e, 0..steps-1)
    started = time.time()
    model.fit(data, epochs=args.epochs, initial_epoch=initial_epoch,
              shuffle=False,  # batches are random draws already; Keras' shuffle is unseeded
              validation_data=(val.x, val.y), validation_batch_size=128,
              verbose=1 if progress else 2,
              callbacks=[set_epoch, reseed_dropout_callback(model, args.seed),
                         keras.callbacks.CSVLogger(paths["history"], append=True),
                         keep_best_callback(paths, base, model, settings, best)])
    elapsed = time.time() - started
    done = args.epochs - initial_epoch
    if done > 0:
        logger.info("%.1f s per epoch, %.0f images/s including validation", elapsed / done,
                    done * steps * args.batch_size / elapsed)
    print(f"Best weights: {paths['weights']} (history {paths['history']}, "
          f"curves {paths['curves']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
