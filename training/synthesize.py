"""Forged faces made from real ones, for training without collected fakes.

fwa  Face warping artifacts (Li & Lyu, CVPRW 2019): the face region is shrunk and
     blurred, warped back, and blended into the original with a soft mask, as a
     low-resolution face swap leaves it.
sbi  Self-blended images (Shiohara & Yamasaki, CVPR 2022): the face is blended with a
     slightly shifted, scaled and colour-jittered copy of itself along a soft mask.

Both take a uint8 RGB crop (256 x 256, aligned as pipeline.aligned_face makes it) and a
numpy Generator, and return a uint8 crop of the same shape. The face mask is an ellipse
over the inner face of an aligned crop (the crop's geometry is fixed by the alignment),
so no landmarks are needed at training time.
"""

from __future__ import annotations

import numpy as np

METHODS = ("fwa", "sbi")


def face_mask(size: int, rng: np.random.Generator, blur: float | None = None) -> np.ndarray:
    """A soft elliptic mask (float32 in [0, 1], size x size) over the inner face.

    In an aligned crop the nose sits at the centre and the face spans about 1/1.3 of the
    side; the ellipse is jittered so that the model cannot learn one fixed boundary.
    """
    import cv2

    cy = size * (0.5 + rng.uniform(-0.03, 0.03))
    cx = size * (0.5 + rng.uniform(-0.03, 0.03))
    ay = size * rng.uniform(0.30, 0.38)
    ax = size * rng.uniform(0.24, 0.32)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 1.0, -1)
    k = blur if blur is not None else rng.uniform(0.03, 0.08) * size
    k = int(k) | 1
    return cv2.GaussianBlur(mask, (k, k), 0)[..., None]


def fwa(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = crop.shape[:2]
    factor = rng.uniform(0.2, 0.5)  # the swapped face's resolution relative to the frame's
    small = cv2.resize(crop, (max(8, int(w * factor)), max(8, int(h * factor))),
                       interpolation=cv2.INTER_AREA)
    k = int(rng.choice([1, 3, 5]))
    if k > 1:
        small = cv2.GaussianBlur(small, (k, k), 0)
    warped = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    mask = face_mask(h, rng)
    return np.clip(mask * warped + (1 - mask) * crop, 0, 255).astype(np.uint8)


def sbi(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = crop.shape[:2]
    source = crop.astype(np.float32)
    # colour and sharpness jitter of the "source" face
    source = source * rng.uniform(0.9, 1.1, size=3) + rng.uniform(-12, 12, size=3)
    if rng.random() < 0.5:
        source = cv2.GaussianBlur(source, (3, 3), 0)
    # a small geometric misfit between source and target
    scale = rng.uniform(0.95, 1.05)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-2, 2), scale)
    m[:, 2] += rng.uniform(-0.02, 0.02, size=2) * w
    source = cv2.warpAffine(source, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    mask = face_mask(h, rng) * rng.uniform(0.5, 1.0)  # blend ratio, as SBI
    return np.clip(mask * source + (1 - mask) * crop, 0, 255).astype(np.uint8)


SYNTHESIZERS = {"fwa": fwa, "sbi": sbi}


def synthesize(crop: np.ndarray, method: str, rng: np.random.Generator) -> np.ndarray:
    if method not in SYNTHESIZERS:
        raise ValueError(f"Unknown fake synthesis {method!r}; known: {', '.join(METHODS)}")
    return SYNTHESIZERS[method](crop, rng)
