"""Frames -> faces -> scores -> one verdict per video.

Frames come from media.py, faces and their aligned 256x256 crops from faces.py; here
they are tracked per person, scored in one batch, and aggregated (`mean`, the paper's
per-video score, or `vote`, the share of faces above 0.5, the released code's). Fixed
where the original was wrong: crops are fed to the network as [0, 1] inputs (uint8,
rescaled in the graph) and each sampled frame is decoded once.

Conventions: boxes are (top, right, bottom, left) in source pixels; centres are (y, x);
P(real) is the network's sigmoid, 0 = deepfake/Face2Face, 1 = real.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from mesonet.contract import AGGREGATIONS, DEFAULT_THRESHOLD, OperatingPoint
from mesonet.faces import FaceFinder, iou, resize_image, aligned_face, find_coordinates, landmarks_in_crop
from mesonet.media import FRAME_SUBSAMPLE_COUNT, MediaError, iter_frames
from mesonet.outputs import name_fields, printable

logger = logging.getLogger(__name__)

#: one row per video (or image) in every output that scores files (video_row)
VIDEO_COLUMNS = ["video", "path_bytes", "kind", "n_frames_sampled", "n_faces", "n_tracks",
                 "mean_p_real", "vote_real", "p_real_std", "p_real_iqr", "prediction",
                 "weights", "error"]

#: one row per face, in every output that lists faces (Face.row, with `source` first)
FACE_COLUMNS = ["source", "frame", "time_s", "top", "right", "bottom", "left", "center_y",
                "center_x", "side", "rotation_deg", "track", "p_real"]


@dataclass
class Face:
    """One face in one frame: where it is, how it was aligned, what the network said."""
    frame: int
    time_s: float
    box: tuple  # (top, right, bottom, left), source pixels
    center: tuple  # (y, x), source pixels
    side: int
    rotation_deg: float
    track: int = 0
    p_real: float | None = None
    crop: np.ndarray | None = field(default=None, repr=False)
    #: the 68 landmarks in the crop's pixels, (68, 2) float (x, y)
    landmarks: np.ndarray | None = field(default=None, repr=False)

    def row(self) -> dict:
        """The face's FACE_COLUMNS but `source`."""
        top, right, bottom, left = self.box
        return {"frame": self.frame, "time_s": round(self.time_s, 3), "top": top, "right": right,
                "bottom": bottom, "left": left, "center_y": self.center[0],
                "center_x": self.center[1], "side": self.side,
                "rotation_deg": round(self.rotation_deg, 3), "track": self.track,
                "p_real": None if self.p_real is None else round(float(self.p_real), 6)}


def aggregate(p_real, method: str = "mean") -> float | None:
    """One score per video: 'mean' P(real) (the paper) or 'vote', the share of faces with
    P(real) > 0.5 (the released code). None when there is no face."""
    if method not in AGGREGATIONS:
        raise ValueError(f"Unknown aggregation {method!r}; known: {', '.join(AGGREGATIONS)}")
    p = np.asarray(p_real, dtype=np.float64).ravel()
    if p.size == 0:
        return None
    return float(p.mean()) if method == "mean" else float((p > DEFAULT_THRESHOLD).mean())


@dataclass
class VideoResult:
    source: str
    n_frames_sampled: int = 0
    faces: list = field(default_factory=list)
    frame_shape: tuple | None = None
    error: str | None = None
    #: 'video' or 'image' (a still image, read as a one-frame video); None until read
    kind: str | None = None
    #: frame index -> (downscaled frame, scale), when asked for with keep_frames
    frames: dict = field(default_factory=dict, repr=False)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    def scores(self, track: int | None = None) -> list[float]:
        return [f.p_real for f in self.faces
                if f.p_real is not None and (track is None or f.track == track)]

    def tracks(self) -> list[int]:
        return sorted({f.track for f in self.faces})

    def score(self, method: str = "mean") -> float | None:
        """The video's score: over all faces, or, with several people, the lowest
        (most forged-looking) of the per-person scores, so one forged face is found."""
        tracks = self.tracks()
        if len(tracks) <= 1:
            return aggregate(self.scores(), method)
        return min(aggregate(self.scores(t), method) for t in tracks)

    def verdict(self, method: str = "mean", op: OperatingPoint | None = None) -> str:
        """'real', 'fake', 'inconclusive' (at operating point `op`; default: the plain
        0.5 rule), 'no_face' or 'error'."""
        if self.error:
            return "error"
        s = self.score(method)
        if s is None:
            return "no_face"
        return (op or OperatingPoint.plain()).verdict(s)

    def spread(self) -> tuple[float | None, float | None]:
        """(standard deviation, interquartile range) of the face scores: how much the
        frames agree; None without faces."""
        p = np.asarray(self.scores(), np.float64)
        if p.size == 0:
            return None, None
        q1, q3 = np.percentile(p, [25, 75])
        return float(p.std()), float(q3 - q1)

    def summary(self, method: str = "mean", op: OperatingPoint | None = None) -> dict:
        std, iqr = self.spread()
        return {"video": self.source, "kind": self.kind,
                "n_frames_sampled": self.n_frames_sampled,
                "n_faces": self.n_faces, "n_tracks": len(self.tracks()),
                "mean_p_real": _round(self.score("mean")), "vote_real": _round(self.score("vote")),
                "p_real_std": _round(std), "p_real_iqr": _round(iqr),
                "prediction": self.verdict(method, op), "error": self.error}


def _round(x):
    return None if x is None else round(float(x), 6)


class Tracker:
    """Groups faces of successive frames into people by overlap with their last box."""

    def __init__(self):
        self.last: dict[int, tuple] = {}

    def assign(self, boxes) -> list[int]:
        pairs = sorted(((iou(b, last), i, t) for i, b in enumerate(boxes)
                        for t, last in self.last.items()), reverse=True)
        ids, used = [None] * len(boxes), set()
        for overlap, i, t in pairs:
            if overlap < 0.2:
                break
            if ids[i] is None and t not in used:
                ids[i] = t
                used.add(t)
        for i, b in enumerate(boxes):
            if ids[i] is None:  # a new person
                ids[i] = max(self.last, default=-1) + 1
            self.last[ids[i]] = b
        return ids


def extract_faces(path, finder: FaceFinder, frames: int | None = FRAME_SUBSAMPLE_COUNT,
                  all_faces: bool = False, indices=None, keep_frames: int = 0) -> VideoResult:
    """Find and align faces in sampled frames of a video or image (no scoring).

    By default the largest face per frame, tracked as the original; with all_faces,
    every face, grouped into tracks (one per person). keep_frames > 0 keeps a copy of
    each sampled frame downscaled to that long side (for showing boxes to a person).
    """
    result = VideoResult(str(path))
    finder.reset()
    tracker = Tracker()
    for frame in iter_frames(path, frames, indices):
        result.n_frames_sampled += 1
        result.frame_shape = frame.image.shape
        result.kind = "image" if frame.still else "video"
        if keep_frames:
            scale = min(1.0, keep_frames / max(frame.image.shape[:2]))
            result.frames[frame.index] = (resize_image(frame.image, scale), scale)
        if all_faces:
            boxes = finder.detect_full(frame.image)
            found = [(b, m, find_coordinates(m))
                     for b, m in zip(boxes, finder.landmarks(frame.image, boxes))]
            tracks = tracker.assign(boxes)
        else:
            hit = finder.track(frame.image)
            found, tracks = ([hit], [0]) if hit is not None else ([], [])
        for (box, marks, (center, side, rotation)), track in zip(found, tracks):
            result.faces.append(Face(frame.index, frame.time_s, tuple(int(v) for v in box),
                                     center, side, rotation, track,
                                     crop=aligned_face(frame.image, center, side, rotation),
                                     landmarks=landmarks_in_crop(marks, center, side, rotation)))
    return result


def score_faces(result: VideoResult, classifier, keep_crops: bool = False) -> VideoResult:
    """Fill in P(real) for every face of a result, in one batched prediction."""
    if result.faces:
        p = classifier.predict(np.stack([f.crop for f in result.faces]))[:, 0]
        for face, value in zip(result.faces, p):
            face.p_real = float(value)
    if not keep_crops:
        for face in result.faces:
            face.crop = face.landmarks = None
    return result


def analyze(path, classifier, finder: FaceFinder, frames: int | None = FRAME_SUBSAMPLE_COUNT,
            all_faces: bool = False, keep_crops: bool = False, indices=None,
            keep_frames: int = 0) -> VideoResult:
    """Faces of a video or image, scored: the whole pipeline for one file."""
    return score_faces(extract_faces(path, finder, frames, all_faces, indices, keep_frames),
                       classifier, keep_crops)


def analyze_or_error(path, classifier, finder: FaceFinder,
                     frames: int | None = FRAME_SUBSAMPLE_COUNT, all_faces: bool = False,
                     keep_crops: bool = False) -> VideoResult:
    """analyze(), with a file that cannot be read as an error result (its reason in
    `error`) instead of a MediaError: what a batch over many files wants."""
    try:
        return analyze(path, classifier, finder, frames, all_faces, keep_crops)
    except MediaError as e:
        logger.error("%s", e)
        return VideoResult(str(path), error=e.reason)


def video_row(result: VideoResult, weights: str, method: str = "mean",
              op: OperatingPoint | None = None) -> dict:
    """The VIDEO_COLUMNS row of a result (the file named as every output names it), its
    verdict at operating point `op`."""
    return {**result.summary(method, op), **name_fields(result.source, "video"),
            "weights": weights}


def face_rows(result: VideoResult) -> list[dict]:
    """FACE_COLUMNS rows, one per face of a result."""
    return [{"source": printable(result.source), **f.row()} for f in result.faces]


__all__ = ["AGGREGATIONS", "FACE_COLUMNS", "VIDEO_COLUMNS", "Face", "Tracker", "VideoResult",
           "aggregate", "extract_faces", "score_faces", "analyze", "analyze_or_error",
           "video_row", "face_rows"]
