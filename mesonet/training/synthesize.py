"""Forged faces made from real ones, for training without collected fakes.

sbi  Self-blended images (Shiohara & Yamasaki, CVPR 2022), as published: a face is
     blended with a colour-, sharpness- and geometry-jittered copy of itself along a
     mask made from its own landmarks (a convex-hull variant, elastically deformed,
     blurred by random kernels), at a blend ratio from {0.25, 0.5, 0.75, 1, 1, 1}.
fwa  Face warping artifacts (Li & Lyu, CVPRW 2019): the face is shrunk and blurred as a
     low-resolution face swap renders it, warped back, and blended in along the same
     kind of landmark mask.

`synthesize(crop, landmarks, method, rng)` takes a uint8 RGB crop (256 x 256, aligned as
pipeline.aligned_face makes it), its 68 dlib landmarks in the crop's pixels ((68, 2)
float, x y; training/prepare_corpus.py stores them) and a numpy Generator, and returns
(forged uint8 crop, blend mask float32 in [0, 1]). The forged crop equals the input
exactly wherever the mask is 0. `post_process` then gives a real face and its forgery the
same JPEG quality (40-100), flip and colour change, as SBI's training does for each pair,
so that only the blend tells them apart.
"""

from __future__ import annotations

import numpy as np

METHODS = ("fwa", "sbi")
HULLS = ("face", "extended", "lower", "parts")  # mask variety (Face X-ray / SBI's hulls)
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # SBI's dynamic blend


class MaskError(ValueError):
    """A face whose landmarks give no usable mask (missing, or outside the crop)."""


def _seeded(transform, rng: np.random.Generator):
    transform.set_random_seed(int(rng.integers(1 << 31)))
    return transform


_CACHE: dict = {}


def _transforms():
    """albumentations pipelines, built once per process."""
    if not _CACHE:
        import albumentations as A

        _CACHE["source"] = A.Compose([  # SBI's source transforms: colour, then scale or sharpen
            A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=0.3),
            A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=15, val_shift_limit=15, p=1),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=1),
            A.OneOf([A.Downscale(scale_range=(0.25, 0.75), p=1),
                     A.Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1)], p=1)])
        _CACHE["affine"] = A.Affine(translate_percent={"x": (-0.03, 0.03), "y": (-0.015, 0.015)},
                                    scale=(0.95, 1 / 0.95), fit_output=False, p=1)
        _CACHE["elastic"] = A.ElasticTransform(alpha=50, sigma=7, p=1)
        _CACHE["post"] = A.Compose([  # applied alike to a real face and its forgery
            A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=0.3),
            A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=15, val_shift_limit=15,
                                 p=0.3),
            A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.3),
            A.ImageCompression(quality_range=(40, 100), p=0.5),
            A.HorizontalFlip(p=0.5)], additional_targets={"image1": "image"})
    return _CACHE


def hull_mask(landmarks, size: int, rng: np.random.Generator, hull: str | None = None):
    """A binary mask (float32 size x size, 0/1) of a landmark hull variant.

    face: hull of all 68 points; extended: with a forehead band above the brows; lower:
    cheeks, nose and mouth; parts: eyes with brows, nose and mouth, each its own hull.
    """
    import cv2

    if landmarks is None:
        raise MaskError("no landmarks for this face")
    pts = np.asarray(landmarks, np.float32)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        raise MaskError(f"expected 68 (x, y) landmarks; received shape {pts.shape}")
    hull = hull or HULLS[int(rng.integers(len(HULLS)))]
    if hull == "face":
        groups = [pts]
    elif hull == "extended":
        up = pts[27] - pts[8]
        up = up / max(1e-6, float(np.linalg.norm(up)))
        height = float(np.linalg.norm(pts[27] - pts[8]))
        forehead = pts[17:27] + up * height * rng.uniform(0.1, 0.35)
        groups = [np.concatenate([pts, forehead])]
    elif hull == "lower":
        groups = [np.concatenate([pts[1:16], pts[27:36], pts[48:68]])]
    elif hull == "parts":
        groups = [np.concatenate([pts[17:22], pts[36:42]]), np.concatenate([pts[22:27], pts[42:48]]),
                  pts[27:36], pts[48:68]]
    else:
        raise ValueError(f"Unknown hull {hull!r}; known: {', '.join(HULLS)}")
    mask = np.zeros((size, size), np.uint8)
    for g in groups:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(g).astype(np.int32)), 1)
    if hull == "parts":  # parts touch: close the gaps between them a little
        k = int(rng.integers(3, 12)) | 1
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8))
    if mask.sum() < 0.01 * size * size:
        raise MaskError(f"the {hull} hull covers {int(mask.sum())} pixels of the crop")
    return mask.astype(np.float32)


def blend_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI's soft mask: resampled, blurred by a random kernel, cut back to its core,
    blurred again by another, normalised to a peak of 1 (float32 H x W x 1)."""
    import cv2

    h, w = mask.shape
    m = cv2.resize(mask, (int(rng.integers(192, 257)), int(rng.integers(192, 257))))
    k1, k2 = (int(rng.integers(2, 13)) * 2 + 1 for _ in range(2))  # odd, 5 to 25
    m = cv2.GaussianBlur(m, (k1, k1), 0)
    if m.max() <= 0:
        raise MaskError("the blend mask came out empty")
    m = m / m.max()
    m[m < 1] = 0  # the hull's core, shrunk by the first blur
    if m.max() <= 0:
        raise MaskError("the blend mask came out empty")
    m = cv2.GaussianBlur(m, (k2, k2), float(rng.integers(5, 46)))
    m = cv2.resize(m / m.max(), (w, h))
    m[m < 1e-3] = 0  # a clean support: outside it the forgery is the original, exactly
    if not m.any():
        raise MaskError("the blend mask came out empty")
    return m[..., None].astype(np.float32)


def _soft_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A binary hull mask elastically deformed, then softened as SBI's blend mask."""
    mask = _seeded(_transforms()["elastic"], rng)(image=mask.astype(np.float32))["image"]
    return blend_mask((mask > 0.5).astype(np.float32), rng)


def _blend(source, target, mask, ratio: float) -> np.ndarray:
    m = mask * ratio
    out = m * source.astype(np.float32) + (1 - m) * target.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def sbi(crop: np.ndarray, landmarks, rng: np.random.Generator):
    """A self-blended forgery of `crop`: (uint8 crop, mask float32 H x W x 1)."""
    t = _transforms()
    h, w = crop.shape[:2]
    source = _seeded(t["source"], rng)(image=crop)["image"]
    affine = _seeded(t["affine"], rng)
    warped = affine(image=source, mask=hull_mask(landmarks, h, rng))  # the mask moves along
    source, mask = warped["image"], _soft_mask(warped["mask"], rng)
    ratio = BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))]
    return _blend(source, crop, mask, ratio), mask * ratio


def fwa(crop: np.ndarray, landmarks, rng: np.random.Generator):
    """A face-warping forgery of `crop`: (uint8 crop, mask float32 H x W x 1)."""
    import cv2

    h, w = crop.shape[:2]
    factor = rng.uniform(0.2, 0.6)  # the swapped face's resolution relative to the frame's
    small = cv2.resize(crop, (max(8, int(w * factor)), max(8, int(h * factor))),
                       interpolation=cv2.INTER_AREA)
    k = int(rng.choice([1, 3, 5]))
    if k > 1:
        small = cv2.GaussianBlur(small, (k, k), 0)
    warped = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = _soft_mask(hull_mask(landmarks, h, rng), rng)
    return _blend(warped, crop, mask, 1.0), mask


SYNTHESIZERS = {"fwa": fwa, "sbi": sbi}


def synthesize(crop: np.ndarray, landmarks, method: str, rng: np.random.Generator):
    """(forged uint8 crop, mask float32 H x W x 1 in [0, 1]) by `method` ('sbi', 'fwa').

    Raises MaskError when the landmarks give no usable mask (the caller skips the face)."""
    if method not in SYNTHESIZERS:
        raise ValueError(f"Unknown fake synthesis {method!r}; known: {', '.join(METHODS)}")
    return SYNTHESIZERS[method](np.ascontiguousarray(crop, np.uint8), landmarks, rng)


def post_process(real: np.ndarray, fake: np.ndarray, rng: np.random.Generator):
    """The same colour change, JPEG quality (40-100, half the time) and flip for a real
    face and its forgery (SBI's training transforms): (real, fake), uint8."""
    out = _seeded(_transforms()["post"], rng)(image=fake, image1=real)
    return out["image1"], out["image"]


def sample_grid(crops, landmarks, method: str, rng: np.random.Generator, n: int = 8):
    """A picture of forged samples: rows of original, forgery and mask (uint8 RGB)."""
    columns = []
    for crop, marks in zip(crops, landmarks):
        if len(columns) == n:
            break
        try:
            forged, mask = synthesize(crop, marks, method, rng)
        except MaskError:
            continue
        m = np.repeat((mask * 255).astype(np.uint8), 3, axis=2)
        columns.append(np.concatenate([crop, forged, m], axis=0))
    if not columns:
        raise MaskError("no face with usable landmarks to show")
    return np.concatenate(columns, axis=1)
