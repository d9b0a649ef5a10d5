"""Finding faces and aligning them: face_recognition (dlib) in, 256x256 crops out.

Faithful to the original MesoNet `pipeline.py` in geometry (`find_coordinates`,
`get_aligned_face`), and fixed where the original was wrong: boxes found on downscaled
frames are mapped back to source pixels.

Conventions: images are uint8 RGB, H x W x 3; boxes are (top, right, bottom, left) in
source pixels, as face_recognition gives them; centres are (y, x); landmarks are (x, y).
face_recognition (dlib) and OpenCV are imported when first used, so importing this module
is cheap; the CNN detector loads when first asked for.
"""

from __future__ import annotations

import logging
import math
import threading

import numpy as np

from mesonet.contract import DETECTORS, FACE_SIZE

logger = logging.getLogger(__name__)

DETECT_MAX_SIDE = 640  # frames are downscaled to this long side for the full-frame search
TRACK_MARGIN = 0.6  # search zone around the last face, in face sizes (sampled frames are far apart)
CNN_MARGIN = 0.35  # the CNN rescue's zone (it finds tilted and turned faces HOG lost)
TRACK_FACE_PX = 110  # the tracked zone is scaled so the last face is this tall (HOG's sweet spot)
CNN_FACE_PX = 90  # the CNN rescue's zone is scaled so the last face is this tall (its cost
# grows with the zone's area; at 75 px it began to miss turned faces)
NO_FACE_ACCELERATION = 3  # after this many sampled frames without a face, search cheaply
MAX_HOLDS = 3  # frames in a row a face may be kept by landmark tracking without a detection


# --------------------------------------------------------------------------------------
# Finding faces


def resize_image(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _brighten_dark(image: np.ndarray) -> np.ndarray:
    """A copy of a dark image with its mean brightness raised by a gamma curve, for the
    detector only (HOG misses faces in dim rooms); crops keep the original pixels."""
    import cv2

    mean = float(image.mean()) / 255.0
    if mean >= 0.3 or mean <= 0.01:
        return image
    gamma = math.log(0.45) / math.log(mean)  # maps the mean brightness to about 0.45
    lut = (255.0 * (np.arange(256) / 255.0) ** gamma + 0.5).astype(np.uint8)
    return cv2.LUT(image, lut)


def scale_box(box, scale: float, origin=(0, 0), shape=None):
    """A box found on an image scaled by `scale` (and cut at `origin`) in source pixels."""
    top, right, bottom, left = box
    y0, x0 = origin
    out = [round(y0 + top / scale), round(x0 + right / scale),
           round(y0 + bottom / scale), round(x0 + left / scale)]
    if shape is not None:
        h, w = shape[:2]
        out = [max(0, out[0]), min(w, out[1]), min(h, out[2]), max(0, out[3])]
    return tuple(out)


def box_height(box) -> int:
    return box[2] - box[0]


def iou(a, b) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    inter = (max(0, min(a[1], b[1]) - max(a[3], b[3]))
             * max(0, min(a[2], b[2]) - max(a[0], b[0])))
    area = lambda x: (x[1] - x[3]) * (x[2] - x[0])  # noqa: E731
    return inter / max(1, area(a) + area(b) - inter)


class FaceFinder:
    """Finds faces with face_recognition (dlib), tracking the last face as the original.

    detector: 'hog' (default, fast on CPU), 'cnn' (dlib's MMOD CNN; uses CUDA when dlib
    was built with it), or 'original': the original FaceFinder's search step for step
    (dlib's CNN on the zone around the last face at half size, HOG with two upsamplings
    on the whole frame when that fails), which gives the original's boxes exactly; slow,
    for comparing with results of the original code. Boxes are (top, right, bottom,
    left) in source pixels.
    """

    def __init__(self, detector: str = "hog", cnn_rescue: bool = True,
                 cores: int | None = None):
        if detector not in DETECTORS:
            raise ValueError(f"Unknown detector {detector!r}; known detectors: "
                             f"{', '.join(DETECTORS)}")
        try:
            import face_recognition  # loads dlib and the HOG detector (cheap); CNN on first use
        except ModuleNotFoundError as e:
            raise ValueError(
                f"Finding faces needs face_recognition ({e}): `pip install --no-deps "
                f"face_recognition==1.3.0` (without --no-deps it would build dlib from source; "
                f"the prebuilt dlib-bin comes with mesonet). In a checkout, `bash setup.sh` "
                f"does it. Ready face crops score without it: --crops") from None

        self._fr = face_recognition
        self.detector = detector
        # HOG misses profiles and strongly tilted heads; when it loses a face it saw in the
        # previous sampled frame, dlib's CNN looks once in the small zone around it
        self.cnn_rescue = cnn_rescue and detector == "hog"
        # with a core to spare, the costliest search of a lost face (two upsamplings of the
        # whole frame) starts on a thread while the cheaper ones run: dlib's HOG lets go
        # of the GIL, its CNN does not, so the two overlap. cores: this process's share
        # (None: mesonet.workers.process_cores); the thread starts with the first track()
        from mesonet.workers import process_cores

        self.spare_core = (cores or process_cores()) >= 2 and detector == "hog"
        self._spare = None  # its SpareCore, made with the first track()
        self.reset()

    def reset(self) -> None:
        self.last_box, self.misses = None, 0
        self.last_coords = self.last_thumb = None  # the last face's geometry and look
        self.holds = 0  # consecutive frames kept by landmark tracking alone

    def detect(self, image: np.ndarray, upsample: int = 1, model: str | None = None):
        """All faces in an image as boxes in its own pixels."""
        model = model or ("hog" if self.detector == "original" else self.detector)
        return self._fr.face_locations(image, number_of_times_to_upsample=upsample,
                                       model=model)

    def _full_attempts(self, frame: np.ndarray):
        """(scale, [(image, upsample), ...]): detect_full's searches, cheapest first."""
        scale = min(1.0, DETECT_MAX_SIDE / max(frame.shape[:2]))
        if self.misses >= NO_FACE_ACCELERATION:
            scale /= 2
        small = resize_image(frame, scale)
        bright = _brighten_dark(small)
        if self.misses >= NO_FACE_ACCELERATION:
            attempts = [(bright, 1)]
        elif self.misses and bright is not small:  # still lost in the dark: the bright copy
            attempts = [(bright, 1)]
        else:
            attempts = [(small, 1)] + ([(bright, 1)] if bright is not small else [])
            if scale == 1.0 and self.misses == 0:
                attempts.append((small, 2))
        return scale, attempts

    def _start_costliest(self, frame: np.ndarray):
        """detect_full's two-upsampling search of this frame, started on the spare core
        (a future of its boxes), or None where detect_full would not make it or the spare
        core is still on a search nobody needed."""
        if self._spare is None:
            return None
        _, attempts = self._full_attempts(frame)
        image, upsample = attempts[-1]
        return self._spare.start(image, upsample) if upsample == 2 else None

    def detect_full(self, frame: np.ndarray, started=None):
        """All faces in a whole frame, found on a copy downscaled to DETECT_MAX_SIDE.

        Cheapest first: one upsampling; then, for a dark frame, a brightened copy (only that
        once the face is lost); then, for a small frame just after a face was lost, two
        upsamplings as the original did (faces down to ~20 px). The original kept trying
        that for 3 frames; here a scene with no face pays for it once. After
        NO_FACE_ACCELERATION frames without a face, only a half-size copy is searched (one
        upsampling, brightened if dark): the original's no-face acceleration, which finds
        faces from about 80 px up. started: the future of the last search, begun on the
        spare core by _start_costliest for the same frame.
        """
        scale, attempts = self._full_attempts(frame)
        for n, (image, upsample) in enumerate(attempts):
            if started is not None and n == len(attempts) - 1:
                boxes = started.result()  # this very search, begun on the spare core
            else:
                boxes = self.detect(image, upsample)
            if boxes:
                return [scale_box(b, scale, shape=frame.shape) for b in boxes]
        return []

    def _detect_near(self, frame: np.ndarray, box, model: str | None = None,
                     rotate: bool = True, upright: bool = True):
        """Faces in the zone around the last face, scaled so that face is ~TRACK_FACE_PX tall.

        HOG finds upright faces only; when the zone has none and the face was seen in the
        previous sampled frame, the zone is tried again rotated by +-15 and +-30 degrees
        (tilted heads), and boxes are mapped back.
        """
        import cv2

        top, right, bottom, left = box
        size = max(bottom - top, right - left, 1)
        # the CNN costs ~0.4 s on a 240 px zone: give it a tighter zone than HOG's
        m = round((CNN_MARGIN if model == "cnn" else TRACK_MARGIN) * size)
        h, w = frame.shape[:2]
        y0, y1 = max(0, top - m), min(h, bottom + m)
        x0, x1 = max(0, left - m), min(w, right + m)
        if y1 - y0 < 8 or x1 - x0 < 8:
            return []
        scale = min(4.0, (CNN_FACE_PX if model == "cnn" else TRACK_FACE_PX) / size)
        zone = _brighten_dark(resize_image(np.ascontiguousarray(frame[y0:y1, x0:x1]), scale))
        boxes = self.detect(zone, 0, model) if upright else []
        if boxes or model == "cnn" or self.misses or not rotate:  # the CNN needs no rotations
            return [scale_box(b, scale, (y0, x0), frame.shape) for b in boxes]
        zh, zw = zone.shape[:2]
        for angle in (15, -15, 30, -30):
            rot = cv2.getRotationMatrix2D((zw / 2, zh / 2), angle, 1.0)
            found = self.detect(cv2.warpAffine(zone, rot, (zw, zh), borderMode=cv2.BORDER_REFLECT_101), 0)
            if found:
                back = cv2.invertAffineTransform(rot)
                out = []
                for t, r, b, l in found:
                    cx, cy = back @ np.array([(l + r) / 2, (t + b) / 2, 1.0])
                    half_w, half_h = (r - l) / 2, (b - t) / 2
                    out.append(scale_box((cy - half_h, cx + half_w, cy + half_h, cx - half_w),
                                          scale, (y0, x0), frame.shape))
                return out
        return []

    def track(self, frame: np.ndarray):
        """The tracked face of a frame as (box, landmarks, coordinates), or None.

        In order: HOG near the last face (upright, then rotated); landmark tracking (the
        landmark predictor on the last box, kept only when the face it finds agrees with
        the last one in place, size, angle and look; at most MAX_HOLDS frames in a row);
        dlib's CNN near the last face; finally the largest face of the whole frame (the
        original's pop_largest_location).
        """
        if self.detector == "original":
            return self._track_original(frame)
        boxes, started = [], None
        if self.spare_core and self._spare is None:  # a video's first frame: ready it now
            self._spare = SpareCore()
        if self.last_box is not None:
            # after a frame the zone search lost and landmark tracking kept, the rotated
            # retries come after the landmarks, not before: they failed on that frame
            rotate_first = self.holds == 0
            boxes = self._detect_near(frame, self.last_box, rotate=rotate_first)
            if boxes:  # the one that continues the track, not a neighbour in the zone
                boxes = [max(boxes, key=lambda b: iou(b, self.last_box))]
            elif self.misses == 0:
                held = self._hold(frame)
                if held is not None:
                    return held
                # lost: the whole-frame search that costs most starts now, on the spare core
                started = self._start_costliest(frame)
                if not rotate_first:
                    boxes = self._detect_near(frame, self.last_box, rotate=True,
                                              upright=False)
                    if boxes:
                        boxes = [max(boxes, key=lambda b: iou(b, self.last_box))]
                if not boxes and self.cnn_rescue:
                    boxes = self._detect_near(frame, self.last_box, "cnn")
        if not boxes:
            boxes = self.detect_full(frame, started)
        if not boxes:
            self.misses += 1
            return None
        box = max(boxes, key=box_height)
        marks = self.landmarks(frame, [box])[0]
        return self._accept(frame, box, marks, find_coordinates(marks), held=False)

    def _track_original(self, frame: np.ndarray):
        """The original FaceFinder.find_faces step for one frame (resize 0.5, acceleration
        after 3 frames without a face), with its one fault fixed: a box found on the
        half-size frame is mapped back to source pixels (the original never did)."""
        from scipy.ndimage import zoom  # the original's resampling, for identical boxes

        h, w = frame.shape[:2]
        if self.last_box is None:  # load_first_face: the first frame, HOG, 2 upsamplings
            found = self.detect(frame, 2, "hog")
            self.last_box = found[0] if found else (0, 200, 200, 0)
        top, right, bottom, left = self.last_box
        m = round(0.2 * (bottom - top))
        y0, x1, y1, x0 = max(top - m, 0), min(right + m, w), min(bottom + m, h), max(left - m, 0)
        zone = frame[y0:y1, x0:x1]
        boxes = []
        if zone.shape[0] > 1 and zone.shape[1] > 1:
            boxes = [scale_box(b, 0.5, (y0, x0))
                     for b in self.detect(zoom(zone, (0.5, 0.5, 1)), 1, "cnn")]
        if not boxes:
            if self.misses < 3:
                boxes = self.detect(frame, 2, "hog")
            else:  # a long stretch without a face: HOG on the half-size frame
                boxes = [scale_box(b, 0.5) for b in self.detect(zoom(frame, (0.5, 0.5, 1)), 1, "hog")]
        if not boxes:
            self.misses += 1
            return None
        box = max(boxes, key=box_height)  # the first of the tallest, as pop_largest_location
        marks = self.landmarks(frame, [box])[0]
        return self._accept(frame, box, marks, find_coordinates(marks), held=False)

    def _accept(self, frame, box, marks, coords, held: bool):
        self.misses = 0
        self.holds = self.holds + 1 if held else 0
        self.last_box, self.last_coords = box, coords
        if self.detector != "original":  # only landmark holds look at it
            self.last_thumb = _thumbnail(frame, coords)
        return box, marks, coords

    def _hold(self, frame):
        """Landmark tracking: the last box, kept if its landmarks still show the same face."""
        if self.holds >= MAX_HOLDS or self.last_coords is None:
            return None
        marks = self.landmarks(frame, [self.last_box])[0]
        coords = find_coordinates(marks)
        (cy, cx), side, rot = coords
        (ly, lx), lside, lrot = self.last_coords
        if not (math.hypot(cy - ly, cx - lx) < 0.25 * lside and 0.8 < side / max(lside, 1) < 1.25
                and abs(rot - lrot) < 15):
            return None
        thumb = _thumbnail(frame, coords)
        if np.corrcoef(thumb.ravel(), self.last_thumb.ravel())[0, 1] < 0.5:
            return None
        return self._accept(frame, self.last_box, marks, coords, held=True)

    def landmarks(self, frame: np.ndarray, boxes):
        """68-point landmarks (face_recognition's dict of parts) for each box."""
        return self._fr.face_landmarks(frame, list(boxes))


class SpareCore:
    """A thread for dlib's HOG searches beside the caller's work, with its own detector
    (loaded on that thread at once, 0.25 s, so that the first search does not wait for
    it). One search at a time: a search nobody needed keeps it busy until it ends."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mesonet-hog")
        self._busy = self._pool.submit(_hog_on_this_thread, None, 0)

    def start(self, image: np.ndarray, upsample: int):
        """A future of the search's boxes, or None while the thread is busy. Returns once
        the search is inside dlib: dlib's CNN, which the caller may run next, holds the
        GIL, and the thread would otherwise wait for it to end."""
        if not self._busy.done():
            return None
        entering = threading.Event()
        self._busy = self._pool.submit(_hog_on_this_thread, image, upsample, entering)
        entering.wait(1.0)
        return self._busy


_thread_detectors = threading.local()


def _hog_on_this_thread(image: np.ndarray | None, upsample: int, entering=None):
    """face_recognition's HOG face_locations, with this thread's own dlib detector (one
    detector shared between threads crashes dlib). image None: only load the detector."""
    import dlib
    import face_recognition

    detector = getattr(_thread_detectors, "hog", None)
    if detector is None:
        detector = _thread_detectors.hog = dlib.get_frontal_face_detector()
    if image is None:  # loading the detector is all
        return []
    api = face_recognition.api
    if entering is not None:
        entering.set()
    return [api._trim_css_to_bounds(api._rect_to_css(r), image.shape)
            for r in detector(image, upsample)]


# --------------------------------------------------------------------------------------
# Alignment, exactly as the original find_coordinates / get_aligned_face


def find_coordinates(landmark: dict, K: float = 2.2):
    """((center_y, center_x), side, rotation_deg) of a face, as the original computes them.

    Centre: between nose tip and bridge. Side: K x max(eye-eye, eye-mouth) distance.
    Rotation: angle of the eye -> mouth axis from vertical, in degrees.
    """
    E1 = np.mean(landmark["left_eye"], axis=0)
    E2 = np.mean(landmark["right_eye"], axis=0)
    E = (E1 + E2) / 2
    N = np.mean(landmark["nose_tip"], axis=0) / 2 + np.mean(landmark["nose_bridge"], axis=0) / 2
    B = (np.mean(landmark["top_lip"], axis=0) + np.mean(landmark["bottom_lip"], axis=0)) / 2
    side = max(np.linalg.norm(E1 - E2), np.linalg.norm(B - E)) * K
    if B[1] == E[1]:
        rotation = 90.0 if B[0] > E[0] else -90.0
    else:
        rotation = float(np.degrees(np.arctan((B[0] - E[0]) / (B[1] - E[1]))))
    return (math.floor(N[1]), math.floor(N[0])), math.floor(side), rotation


def alignment_matrix(center, side: int, rotation: float, l_factor: float = 1.3,
                     size: int = FACE_SIZE) -> tuple[np.ndarray, int]:
    """(m, crop): the 2x3 affine map m from source pixels (x, y) to a crop x crop square,
    which is then resized to size x size.

    The original cut a patch, rotated it by -rotation (scipy, reflect padding) and took
    the central 2*floor(1.3*side/2) pixels, then resized that square to size x size.
    """
    import cv2

    length = int(side) * l_factor
    crop = max(2, 2 * int(length // 2))  # the original's slice [dl - l//2, dl + l//2)
    cy, cx = center[0] - 0.5, center[1] - 0.5  # centre of the original's integer slice
    # rotate about the centre, then shift the crop's top-left corner to the origin
    m = cv2.getRotationMatrix2D((cx, cy), -rotation, 1.0)
    m[:, 2] += (crop - 1) / 2.0 - np.array([cx, cy])
    return m, crop


def aligned_face(frame: np.ndarray, center, side: int, rotation: float,
                 l_factor: float = 1.3, size: int = FACE_SIZE) -> np.ndarray:
    """The face square, de-rotated and resized to size x size (uint8 RGB): one affine
    warp does what the original's cut, scipy rotation and central slice did."""
    import cv2

    m, crop = alignment_matrix(center, side, rotation, l_factor, size)
    square = cv2.warpAffine(frame, m, (crop, crop), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT_101)
    interp = cv2.INTER_AREA if crop > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interp)


def landmarks_68(marks: dict) -> np.ndarray:
    """dlib's 68 landmarks in their own order, (68, 2) float (x, y), from
    face_recognition's dict of parts (which repeats some lip points)."""
    pts = [p for part in ("chin", "left_eyebrow", "right_eyebrow", "nose_bridge", "nose_tip",
                          "left_eye", "right_eye") for p in marks[part]]
    top, bottom = marks["top_lip"], marks["bottom_lip"]
    pts += top[0:7] + bottom[1:6]  # outer lip, 48-59
    pts += [top[11], top[10], top[9], top[8], top[7], bottom[10], bottom[9], bottom[8]]  # 60-67
    return np.asarray(pts, np.float32)


def landmarks_in_crop(marks: dict, center, side: int, rotation: float,
                      size: int = FACE_SIZE) -> np.ndarray:
    """The 68 landmarks of a face in the pixels of its aligned crop, (68, 2) float (x, y)."""
    m, crop = alignment_matrix(center, side, rotation, size=size)
    pts = landmarks_68(marks)
    moved = pts @ m[:, :2].T + m[:, 2]
    return ((moved + 0.5) * (size / crop) - 0.5).astype(np.float32)


def _thumbnail(frame: np.ndarray, coords) -> np.ndarray:
    """A 32x32 grey version of the aligned face, to tell whether a face is still there."""
    import cv2

    center, side, rotation = coords
    small = cv2.resize(aligned_face(frame, center, side, rotation, size=64), (32, 32),
                       interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
