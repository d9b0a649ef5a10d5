"""Reading images and videos: frames in, uint8 RGB arrays out, one clear error per bad file.

Images (any PIL mode, 16-bit and CMYK included) become uint8 RGB, H x W x 3. Videos are
decoded once by ffmpeg (imageio-ffmpeg ships it), which passes on only the sampled
frames. Animated GIF/WebP/APNG are read frame by frame with PIL, as videos. Which
reader a file gets is decided by its content, not its name.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from contract import FACE_SIZE

logger = logging.getLogger(__name__)

FRAME_SUBSAMPLE_COUNT = 30  # frames sampled per video, as the original deepfakes scripts
MAX_IMAGE_PIXELS = 120_000_000  # larger images are refused with a clear error
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".3gp", ".ts"}


class MediaError(ValueError):
    """A file that cannot be read as an image or video; the message names the file."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


# --------------------------------------------------------------------------------------
# Reading images and videos


def _to_rgb_array(img) -> np.ndarray:
    """A PIL image of any mode as uint8 RGB (16-bit and float images are rescaled)."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(a, "L")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _check_file(path) -> Path:
    """The checks every reader makes first: the file exists, is a file, is not empty."""
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file")
    if path.is_dir():
        raise MediaError(path, "is a folder, not an image or video")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    return path


def _check_pixels(path, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaError(path, f"image is {width}x{height} ({width * height / 1e6:.0f} "
                               f"megapixels), over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f}")


def open_image(path):
    """Open an image with PIL, with a clear MediaError for every way it can fail."""
    from PIL import Image, UnidentifiedImageError

    path = _check_file(path)
    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        raise MediaError(path, "not an image (unknown or unsupported format)") from None
    except Exception as e:
        raise MediaError(path, f"cannot open image: {e}") from None
    _check_pixels(path, *img.size)
    return img


def read_image(path) -> np.ndarray:
    """The first frame of an image file as uint8 RGB, H x W x 3."""
    img = open_image(path)
    try:
        img.load()
        return _to_rgb_array(img)
    except Exception as e:  # truncated data, bad chunks, decoder errors
        raise MediaError(path, f"cannot decode image (corrupt or truncated?): {e}") from None


def load_face_crop(path) -> np.ndarray:
    """A face image prepared as the original example did: RGB, 256x256 nearest, uint8.

    (Keras 2's `load_img(target_size=(256, 256))` = PIL convert('RGB') + resize NEAREST.)
    """
    from PIL import Image

    rgb = Image.fromarray(read_image(path))
    if rgb.size != (FACE_SIZE, FACE_SIZE):
        rgb = rgb.resize((FACE_SIZE, FACE_SIZE), Image.NEAREST)
    return np.asarray(rgb, dtype=np.uint8)


@dataclass
class Frame:
    index: int  # 0-based decoded frame index
    time_s: float
    image: np.ndarray  # uint8 RGB, H x W x 3


def sample_indices(n_frames: int, count: int | None) -> list[int]:
    """`count` frame indices spread evenly over [0, n_frames), first and last included."""
    if n_frames <= 0:
        return []
    if count is None or count >= n_frames:
        return list(range(n_frames))
    if count <= 1:
        return [0]
    return sorted({round(i * (n_frames - 1) / (count - 1)) for i in range(count)})


def _pil_frames(path, img, count, indices) -> Iterator[Frame]:
    """Frames of a still or animated image (GIF, WebP, APNG) through PIL."""
    n = getattr(img, "n_frames", 1)
    wanted = sorted(set(indices)) if indices is not None else sample_indices(n, count)
    t = 0.0  # milliseconds since the first frame
    for i in range(n):
        try:
            img.seek(i)
            if i in wanted:
                img.load()
                yield Frame(i, t / 1000.0, _to_rgb_array(img))
        except EOFError:
            return
        except Exception as e:
            if i == 0:
                raise MediaError(path, f"cannot decode image (corrupt or truncated?): {e}") from None
            logger.warning("%s: stopped at frame %d: %s", path, i, e)
            return
        t += float(img.info.get("duration", 0) or 0)


def _ffmpeg_reason(text: str) -> str:
    """A short reason from ffmpeg's stderr, for a file it could not open."""
    if "moov atom not found" in text:
        return "truncated or not a video (ffmpeg: 'moov atom not found')"
    if "does not contain any stream" in text or "matches no streams" in text:
        return "no video stream (audio only?)"
    if "Invalid data found" in text:
        return "not an image or video (unrecognised data)"
    lines = [ln for ln in text.splitlines() if ln.strip() and "===" not in ln]
    return f"cannot read video: {lines[-1][:200] if lines else 'unknown ffmpeg error'}"


def _ffmpeg_frames(path, count, indices) -> Iterator[Frame]:
    """Sampled video frames, decoded once: ffmpeg's select filter pipes only those frames."""
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
        reader.close()
    except (OSError, RuntimeError, StopIteration) as e:
        raise MediaError(path, _ffmpeg_reason(str(e))) from None
    fps = float(meta.get("fps") or 0) or 25.0
    duration = float(meta.get("duration") or 0)
    width, height = meta["size"]
    _check_pixels(path, width, height)
    if indices is None:
        n_est = int(round(duration * fps)) if duration > 0 and math.isfinite(duration) else 0
        if n_est <= 0:  # no duration in the container: count frames (one extra pass)
            n_est, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        indices = sample_indices(n_est, count)
    indices = sorted(set(int(i) for i in indices))
    if not indices:
        raise MediaError(path, "video has no frames")
    # Frame i is the i-th frame at the container's nominal rate, as imageio (and so the
    # original) reads it: the fps filter makes variable-rate video constant first, then
    # select passes on only the sampled frames, so nothing else is converted or piped.
    select = "+".join(f"eq(n\\,{i})" for i in indices)
    reader = imageio_ffmpeg.read_frames(
        str(path), pix_fmt="rgb24",
        output_params=["-vf", f"fps={fps!r}:start_time=0,select='{select}'", "-fps_mode", "passthrough"])
    try:
        meta = next(reader)
        width, height = meta["size"]
        k = 0
        for k, raw in enumerate(reader):
            if k >= len(indices):
                break
            image = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            yield Frame(indices[k], indices[k] / fps, image)
    except (OSError, RuntimeError) as e:
        raise MediaError(path, f"cannot decode video (corrupt?): {_ffmpeg_reason(str(e))}") from None
    finally:
        reader.close()


def iter_frames(path, count: int | None = FRAME_SUBSAMPLE_COUNT,
                indices=None) -> Iterator[Frame]:
    """Yield `count` frames spread evenly over an image or video (or the given indices).

    A still image is a one-frame video. The kind of file is decided by its content:
    whatever PIL opens is an image (animated GIF/WebP included), the rest goes to ffmpeg.
    """
    from PIL import Image, UnidentifiedImageError

    path = _check_file(path)
    try:
        img = Image.open(path)
    except (UnidentifiedImageError, OSError):
        img = None
    if img is not None:
        _check_pixels(path, *img.size)
        yield from _pil_frames(path, img, count, indices)
        return
    yield from _ffmpeg_frames(path, count, indices)


def list_media(paths, suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES) -> list[Path]:
    """Files named on the command line, plus media files found recursively in folders."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file()
                            and f.suffix.lower() in suffixes and not f.name.startswith("."))
        else:
            found.append(p)  # a named file is tried whatever its name; errors say why
    return found
