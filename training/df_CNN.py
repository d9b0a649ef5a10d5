"""Train MesoNet (or a baseline) on face crops, with the paper's recipe by default.

    python training/df_CNN.py --data data/ --output weights/meso4-mine.weights.h5
    python training/df_CNN.py --data data/ --init-weights meso4-df --learning-rate 1e-5
    python training/df_CNN.py --data data/ --synthesize-fakes sbi   # real faces only
    python training/df_CNN.py --data data/ --synthesize-fakes sbi --keep-collected-fakes

DATA holds training/ and validation/, each with df/ (or fake/) and real/ face crops;
labels df = 0, real = 1. Defaults are the paper's (Afchar et al. 2018, section 4):
Adam at 1e-3 divided by 10 every 1000 iterations down to 1e-6, batches of 75, squared
error on the sigmoid, augmentation by zoom 0.2, rotation 15 degrees, brightness 0.8-1.2,
channel shift 30 and horizontal flips.

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
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import reporting  # noqa: E402

logger = logging.getLogger("df_CNN")


def model_names():
    import baselines
    import classifiers

    return list(classifiers.BUILDERS) + list(baselines.BASELINES)


def build_model(name: str, weights_file: str | None = None):
    import baselines
    import classifiers

    if name in classifiers.BUILDERS:
        return classifiers.build(name)
    if name in baselines.BASELINES:
        return baselines.build(name, weights_file)
    raise ValueError(f"Unknown model {name!r}; known models: {', '.join(model_names())}")


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--data", default="data", help="folder with training/ and validation/")
    p.add_argument("--model", default="meso4",
                   help="meso4, mesoinception4, meso1, or a baseline: cnn3, densenet121, xception")
    p.add_argument("--output", default="weights/meso4-trained.weights.h5",
                   help="where the best weights go (settings, history, curves beside them)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--steps", type=int, help="steps per epoch (default: one pass over the data)")
    p.add_argument("--batch-size", type=int, default=75, help="the paper's 75")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="the paper's 1e-3")
    p.add_argument("--lr-drop-every", type=int, default=1000,
                   help="divide the learning rate by 10 every N steps (the paper: 1000)")
    p.add_argument("--lr-floor", type=float, default=1e-6, help="the paper's 1e-6")
    p.add_argument("--loss", choices=["mse", "bce"], default="mse",
                   help="mse, the paper's, or binary cross-entropy")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--synthesize-fakes", choices=["fwa", "sbi"],
                   help="make the df class on the fly from real crops (no collected fakes)")
    p.add_argument("--keep-collected-fakes", action="store_true",
                   help="with --synthesize-fakes: train on the collected fakes too, and forge "
                        "a fifth of the real faces of each batch")
    p.add_argument("--init-weights", help="start from these weights (name or file); the "
                   "authors advise --learning-rate 1e-5 for fine-tuning")
    p.add_argument("--backbone-weights", help="local weights file for a keras.applications "
                   "baseline (nothing can be downloaded)")
    p.add_argument("--restart", action="store_true", help="ignore a saved state and start over")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def outputs_of(output: Path) -> dict[str, Path]:
    stem = output.name.removesuffix(".weights.h5").removesuffix(".h5")
    folder = output.parent
    return {"weights": folder / f"{stem}.weights.h5", "settings": folder / f"{stem}.settings.json",
            "history": folder / f"{stem}.history.csv", "curves": folder / f"{stem}.curves.png",
            "state": folder / f"{stem}.state.keras"}


def check_arguments(args) -> dict[str, Path]:
    """Every check that can fail, before any long work starts."""
    if args.model not in model_names():
        raise ValueError(f"Unknown model {args.model!r}; known models: {', '.join(model_names())}")
    for name in ("epochs", "batch_size", "lr_drop_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.steps is not None and args.steps < 1:
        raise ValueError("--steps must be at least 1")
    if args.keep_collected_fakes and not args.synthesize_fakes:
        raise ValueError("--keep-collected-fakes goes with --synthesize-fakes fwa|sbi")
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
    tmp = png.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    reporting.setup_logging(args.verbose)
    try:
        paths = check_arguments(args)
        import keras

        import classifiers
        from data import Batches, list_split, load_images, training_model

        keras.utils.set_random_seed(args.seed)
        base = build_model(args.model, args.backbone_weights)
        if args.init_weights:
            arch = classifiers.architecture_of_weights(args.init_weights)
            if arch and arch != base.name:
                raise ValueError(f"--init-weights {args.init_weights} are for {arch}, "
                                 f"not {base.name}")
            classifiers.load_weights_file(base, classifiers.resolve_weights(args.init_weights))
        train_files, train_labels = list_split(Path(args.data) / "training")
        val_files, val_labels = list_split(Path(args.data) / "validation")
    except (ValueError, OSError) as e:
        logger.error("%s", e)
        return 2

    progress = not args.no_progress
    x_train, y_train, _, skipped_train = load_images(train_files, train_labels, progress=progress)
    x_val, y_val, _, skipped_val = load_images(val_files, val_labels, progress=progress)
    logger.info("training: %d faces (%d df, %d real), %d unreadable skipped; validation: %d "
                "(%d unreadable skipped)", len(y_train), int((y_train == 0).sum()),
                int((y_train == 1).sum()), skipped_train, len(y_val), skipped_val)

    steps = args.steps or max(1, len(x_train) // args.batch_size)
    settings = {k: v for k, v in vars(args).items() if k not in ("no_progress", "verbose")}
    settings.update({"steps_per_epoch": steps, "backend": keras.backend.backend(),
                     "keras": keras.__version__, "n_train": len(y_train), "n_val": len(y_val),
                     "skipped_unreadable": skipped_train + skipped_val,
                     "labels": {"df": 0, "real": 1}})

    model = training_model(base, augment=not args.no_augment, seed=args.seed)
    schedule = learning_rate_schedule(args.learning_rate, args.lr_drop_every, args.lr_floor)
    loss = "mean_squared_error" if args.loss == "mse" else "binary_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss=loss,
                  metrics=["accuracy", keras.metrics.AUC(name="auc")])
    initial_epoch, best = 0, -math.inf
    if paths["state"].exists() and paths["history"].exists() and not args.restart:
        saved = json.loads(paths["settings"].read_text()) if paths["settings"].exists() else {}
        if saved.get("model") != args.model:
            logger.error("%s holds a %s run; use --restart or another --output",
                         paths["state"], saved.get("model"))
            return 2
        # the saved state holds weights, optimizer moments and the step count (so the
        # learning-rate schedule goes on where it stopped)
        model = keras.saving.load_model(paths["state"], compile=True)
        base = model.get_layer(base.name)
        with open(paths["history"], newline="") as f:
            rows = list(csv.DictReader(f))
        initial_epoch = len(rows)
        best = max((float(r["val_auc"]) for r in rows), default=-math.inf)
        logger.info("Resuming %s after epoch %d (best val AUC %.4f)", paths["state"],
                    initial_epoch, best)
    elif args.restart and paths["history"].exists():
        paths["history"].unlink()
    reporting.atomic_write_text(paths["settings"], json.dumps(settings, indent=1) + "\n")

    class KeepBest(keras.callbacks.Callback):
        """Best weights on validation AUC into OUTPUT; the full state after every epoch."""

        def __init__(self, best):
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
            tmp = paths["state"].with_name(".tmp." + paths["state"].name)
            model.save(tmp)
            os.replace(tmp, paths["state"])
            plot_curves(paths["history"], paths["curves"])

    started = time.time()
    train = Batches(x_train, y_train, args.batch_size, args.synthesize_fakes, args.seed,
                    steps=steps, keep_collected=args.keep_collected_fakes)
    model.fit(train, epochs=args.epochs, initial_epoch=initial_epoch,
              validation_data=(x_val, y_val), validation_batch_size=128,
              verbose=1 if progress else 2,
              callbacks=[keras.callbacks.CSVLogger(paths["history"], append=True),
                         KeepBest(best)])
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
