"""Face-crop datasets for training and evaluation, and the paper's augmentation.

Layout (the original's): ROOT/{training,validation}/{df,real}/*.jpg; `fake/` is
accepted for `df/`. Labels: df = 0, real = 1 (P(real) is the network's output).

Images are decoded once, in parallel threads, into a uint8 cache in memory (256 x 256
x 3 = 192 KiB a face: 12,000 faces take 2.3 GB); batches are uint8 and augmentation
runs inside the compiled training step as Keras layers, so the host only copies bytes
and the same code runs on TensorFlow (CPU) and JAX (GPU).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import keras
from keras import layers, ops

logger = logging.getLogger(__name__)

CLASS_FOLDERS = {"df": 0, "fake": 0, "real": 1}
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def list_split(folder: str | os.PathLike) -> tuple[list[Path], np.ndarray]:
    """Files and labels of one split folder (df/ or fake/ = 0, real/ = 1)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Dataset folder {folder} does not exist")
    files, labels = [], []
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and sub.name.lower() in CLASS_FOLDERS:
            found = sorted(p for p in sub.rglob("*") if p.suffix.lower() in SUFFIXES)
            files += found
            labels += [CLASS_FOLDERS[sub.name.lower()]] * len(found)
    labels = np.array(labels, np.float32)
    counts = {name: int((labels == value).sum()) for name, value in (("df", 0), ("real", 1))}
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise ValueError(f"Dataset folder {folder} has no images in its "
                         f"{' and '.join(empty)} class folder (expected df/ or fake/, and real/)"
                         f"; found {counts}")
    return files, labels


def _decode(path) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.size != (256, 256):
                img = img.resize((256, 256), Image.BILINEAR)
            return np.asarray(img, np.uint8)
    except Exception as e:  # a corrupt file is skipped and counted, not fatal
        logger.warning("Skipping %s: %s", path, e)
        return None


def load_images(files, labels, workers: int | None = None, progress: bool = True):
    """Decode files into (uint8 N x 256 x 256 x 3, labels, kept files, n_skipped)."""
    from tqdm import tqdm

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        decoded = list(tqdm(pool.map(_decode, files), total=len(files), unit="img",
                            disable=not progress, desc="decoding"))
    keep = [i for i, d in enumerate(decoded) if d is not None]
    if not keep:
        raise ValueError("No image in the dataset could be decoded")
    x = np.stack([decoded[i] for i in keep])
    return x, labels[keep], [files[i] for i in keep], len(files) - len(keep)


SYNTHESIZED_SHARE = 0.2  # with collected fakes kept: the share of real faces forged


class Batches(keras.utils.PyDataset):
    """Shuffled uint8 batches from an in-memory cache, optionally with forged faces
    synthesised on the fly from the real ones: the df class then comes only from them,
    or, with keep_collected, a share (SYNTHESIZED_SHARE) of the real faces of each batch
    is forged and joins the collected fakes."""

    def __init__(self, x, y, batch_size: int, synthesize: str | None = None, seed: int = 0,
                 workers: int = 2, steps: int | None = None, keep_collected: bool = False):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.synthesize = x, y, batch_size, synthesize
        self.keep_collected = keep_collected
        self.rng = np.random.default_rng(seed)
        self.real = np.flatnonzero(y == 1)
        self.order = self.rng.permutation(len(x))
        self.steps = steps or max(1, len(x) // batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        rng = np.random.default_rng((self.rng.integers(1 << 30), i))
        if self.synthesize and not self.keep_collected:
            idx = rng.choice(self.real, self.batch_size)
            return self._forge(self.x[idx], np.ones(self.batch_size, np.float32),
                               rng.random(self.batch_size) < 0.5, rng)
        start = (i * self.batch_size) % len(self.order)
        idx = self.order[start:start + self.batch_size]
        if len(idx) < self.batch_size:
            idx = np.concatenate([idx, self.order[: self.batch_size - len(idx)]])
        if self.synthesize:
            forge = (self.y[idx] == 1) & (rng.random(len(idx)) < SYNTHESIZED_SHARE)
            return self._forge(self.x[idx], self.y[idx], forge, rng)
        return self.x[idx], self.y[idx]

    def _forge(self, x, y, which, rng):
        """Copies of the batch with the faces picked by `which` forged and labelled df."""
        from synthesize import synthesize

        x, y = x.copy(), y.astype(np.float32)
        for j in np.flatnonzero(which):
            x[j] = synthesize(x[j], self.synthesize, rng)
        y[which] = 0
        return x, y

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


# --------------------------------------------------------------------------------------
# The paper's augmentation as layers (active only in training)


@keras.saving.register_keras_serializable("mesonet")
class RandomBrightnessScale(layers.Layer):
    """Multiply each image by a factor in [low, high] (Keras 2's brightness_range)."""

    def __init__(self, low=0.8, high=1.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = low, high
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        shape = (ops.shape(x)[0], 1, 1, 1)
        factor = keras.random.uniform(shape, self.low, self.high, seed=self.seed_generator)
        return ops.clip(x * factor, 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


@keras.saving.register_keras_serializable("mesonet")
class RandomChannelShift(layers.Layer):
    """Add one offset in [-intensity, intensity] to each channel (Keras 2's channel_shift_range)."""

    def __init__(self, intensity=30.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.intensity = intensity
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        shape = (ops.shape(x)[0], 1, 1, ops.shape(x)[-1])
        shift = keras.random.uniform(shape, -self.intensity, self.intensity,
                                     seed=self.seed_generator)
        return ops.clip(x + shift, 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "intensity": self.intensity}


def augmentation(zoom=0.2, rotation_deg=15.0, brightness=(0.8, 1.2), channel_shift=30.0,
                 flip=True, seed=None) -> keras.Sequential:
    """The paper's augmentation on 0-255 float images (then the model rescales)."""
    steps = [layers.RandomZoom((-zoom, zoom), fill_mode="nearest", seed=seed),
             layers.RandomRotation(rotation_deg / 360.0, fill_mode="nearest", seed=seed),
             RandomBrightnessScale(*brightness, seed=seed),
             RandomChannelShift(channel_shift, seed=seed)]
    if flip:
        steps.insert(0, layers.RandomFlip("horizontal", seed=seed))
    return keras.Sequential(steps, name="augmentation")


def training_model(base: keras.Model, augment: bool = True, seed=None) -> keras.Model:
    """uint8 faces -> (augmentation) -> /255 -> base network; what `fit` trains."""
    inputs = keras.Input(shape=(256, 256, 3), dtype="uint8", name="face_uint8")
    x = ops.cast(inputs, "float32")
    if augment:
        x = augmentation(seed=seed)(x)
    x = layers.Rescaling(1.0 / 255.0, name="to_unit_range")(x)
    return keras.Model(inputs, base(x), name=f"train_{base.name}")
