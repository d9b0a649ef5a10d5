"""Face crops for training and evaluation: decoding, group weighting, forgery pools, batches.

Layout (the original's): ROOT/{training,validation}/{df,real}/*.jpg; `fake/` and the
other names of contract.LABEL_FOLDERS are accepted for `df/`. Labels: df = 0, real = 1 (P(real) is the network's output). A folder
made by training/prepare_corpus.py also has ROOT/corpus.csv: source groups, forgery
families and landmarks, which group weighting, --exclude-groups and self-blending need.

Images are decoded once, by media.py as scoring decodes them, in parallel threads, into a
uint8 cache in memory (256 x 256 x 3 = 192 KiB a face). Forged faces for self-blending
are made once per run into a pool by worker processes, before training starts, so that
the training loop only copies bytes. This module needs no Keras.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mesonet.contract import LABEL_FOLDERS
from mesonet.media import IMAGE_SUFFIXES
from mesonet.training.corpus import crop_key, expand_groups, manifest_of, read_manifest

logger = logging.getLogger(__name__)

SUFFIXES = IMAGE_SUFFIXES  # the image files scoring reads, read the same way
GROUP_POWER = 0.5  # a group is drawn with weight n**0.5: big sources count, none dominates


def list_split(folder: str | os.PathLike) -> tuple[list[Path], np.ndarray]:
    """Files and labels of one split folder: its class folders are named as
    contract.LABEL_FOLDERS says (df/, fake/, deepfake/ ... = 0, real/ = 1)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Dataset folder {folder} does not exist")
    files, labels = [], []
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and sub.name.lower() in LABEL_FOLDERS:
            found = sorted(p for p in sub.rglob("*") if p.suffix.lower() in SUFFIXES)
            files += found
            labels += [LABEL_FOLDERS[sub.name.lower()]] * len(found)
    labels = np.array(labels, np.float32)
    counts = {name: int((labels == value).sum()) for name, value in (("df", 0), ("real", 1))}
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise ValueError(f"Dataset folder {folder} has no images in its "
                         f"{' and '.join(empty)} class folder (expected df/ or fake/, and real/)"
                         f"; found {counts}")
    return files, labels


def _decode(path) -> np.ndarray | None:
    from mesonet.media import MediaError, load_face_crop

    try:
        return load_face_crop(path)
    except MediaError as e:  # a corrupt file is skipped and counted, not fatal
        logger.warning("Skipping %s", e)
        return None


def decode_all(files, workers: int | None = None, progress: bool = True) -> list:
    from mesonet.progress import progress as show_progress

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        return list(show_progress(pool.map(_decode, files), total=len(files), unit="img",
                         enabled=progress, desc="decoding"))


@dataclass
class Split:
    """The decoded faces of one split with what the manifest says of each."""
    x: np.ndarray  # uint8 N x 256 x 256 x 3
    y: np.ndarray  # float32, df = 0, real = 1
    files: list
    groups: np.ndarray  # source group of each face ('' when unknown)
    families: np.ndarray
    landmarks: np.ndarray  # float32 N x 68 x 2, NaN where unknown
    counts: dict = field(default_factory=dict)  # what was left out, and why

    @property
    def n_real(self) -> int:
        return int((self.y == 1).sum())


def load_split(folder: str | os.PathLike, exclude_groups=(), drop_near_identical: bool = False,
               progress: bool = True) -> Split:
    """Decode a split folder; with a manifest beside it, drop excluded groups (names as
    corpus.expand_groups takes them) and, if asked, the near-identical DFDC fakes."""
    folder = Path(folder)
    files, labels = list_split(folder)
    manifest = manifest_of(folder)
    info = {}
    if manifest is not None:
        root = manifest.parent
        info = {crop_key(root / r["crop"]): r for r in read_manifest(manifest) if r["crop"]}
    excluded = expand_groups(exclude_groups)
    counts = {"excluded_groups": 0, "near_identical": 0, "unreadable": 0,
              "without_landmarks": 0}
    keep = []
    for f in files:
        row = info.get(crop_key(f), {})
        group = row.get("group") or (f.name.split("__")[0] if "__" in f.name else "")
        if group in excluded:
            counts["excluded_groups"] += 1
        elif drop_near_identical and row.get("near_identical"):
            counts["near_identical"] += 1
        else:
            keep.append((f, row, group))
    decoded = decode_all([f for f, _, _ in keep], progress=progress)
    ok = [i for i, d in enumerate(decoded) if d is not None]
    counts["unreadable"] = len(keep) - len(ok)
    if not ok:
        raise ValueError(f"No image in {folder} could be decoded (after leaving out "
                         f"{counts['excluded_groups']} of excluded groups)")
    marks = np.full((len(ok), 68, 2), np.nan, np.float32)
    for j, i in enumerate(ok):
        if keep[i][1].get("landmarks") is not None:
            marks[j] = keep[i][1]["landmarks"]
    label_of = {f: labels[k] for k, f in enumerate(files)}
    y = np.array([label_of[keep[i][0]] for i in ok], np.float32)
    counts["without_landmarks"] = int(np.isnan(marks[y == 1, 0, 0]).sum())
    return Split(np.stack([decoded[i] for i in ok]), y, [keep[i][0] for i in ok],
                 np.array([keep[i][2] for i in ok]),
                 np.array([keep[i][1].get("family") or ("real" if label_of[keep[i][0]] else "")
                           for i in ok]), marks, counts)


def group_weights(groups: np.ndarray, power: float = GROUP_POWER) -> np.ndarray:
    """Sampling probabilities: each group in proportion to n**power, uniform inside."""
    names, inverse, n = np.unique(groups, return_inverse=True, return_counts=True)
    w = (n ** power / n)[inverse]
    return w / w.sum()


# --------------------------------------------------------------------------------------
# Self-blended (or face-warped) forgeries, made once per run by worker processes


def _forge_chunk(args):
    crops, marks, method, seed = args
    from mesonet.training.synthesize import MaskError, post_process, synthesize

    rng = np.random.default_rng(seed)
    reals, fakes, failed = [], [], 0
    for crop, m in zip(crops, marks):
        try:
            fake, _ = synthesize(crop, m, method, rng)
        except MaskError:
            failed += 1
            continue
        real, fake = post_process(crop, fake, rng)
        reals.append(real)
        fakes.append(fake)
    return reals, fakes, failed


def forgery_pool(split: Split, method: str, size: int, seed: int = 0,
                 workers: int | None = None, progress: bool = True):
    """(reals, fakes, n_failed): `size` pairs of a real face and its forgery, each pair
    with the same post-processing, from the real faces that have landmarks (drawn with
    group weights). Faces whose mask comes out empty are skipped and counted."""
    from multiprocessing import get_context

    from mesonet.progress import progress as show_progress

    real = np.flatnonzero((split.y == 1) & ~np.isnan(split.landmarks[:, 0, 0]))
    if len(real) == 0:
        raise ValueError("No real face has landmarks, so none can be self-blended: prepare "
                         "the data with training/prepare_corpus.py (it stores them)")
    rng = np.random.default_rng(seed)
    pick = rng.choice(real, size, p=group_weights(split.groups[real]))
    chunk = 64
    jobs = [(split.x[pick[i:i + chunk]], split.landmarks[pick[i:i + chunk]], method,
             (seed, i)) for i in range(0, size, chunk)]
    reals, fakes, failed = [], [], 0
    # spawn: the parent may hold TensorFlow's threads, which fork does not survive
    with get_context("spawn").Pool(workers or os.cpu_count() or 1) as pool:
        for r, f, n in show_progress(pool.imap(_forge_chunk, jobs), total=len(jobs), unit="x64",
                            enabled=progress, desc=f"forging ({method})"):
            reals += r
            fakes += f
            failed += n
    if not fakes:
        raise ValueError(f"No {method} forgery could be made: every mask came out empty")
    return np.stack(reals), np.stack(fakes), failed


# --------------------------------------------------------------------------------------
# The paper's augmentation, on the host, on uint8 batches


@dataclass(frozen=True)
class Augmentation:
    """The paper's augmentation (Keras 2's ImageDataGenerator settings of the original):
    zoom 0.2 (x and y each in [0.8, 1.2]), rotation 15 degrees, horizontal flips, fill by
    the nearest edge pixel; brightness 0.8-1.2 and a shift of up to 30 per channel.

    With `degrade` > 0 (df_CNN.py --degrade; not the paper's), that share of the faces then
    gets one of: JPEG at quality 40-100, scaling down to 0.5-1 and back up, a Gaussian
    blur of sigma 0.3-1.5 or sharpening, drawn alike for real and forged faces, so that how a source was
    compressed or scaled is not a cue (DeepfakeBench trains every detector with such)."""
    zoom: float = 0.2
    rotation_deg: float = 15.0
    brightness: tuple = (0.8, 1.2)
    channel_shift: float = 30.0
    flip: bool = True
    # beyond the paper: the share of faces given one quality degradation afterwards (0: none)
    degrade: float = 0.0

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new uint8 batch (N x H x W x 3), each face with its own draw. OpenCV warps
        uint8 faces in a few hundred microseconds and lets other threads run, so this runs
        in the batch workers beside the training step, not inside it."""
        import cv2

        n, h, w = x.shape[:3]
        out = np.empty_like(x)
        zx, zy = (rng.uniform(1 - self.zoom, 1 + self.zoom, n) for _ in range(2))
        angle = np.radians(rng.uniform(-self.rotation_deg, self.rotation_deg, n))
        flip = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        gain = rng.uniform(*self.brightness, n)
        shift = rng.uniform(-self.channel_shift, self.channel_shift, (n, 3))
        c = np.array([(w - 1) / 2, (h - 1) / 2])
        levels = np.arange(256, dtype=np.float32)[:, None]
        for i in range(n):
            cos, sin = np.cos(angle[i]), np.sin(angle[i])
            # output pixel -> source pixel: flip, rotate, zoom about the centre (as Keras 2)
            a = np.array([[cos, -sin], [sin, cos]]) @ np.diag([zx[i], zy[i]])
            if flip[i]:
                a = a @ np.diag([-1.0, 1.0])
            m = np.hstack([a, (c - a @ c)[:, None]])
            face = cv2.warpAffine(x[i], m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE)
            # gain and shift per channel as a lookup table: the values cv2.transform
            # gives (rounded, saturated to [0, 255]) in under half its time
            lut = np.clip(np.rint(levels * np.float32(gain[i]) + shift[i].astype(np.float32)),
                          0, 255).astype(np.uint8)
            cv2.LUT(face, lut[:, None, :], dst=out[i])
        if self.degrade > 0:  # drawn only then: the paper's draws stay as they were
            for i in np.flatnonzero(rng.random(n) < self.degrade):
                out[i] = degrade(out[i], rng)
        return out


def degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One change of quality of a uint8 RGB face, drawn from rng: JPEG at quality 40-100,
    down-and-up scaling by 0.5-1, a Gaussian blur of sigma 0.3-1.5, or sharpening (an
    unsharp mask of sigma 1, amount 0.3-1.5): how sharp or processed a photo reached us
    must not tell real from forged (issue 31: the GAN specialist read sharpness)."""
    import cv2

    kind = int(rng.integers(4))
    if kind == 3:
        amount = rng.uniform(0.3, 1.5)
        blurred = cv2.GaussianBlur(face, (0, 0), 1.0)
        return cv2.addWeighted(face, 1 + amount, blurred, -amount, 0)
    if kind == 0:
        quality = int(rng.integers(40, 101))
        ok, buf = cv2.imencode(".jpg", face[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("OpenCV could not encode a face as JPEG")
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    if kind == 1:
        h, w = face.shape[:2]
        s = rng.uniform(0.5, 1.0)
        small = cv2.resize(face, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(face, (0, 0), rng.uniform(0.3, 1.5))


class Mix:
    """What one training batch holds: shares of collected reals, collected fakes and
    pool pairs (a real face with its own forgery)."""

    def __init__(self, batch_size: int, synthesize: bool, keep_collected: bool):
        if not synthesize:
            self.pairs = 0
        elif keep_collected:
            self.pairs = batch_size // 4  # half of the fakes made, half collected
        else:
            self.pairs = batch_size // 2
        rest = batch_size - 2 * self.pairs
        self.fakes = rest // 2 if (not synthesize or keep_collected) else 0
        self.reals = rest - self.fakes


class Batches:
    """Endless shuffled uint8 batches: group-weighted collected faces and pool pairs,
    augmented when `augment` is given.

    Made into a keras PyDataset by `as_keras_dataset` (this module needs no Keras)."""

    def __init__(self, split: Split, batch_size: int, mix: Mix, pool=None, seed: int = 0,
                 steps: int | None = None, augment: Augmentation | None = None):
        self.split, self.batch_size, self.mix, self.pool = split, batch_size, mix, pool
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.real = np.flatnonzero(split.y == 1)
        self.fake = np.flatnonzero(split.y == 0)
        self.p_real = group_weights(split.groups[self.real])
        self.p_fake = group_weights(split.groups[self.fake]) if len(self.fake) else None
        if mix.fakes and not len(self.fake):
            raise ValueError("The training split has no collected fakes; use "
                             "--synthesize-fakes to make them")
        if mix.pairs and pool is None:
            raise ValueError("A forgery pool is needed for batches with made fakes")
        self.steps = steps or max(1, len(split.y) // batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        return self.draw(self.epoch, i)

    def draw(self, epoch: int, i: int):
        """Batch i of an epoch: the same for the same (seed, epoch, i), whatever ran before
        (so a resumed run draws what an uninterrupted one would)."""
        rng = np.random.default_rng((self.seed, epoch, i))
        m = self.mix
        parts_x, parts_y = [], []
        if m.reals:
            parts_x.append(self.split.x[rng.choice(self.real, m.reals, p=self.p_real)])
            parts_y.append(np.ones(m.reals, np.float32))
        if m.fakes:
            parts_x.append(self.split.x[rng.choice(self.fake, m.fakes, p=self.p_fake)])
            parts_y.append(np.zeros(m.fakes, np.float32))
        if m.pairs:
            reals, fakes = self.pool
            k = rng.integers(0, len(fakes), m.pairs)
            parts_x += [reals[k], fakes[k]]
            parts_y += [np.ones(m.pairs, np.float32), np.zeros(m.pairs, np.float32)]
        x = np.concatenate(parts_x)
        return (self.augment(x, rng) if self.augment else x), np.concatenate(parts_y)


def as_keras_dataset(batches: Batches, workers: int = 2):
    """(keras.utils.PyDataset, keras.callbacks.Callback): one Keras epoch is one epoch of
    `batches`, and the callback (pass it to `fit`) sets the epoch Keras is at before that
    epoch's batches are drawn. Batch i of epoch e is then batches.draw(e, i), in a whole
    run and in a resumed one (fit's initial_epoch) alike, and every epoch draws new faces
    and new augmentation.

    Why this shape (Keras 3.15): a finite PyDataset's enqueuer starts again from item 0
    every epoch, and items its workers prefetched past an epoch's end are served first in
    the next one. So the dataset is exactly one epoch long (nothing is prefetched across
    an epoch's end), and its epoch is Keras's own epoch number, not a count of
    on_epoch_end calls (Keras makes one before training starts)."""
    import keras

    class _Dataset(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, use_multiprocessing=False)

        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches.draw(batches.epoch, i)

    class _SetEpoch(keras.callbacks.Callback):
        # fit calls callbacks' on_epoch_begin before it starts the epoch's data workers
        def on_epoch_begin(self, epoch, logs=None):
            batches.epoch = epoch

    return _Dataset(), _SetEpoch()
