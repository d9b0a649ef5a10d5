"""Reading images and videos: frames in, uint8 RGB arrays out, one clear error per bad file.

Images (any PIL mode, 16-bit and CMYK included) become uint8 RGB, H x W x 3. Videos are
decoded once by ffmpeg (imageio-ffmpeg ships it), which passes on only the sampled
frames; where PyAV (the `fast` extra) can give exactly those frames (MP4/MOV/MKV/WebM,
8-bit pictures that need no turning), it decodes them in-process instead, on a thread
ahead of the caller, without decoding the frames nothing refers to. Animated
GIF/WebP/APNG are read frame by frame with PIL, as videos. Which reader a file gets is
decided by its content, not its name.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import stat
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from mesonet.contract import FACE_SIZE
from mesonet.outputs import printable

logger = logging.getLogger(__name__)

FRAME_SUBSAMPLE_COUNT = 30  # frames sampled per video, as the original deepfakes scripts
MAX_IMAGE_PIXELS = 120_000_000  # larger images are refused with a clear error
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".3gp", ".ts"}


class MediaError(ValueError):
    """A file that cannot be read as an image or video; the message names the file."""

    def __init__(self, path, reason: str):
        super().__init__(f"{printable(path)}: {reason}")
        self.path = printable(path)
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
    """The checks every reader makes first: the file exists, is a regular readable file,
    is not empty. Symbolic-link loops, dangling links, FIFOs and devices are refused here,
    before any reader could block or loop on them."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise MediaError(path, "symbolic link loop") from None
        if e.errno == errno.ENOENT and os.path.islink(path):
            raise MediaError(path, "broken symbolic link (its target does not exist)") from None
        if e.errno == errno.ENAMETOOLONG:
            raise MediaError(path, "file name too long") from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise MediaError(path, "permission denied") from None
        raise MediaError(path, "no such file" if e.errno == errno.ENOENT
                         else f"cannot read: {os.strerror(e.errno)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(path, "is a folder, not an image or video")
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(path, "not a regular file (a pipe, socket or device)")
    if st.st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise MediaError(path, "permission denied (not readable)")
    return path


def _check_pixels(path, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaError(path, f"image is {width}x{height} ({width * height / 1e6:.0f} "
                               f"megapixels), over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f}")


def _pil_reason(e: BaseException) -> str:
    """Why PIL could not read an image, in words."""
    from PIL import Image

    text = str(e)
    if isinstance(e, Image.DecompressionBombError):
        pixels = text.split("(")[1].split(" ")[0] if "(" in text else "?"
        return (f"too large: declares {pixels} pixels, over the limit of "
                f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (a decompression bomb?)")
    if isinstance(e, UnicodeDecodeError):
        return "undecodable metadata (text that is not valid in its encoding)"
    if isinstance(e, MemoryError):
        return "too large to decode in memory"
    if ("truncated" in text.lower() or "end of file" in text.lower() or isinstance(e, EOFError)
            or "failed to read next frame" in text or "image file is truncated" in text):
        return "truncated image (the data ends early)"
    if isinstance(e, (SyntaxError, ValueError, KeyError, IndexError, TypeError, struct.error)) \
            or "broken" in text or "CRC" in text:
        return f"corrupt image data ({type(e).__name__}: {text[:160]})"
    if "decoder object" in text:
        return "corrupt image data (the decoder refused it)"
    return f"cannot decode image: {text[:200]}"


def open_image(path):
    """Open an image with PIL, with a clear MediaError for every way it can fail; images
    that declare more than MAX_IMAGE_PIXELS are refused before any pixel is decoded."""
    path = _check_file(path)
    try:
        img = _pil_open(path)
    except MediaError:
        raise
    except Exception as e:
        raise MediaError(path, _pil_reason(e)) from None
    if img is None:
        raise MediaError(path, "not an image (unknown or unsupported format)")
    return img


#: the image formats PIL may open (its weakly detected ones, such as TGA or MPEG, could
#: take a video for an image); the rest goes to ffmpeg
PIL_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "ICO",
               "JPEG2000")


def _pil_open(path):
    """PIL's Image.open with our size limit (declared sizes over it raise before decoding);
    None when the file is none of PIL_FORMATS."""
    import warnings

    from PIL import Image, ImageFile, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS // 2  # PIL refuses at twice this, we at once
    # a truncated image is an error, not a grey-filled picture: face_recognition sets this
    # flag to True for the whole process when it is imported
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            Image.init()  # registers every plugin, so that all of PIL_FORMATS are known
            img = Image.open(path, formats=[f for f in PIL_FORMATS if f in Image.OPEN])
        except UnidentifiedImageError:
            return None
    _check_pixels(path, *img.size)
    return img


def read_image(path) -> np.ndarray:
    """The first frame of an image file as uint8 RGB, H x W x 3."""
    img = open_image(path)
    try:
        img.load()
        return _to_rgb_array(img)
    except Exception as e:  # truncated data, bad chunks, decoder errors
        raise MediaError(path, _pil_reason(e)) from None


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
    still: bool = False  # True for the one frame of a still image


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
    try:
        n = int(getattr(img, "n_frames", 1))  # counting may read the whole file
    except Exception as e:
        raise MediaError(path, _pil_reason(e)) from None
    wanted = sorted(set(indices)) if indices is not None else sample_indices(n, count)
    t = 0.0  # milliseconds since the first frame
    for i in range(n):
        try:
            img.seek(i)
            if i in wanted:
                img.load()
                yield Frame(i, t / 1000.0, _to_rgb_array(img), still=n == 1)
        except EOFError:
            if i == 0:
                raise MediaError(path, "truncated image (the data ends early)") from None
            return
        except Exception as e:
            if i == 0:
                raise MediaError(path, _pil_reason(e)) from None
            logger.warning("%s: stopped at frame %d: %s", printable(path), i, _pil_reason(e))
            return
        try:
            t += float(img.info.get("duration", 0) or 0)
        except (TypeError, ValueError):
            pass


_BANNER = ("ffmpeg version", "built with", "configuration:", "lib", "copyright", "===",
           "input #", "metadata:", "duration:", "stream #", "output #", "stream mapping",
           "press [q]", "encoder", "major_brand", "minor_version", "compatible_brands",
           "handler_name", "vendor_id", "side data", "creation_time")

# ffmpeg's words, and the cause they name; first match wins
_FFMPEG_CAUSES = [
    ("moov atom not found", "truncated video (the MP4/MOV index is missing: 'moov atom not found')"),
    ("invalid data found when processing input", "not an image or video (unrecognised data)"),
    ("ebml header parsing failed", "not a Matroska/WebM file (corrupt header)"),
    ("is not implemented", "unsupported variant of the container (ffmpeg: not implemented)"),
    ("input/output error", "truncated or corrupt container (the data ends early)"),
    ("output file does not contain any stream", "no video stream (audio only, or its stream "
                                                "is unreadable)"),
    ("nothing was written into output file", "no frame could be decoded (corrupt or "
                                             "truncated data)"),
    ("could not convert string to float", "no duration in the container (ffmpeg reports N/A): "
                                          "a broken or unusual file"),
    ("list index out of range", "no video stream (audio only, or an unreadable stream)"),
    ("does not contain any stream", "no video stream (audio only?)"),
    ("matches no streams", "no video stream (audio only?)"),
    ("decoder (codec", "unsupported codec (no decoder for it in this ffmpeg)"),
    ("unsupported codec", "unsupported codec"),
    ("could not find codec parameters", "corrupt stream (codec parameters missing)"),
    ("dimensions not set", "corrupt stream (frame size missing)"),
    ("invalid data found", "not an image or video (unrecognised data)"),
    ("end of file", "truncated video (the data ends early)"),
    ("partial file", "truncated video (the data ends early)"),
    ("truncat", "truncated video (the data ends early)"),
    ("codec ascii", "undecodable metadata"),
    ("can't decode byte", "undecodable metadata"),
    ("invalid argument", "not a video ffmpeg can open (invalid container or stream)"),
    ("could not load meta information", "not a video ffmpeg can open (no stream information)"),
]


def _ffmpeg_reason(text: str) -> str:
    """The cause, in words, from an ffmpeg/imageio-ffmpeg error text (never the banner)."""
    low = text.lower()
    for words, cause in _FFMPEG_CAUSES:
        if words in low:
            return cause
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().lower().startswith(_BANNER)]
    last = lines[-1][:200] if lines else ""
    return f"cannot read video: {last}" if last else "cannot read video (ffmpeg gave no reason)"


def _ffmpeg_frames(path, count, indices) -> Iterator[Frame]:
    """Sampled video frames, decoded once: ffmpeg's select filter pipes only those frames.
    Whatever goes wrong in ffmpeg or in reading its output is a MediaError with the cause."""
    try:
        yield from _ffmpeg_frames_unguarded(path, count, indices)
    except MediaError:
        raise
    except Exception as e:  # imageio-ffmpeg raises OSError, RuntimeError, ValueError, ...
        reason = _ffmpeg_reason(f"{type(e).__name__}: {e}")
        if reason.startswith("truncated video (the MP4") and not _looks_like_mp4(path):
            reason = "not a video (its content is not MP4/MOV data)"
        raise MediaError(path, reason) from None


def _looks_like_mp4(path) -> bool:
    """Whether a file starts as an MP4/MOV (ISO base media) file does: a known first box."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def _probe(path) -> dict:
    """The video stream's metadata ({'fps', 'duration', 'size', ...}) as imageio-ffmpeg
    reads it, from one short run of its ffmpeg (`ffmpeg -i FILE` exits once the input is
    read). imageio-ffmpeg's own reader waits half a second on a file ffmpeg cannot open;
    here ffmpeg's exit ends the wait. A file it cannot open raises with ffmpeg's words."""
    import subprocess

    import imageio_ffmpeg
    from imageio_ffmpeg._parsing import parse_ffmpeg_header

    name = os.fspath(path)
    if name.startswith("-"):  # not an option to ffmpeg
        name = os.path.join(".", name)
    try:
        proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin",
                               "-i", name], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise MediaError(path, "ffmpeg took over 2 minutes to read the file's header") from None
    # the last line only says that no output was asked for: not the file's fault
    text = proc.stderr.decode("utf-8", "replace").replace(
        "At least one output file must be specified", "")
    # the words below are those ffmpeg prints when it is asked for the frames, as the
    # reader does, so that a file gets the same reason either way
    if not re.search(r"Stream #.*Video:", text):
        if "Input #" in text:
            raise OSError("Output file does not contain any stream: " + text)
        raise OSError(text)
    try:
        return parse_ffmpeg_header(text)
    except Exception:  # a "video" stream without a size: no picture in it
        raise OSError("Invalid data found when processing input: " + text) from None


# what the in-process decoder takes: containers that store each frame's presentation time,
# 8-bit pixel formats whose conversion to RGB matches the ffmpeg program's (tested)
_PYAV_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}
_PYAV_FORMATS = {"yuv420p", "yuv444p", "yuvj420p", "yuv422p"}


class _NotForPyAV(Exception):
    """A video the in-process decoder leaves to the ffmpeg program (named in the text)."""


def _use_pyav() -> bool:
    """Whether videos are decoded in-process by PyAV (the `fast` extra) where it gives the
    ffmpeg program's frames exactly (MESONET_DECODER=ffmpeg turns it off)."""
    if os.environ.get("MESONET_DECODER", "").lower() == "ffmpeg":
        return False
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _read_ahead(frames: Iterator[Frame], depth: int = 4) -> Iterator[Frame]:
    """The frames of `frames`, decoded on a thread up to `depth` frames ahead, so decoding
    (which lets go of the GIL) overlaps with finding faces in the frames given before.
    An exception on the thread is raised here, at the frame it stopped on."""
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce():
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        box.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
            box.put(end)
        except BaseException as e:  # handed to the consumer
            box.put(e)
        finally:
            frames.close()

    thread = threading.Thread(target=produce, name="mesonet-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue see the stop
            try:
                box.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def _round_half_away(x: Fraction) -> int:
    """FFmpeg's AV_ROUND_NEAR_INF of an exact fraction."""
    n = math.floor(abs(x) + Fraction(1, 2))
    return n if x >= 0 else -n


def _pyav_frames(path, fps: float, size, indices) -> Iterator[Frame]:
    """The sampled frames, decoded in-process by PyAV, pixel for pixel those the ffmpeg
    program pipes (the same decoders and conversion to RGB; tests/test_decoding.py compares
    both pixel for pixel), and faster: a frame that no other frame refers to (most
    B-frames) is not decoded at all unless it is sampled (`skip_frame` per packet).

    Frame i is the one ffmpeg's `fps` filter puts in slot i: the last frame whose
    timestamp, less the file's start time, rounds to i or earlier at the nominal rate
    (the first frame fills the slots before it). Anything this does not reproduce with
    certainty (a container without stored timestamps, several video streams, a rotation,
    a rate that is no exact fraction, a pixel format outside _PYAV_FORMATS, missing
    timestamps, slots past the last frame) raises _NotForPyAV before a frame is given, or
    ends the generator early: the caller decodes what is left with the ffmpeg program.
    """
    import av

    rate = Fraction(repr(float(fps)))
    if rate <= 0 or rate.numerator > 1_001_000 or rate.denominator > 1_001_000:
        raise _NotForPyAV(f"frame rate {fps!r} is no exact fraction for ffmpeg's fps filter")
    with av.open(str(path)) as container:
        if container.format.name not in _PYAV_CONTAINERS:  # AVI and others: guessed pts
            raise _NotForPyAV(f"container {container.format.name}")
        videos = container.streams.video
        if len(videos) != 1:
            raise _NotForPyAV(f"{len(videos)} video streams")
        stream = videos[0]
        tb = stream.time_base
        start = container.start_time or 0  # microseconds; ffmpeg subtracts it from every pts
        offset = _round_half_away(Fraction(start, 1_000_000) / tb)
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
        if not pts or any(p is None for p in pts) or len(set(pts)) != len(pts):
            raise _NotForPyAV("missing or repeated timestamps")
    slots = [_round_half_away((p - offset) * tb * rate) for p in pts]
    source = {}  # slot -> index of the frame (in display order) ffmpeg puts there
    k = 0
    for i in indices:
        if i > slots[-1]:
            break  # past the last frame's own slot: ffmpeg's end-of-stream rules decide
        while k + 1 < len(slots) and slots[k + 1] <= i:
            k += 1
        source[i] = k
    wanted = {pts[k]: [i for i in source if source[i] == k] for k in set(source.values())}
    last = max(wanted) if wanted else None
    known = set(pts)
    width, height = size
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        checked = False
        for packet in container.demux(stream):
            ctx.skip_frame = "DEFAULT" if packet.pts in wanted or packet.pts is None else "NONREF"
            for frame in ctx.decode(packet):
                slots_here = wanted.get(frame.pts)
                if not slots_here:
                    if frame.pts not in known:
                        raise _NotForPyAV(f"a decoded frame with timestamp {frame.pts} "
                                          "that no packet has")
                    continue
                if not checked:
                    if frame.format.name not in _PYAV_FORMATS or \
                            (frame.width, frame.height) != (width, height):
                        raise _NotForPyAV(f"{frame.format.name} {frame.width}x{frame.height}")
                    if frame.rotation:  # ffmpeg turns the picture upright; not done here
                        raise _NotForPyAV(f"rotated by {frame.rotation} degrees")
                    checked = True
                image = frame.to_ndarray(format="rgb24")
                image.flags.writeable = False  # as the ffmpeg program's frames; slots share it
                for i in slots_here:
                    yield Frame(i, i / fps, image)
                if frame.pts == last:
                    return


def _ffmpeg_frames_unguarded(path, count, indices) -> Iterator[Frame]:
    import imageio_ffmpeg

    meta = _probe(path)
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
    done = 0
    if _use_pyav():
        why = "slots past the last frame"  # where PyAV ends without an error
        try:
            for frame in _read_ahead(_pyav_frames(path, fps, (width, height), indices)):
                yield frame
                done += 1
        except Exception as e:  # the ffmpeg program takes over where PyAV stopped
            why = str(e)
        indices = indices[done:]
        if not indices:
            return
        logger.debug("%s: decoding with ffmpeg from frame %d on (%s)", printable(path),
                     indices[0], why)
    # Frame i is the i-th frame at the container's nominal rate, as imageio (and so the
    # original) reads it: the fps filter makes variable-rate video constant first, then
    # select passes on only the sampled frames, so nothing else is converted or piped.
    select = "+".join(f"eq(n\\,{i})" for i in indices)
    reader = imageio_ffmpeg.read_frames(
        str(path), pix_fmt="rgb24",
        output_params=["-vf", f"fps={fps!r}:start_time=0,select='{select}'", "-fps_mode", "passthrough"])
    yielded = done
    try:
        meta = next(reader)
        width, height = meta["size"]
        k = 0
        for k, raw in enumerate(reader):
            if k >= len(indices):
                break
            image = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            yield Frame(indices[k], indices[k] / fps, image)
            yielded += 1
        if not yielded:
            raise MediaError(path, "no frame could be decoded (corrupt or truncated data)")
    except (OSError, RuntimeError) as e:
        raise MediaError(path, _ffmpeg_reason(str(e))) from None
    finally:
        reader.close()


def iter_frames(path, count: int | None = FRAME_SUBSAMPLE_COUNT,
                indices=None) -> Iterator[Frame]:
    """Yield `count` frames spread evenly over an image or video (or the given indices).

    A still image is a one-frame video. The kind of file is decided by its content:
    whatever PIL opens is an image (animated GIF/WebP included), the rest goes to ffmpeg.
    """
    path = _check_file(path)
    try:
        img = _pil_open(path)
    except MediaError:
        raise
    except Exception as e:  # PIL knows the format, but the file is broken
        raise MediaError(path, _pil_reason(e)) from None
    if img is not None:
        yield from _pil_frames(path, img, count, indices)
        return
    yield from _ffmpeg_frames(path, count, indices)


def list_media(paths, suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES) -> list[Path]:
    """Files named on the command line, plus media files found recursively in folders.

    Folders are walked without following links to folders (a link loop cannot trap the
    walk); a link, even a broken one, with a media suffix is listed, so that it gets a row
    that says what is wrong with it. Sorted by the names' bytes, so the order is the same
    on every machine."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = []
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                inside += [Path(root) / f for f in files
                           if Path(f).suffix.lower() in suffixes and not f.startswith(".")]
            found += sorted(inside, key=os.fsencode)
        else:
            found.append(p)  # a named file is tried whatever its name; errors say why
    return found
