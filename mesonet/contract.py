"""The contracts every part of MesoNet shares, each written once.

- A face is FACE_SIZE x FACE_SIZE x 3 uint8 RGB (the networks' input).
- The networks output P(real): 0 = deepfake/Face2Face, 1 = real (P_REAL_MEANING).
- A score is called real when it is above the threshold (`prediction_of`), as the
  released code's `> 0.5`.
- Folders named in LABEL_FOLDERS label what is inside them: crops, videos, training data.

This module imports nothing of the project and nothing heavy.
"""

from __future__ import annotations

import os
from pathlib import Path

FACE_SIZE = 256
P_REAL_MEANING = "P(real): 0 = deepfake/Face2Face, 1 = real"
DEFAULT_THRESHOLD = 0.5  # the released code's

#: folder name -> label (1 = real, 0 = forged); the nearest such folder labels a file
LABEL_FOLDERS = {"df": 0, "fake": 0, "deepfake": 0, "deepfakes": 0, "f2f": 0, "forged": 0,
                 "real": 1}
LABEL_NAMES = {0: "fake", 1: "real"}

#: the names every layer offers, here so that the scripts can offer them without loading
#: Keras or dlib: classifiers.CLASSIFIERS, classifiers.resolve_runtime, pipeline.aggregate,
#: faces.FaceFinder take exactly these
ARCHITECTURES = ("meso4", "mesoinception4", "meso1")
RUNTIMES = ("auto", "keras", "onnx")
AGGREGATIONS = ("mean", "vote")  # mean P(real), the paper's; share above 0.5, the code's
DETECTORS = ("hog", "cnn", "original")


PREDICTIONS = ("real", "fake", "inconclusive", "no_face", "error")


def prediction_of(p_real: float, threshold: float = DEFAULT_THRESHOLD, band: float = 0.0) -> str:
    """'real' when P(real) is above the threshold, else 'fake'; 'inconclusive' when it lies
    closer to the threshold than `band` (the weights' own, zoo.inconclusive_band: where
    their validation faces were called right less often than they should be)."""
    if abs(p_real - threshold) < band:
        return "inconclusive"
    return "real" if p_real > threshold else "fake"


def label_from_path(path: str | os.PathLike) -> str | None:
    """'fake' or 'real' when the file sits in a folder named so (df/, fake/, real/ ...)."""
    for part in reversed(Path(path).parent.parts):
        value = LABEL_FOLDERS.get(part.lower())
        if value is not None:
            return LABEL_NAMES[value]
    return None


def check_band(band: float) -> float:
    """An inconclusive band's half-width in [0, 0.5], or a ValueError saying what was received."""
    if not 0.0 <= band <= 0.5:
        raise ValueError(f"The inconclusive band is a half-width in [0, 0.5] around the "
                         f"threshold; received {band}")
    return band


def check_threshold(threshold: float) -> float:
    """A threshold in [0, 1], or a ValueError saying what was received."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"The threshold must be in [0, 1] (P(real)); received {threshold}")
    return threshold
