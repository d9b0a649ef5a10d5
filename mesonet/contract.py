"""The contracts every part of MesoNet shares, each written once.

- A face is FACE_SIZE x FACE_SIZE x 3 uint8 RGB (the networks' input).
- The networks output P(real): 0 = deepfake/Face2Face, 1 = real (P_REAL_MEANING).
- A verdict comes from an operating point (`OperatingPoint`): P(real) at or below
  `fake_at_most` is called fake, above `real_above` real, between them inconclusive. The
  plain point is the released code's `> 0.5`; the shipped weights carry points fitted on
  sources they never saw (training/calibration.py), with what each verdict means there.
- Folders named in LABEL_FOLDERS label what is inside them: crops, videos, training data.

This module imports nothing of the project and nothing heavy.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
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
#: the seed studies' networks training can also train (training/baselines.py builds them)
BASELINE_ARCHITECTURES = ("cnn3", "densenet121", "xception")
RUNTIMES = ("auto", "keras", "onnx")
AGGREGATIONS = ("mean", "vote")  # mean P(real), the paper's; share above 0.5, the code's
DETECTORS = ("hog", "cnn", "original")


PREDICTIONS = ("real", "fake", "inconclusive", "no_face", "error")


@dataclass(frozen=True)
class OperatingPoint:
    """Where P(real) turns into a verdict, and what each verdict has meant on faces (or
    videos) from sources the weights never saw.

    fake_at_most: P(real) at or below it is called 'fake'; real_above: above it 'real';
    between them 'inconclusive'. The measured shares (None when not measured) are the
    share of real and of forged faces given each verdict, on calibration sources left out
    one at a time (training/calibration.py): they are what a verdict means to a user.
    """
    fake_at_most: float
    real_above: float
    target: float | None = None  # the false-alarm rate it was fitted for
    fitted_on: str = ""  # on what, in words
    level: str = "frame"  # 'frame' (faces) or 'video' (a video's mean P(real))
    real_called_fake: float | None = None
    fake_called_fake: float | None = None
    real_called_real: float | None = None
    fake_called_real: float | None = None

    def __post_init__(self):
        if not 0.0 <= self.fake_at_most <= self.real_above <= 1.0:
            raise ValueError(f"An operating point needs 0 <= fake_at_most <= real_above <= 1; "
                             f"received {self.fake_at_most} and {self.real_above}")

    @classmethod
    def plain(cls, threshold: float = DEFAULT_THRESHOLD, band: float = 0.0,
              level: str = "frame") -> "OperatingPoint":
        """The released code's rule (real above `threshold`), with an inconclusive band of
        half-width `band` around it: nothing measured, nothing promised."""
        check_threshold(threshold)
        check_band(band)
        return cls(max(0.0, threshold - band), min(1.0, threshold + band), level=level,
                   fitted_on="none: a fixed threshold")

    @classmethod
    def from_dict(cls, data: dict) -> "OperatingPoint":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def calibrated(self) -> bool:
        return self.real_called_fake is not None

    def verdict(self, p_real: float) -> str:
        if p_real <= self.fake_at_most:
            return "fake"
        return "real" if p_real > self.real_above else "inconclusive"

    def shares(self, verdict: str) -> tuple[float | None, float | None]:
        """(share of real, share of forged) given `verdict` on unseen sources."""
        return {"fake": (self.real_called_fake, self.fake_called_fake),
                "real": (self.real_called_real, self.fake_called_real)}.get(verdict,
                                                                           (None, None))

    def meaning(self, verdict: str) -> str:
        """What `verdict` means at this point, in one line a user can act on; it claims
        no more than was measured."""
        real, fake = self.shares(verdict)
        what = "videos" if self.level == "video" else "faces"
        if verdict == "inconclusive":
            return (f"inconclusive: P(real) between {self.fake_at_most:.3f} and "
                    f"{self.real_above:.3f}, where these weights cannot tell")
        if verdict not in ("fake", "real"):
            return verdict
        if real is None and fake is None:
            return (f"{verdict}: P(real) {'at or below' if verdict == 'fake' else 'above'} "
                    f"{self.fake_at_most if verdict == 'fake' else self.real_above:.3f}, a "
                    f"fixed threshold; how often it is wrong was not measured")
        told = [f"{share:.1%} of {kind} {what}" for share, kind in ((real, "real"),
                                                                    (fake, "forged"))
                if share is not None]
        return (f"{verdict}: on {what} from sources these weights never saw, "
                f"{' and '.join(told)} get this verdict"
                + ("" if real is not None and fake is not None else
                   f" (too few forged {what} to say how many of them)" if fake is None else
                   f" (too few real {what} to say how many of them)"))


def prediction_of(p_real: float, threshold: float = DEFAULT_THRESHOLD, band: float = 0.0) -> str:
    """'real' when P(real) is above the threshold, else 'fake'; 'inconclusive' when it lies
    closer to the threshold than `band` (OperatingPoint.plain's rule, for one score)."""
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
