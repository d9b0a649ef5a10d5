"""A corpus of broken files, made deterministically from the fixtures.

    python tests/malformed.py OUT            # all of it (over 1,000 files)
    python tests/malformed.py OUT --sample 150

Classes (the `kind` of each entry): truncations at many offsets, bit flips, shuffled
headers, zero bytes, wrong content under every media suffix, polyglots, huge declared
sizes, broken animations, undecodable metadata, extreme sizes, odd names (invalid
UTF-8, newlines, leading dashes, very long names), symbolic-link loops and dangling
links, a FIFO, unreadable files; and a few good files, whose scores must not change.
`make_corpus` returns one Entry per file; the same seed gives the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"]
VIDEO_SUFFIXES = [".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".3gp", ".ts"]


@dataclass
class Entry:
    name: str  # printable name, relative to the corpus folder
    kind: str  # the class of damage ('good' for the untouched files)
    seed: str  # what it was made from


def _face(fixtures: Path, side: int = 160) -> np.ndarray:
    from PIL import Image

    img = Image.open(fixtures / "faces" / "obama_small.jpg").convert("RGB")
    scale = side / max(img.size)
    return np.asarray(img.resize((round(img.width * scale), round(img.height * scale))))


def _encode(array, fmt: str, **kw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def _animation(frames, fmt: str) -> bytes:
    from PIL import Image

    imgs = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    imgs[0].save(buf, format=fmt, save_all=True, append_images=imgs[1:], duration=80, loop=0)
    return buf.getvalue()


def _video(fixtures: Path, suffix: str, codec: str | None, n: int = 10,
           pix_fmt: str = "yuv420p") -> bytes | None:
    """A short clip of a fixture video re-encoded small (None when ffmpeg lacks the codec)."""
    import tempfile

    import imageio_ffmpeg

    from mesonet.media import iter_frames

    frames = [f.image for f in iter_frames(fixtures / "videos" /
                                           "liveportrait_d0_frontal_face_3s.mp4", n)]
    h, w = frames[0].shape[:2]
    scale = 256 / max(h, w)
    size = (round(w * scale) // 2 * 2, round(h * scale) // 2 * 2)
    from PIL import Image

    small = [np.asarray(Image.fromarray(f).resize(size)) for f in frames]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"clip{suffix}"
        try:
            writer = imageio_ffmpeg.write_frames(str(path), size, fps=10, codec=codec,
                                                 macro_block_size=2, pix_fmt_out=pix_fmt,
                                                 ffmpeg_log_level="error",
                                                 # no random ids or dates: the same bytes
                                                 output_params=["-fflags", "+bitexact",
                                                                "-flags:v", "+bitexact"])
            writer.send(None)
            for f in small:
                writer.send(np.ascontiguousarray(f))
            writer.close()
        except (OSError, RuntimeError, BrokenPipeError):
            return None
        return path.read_bytes() if path.exists() and path.stat().st_size else None


def seeds(fixtures: Path) -> dict[str, bytes]:
    """The good files every damaged one is made from: name -> bytes."""
    face = _face(fixtures)
    frames = [np.roll(face, 4 * i, axis=1) for i in range(5)]
    out = {"face.jpg": _encode(face, "JPEG", quality=90), "face.png": _encode(face, "PNG"),
           "face.bmp": _encode(face, "BMP"), "face.webp": _encode(face, "WEBP", quality=80),
           "face.tiff": _encode(face, "TIFF"), "anim.gif": _animation(frames, "GIF"),
           "anim.png": _animation(frames, "PNG"), "anim.webp": _animation(frames, "WEBP")}
    for name, codec, pix_fmt in (("clip.mp4", "libx264", "yuv420p"),
                                 ("clip.avi", "mjpeg", "yuvj420p"),
                                 ("clip.mkv", "libx264", "yuv420p"),
                                 ("clip.webm", "libvpx-vp9", "yuv420p"),
                                 ("clip.mov", "libx264", "yuv420p")):
        data = _video(fixtures, Path(name).suffix, codec, pix_fmt=pix_fmt)
        if data is not None:
            out[name] = data
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_declared(face_png: bytes, face_jpg: bytes, face_gif: bytes, face_bmp: bytes):
    """Files whose headers declare enormous pictures over small data: name -> bytes."""
    out = {}
    for w, h in ((100_000, 100_000), (65_535, 65_535), (20_000, 20_000), (1, 2_000_000_000)):
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        out[f"huge_png_{w}x{h}.png"] = (face_png[:8] + _png_chunk(b"IHDR", ihdr)
                                        + face_png[33:])
    for w, h in ((65_000, 65_000), (30_000, 30_000), (65_535, 1)):
        i = face_jpg.find(b"\xff\xc0")
        if i < 0:
            i = face_jpg.find(b"\xff\xc2")
        data = bytearray(face_jpg)
        data[i + 5:i + 9] = struct.pack(">HH", h, w)
        out[f"huge_jpeg_{w}x{h}.jpg"] = bytes(data)
    gif = bytearray(face_gif)
    gif[6:10] = struct.pack("<HH", 65_535, 65_535)
    out["huge_gif_screen.gif"] = bytes(gif)
    bmp = bytearray(face_bmp)
    bmp[18:26] = struct.pack("<ii", 60_000, 60_000)
    out["huge_bmp_60000.bmp"] = bytes(bmp)
    bmp[18:26] = struct.pack("<ii", 20_000, -20_000)
    out["huge_bmp_topdown.bmp"] = bytes(bmp)
    # a real, tiny, highly compressed PNG of 12,000 x 12,000 (144 megapixels)
    row = b"\x00" + b"\x00" * (12_000 * 3)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(12_000)) + comp.flush()
    out["bomb_real_12000.png"] = (b"\x89PNG\r\n\x1a\n"
                                  + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 12_000, 12_000,
                                                                    8, 2, 0, 0, 0))
                                  + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b""))
    return out


def bad_metadata(face_png: bytes, face_jpg: bytes) -> dict[str, bytes]:
    """Text metadata that is not valid in its encoding."""
    junk = bytes(range(128, 256))
    out = {}
    itxt = b"Title\x00\x00\x00\x00\x00" + junk  # iTXt must be UTF-8
    out["meta_itxt.png"] = face_png[:33] + _png_chunk(b"iTXt", itxt) + face_png[33:]
    out["meta_text.png"] = face_png[:33] + _png_chunk(b"tEXt", b"\xff\xfe" + junk) + face_png[33:]
    out["meta_ztxt.png"] = face_png[:33] + _png_chunk(b"zTXt", b"k\x00\x00" + junk) + face_png[33:]
    com = b"\xff\xfe" + struct.pack(">H", len(junk) + 2) + junk
    out["meta_com.jpg"] = face_jpg[:2] + com + face_jpg[2:]
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x0e\x00\x02\x00\x00\x00\x40" \
           b"\x00\x00\x00\x1a" + junk[:64]
    out["meta_exif.jpg"] = face_jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif \
        + face_jpg[2:]
    return out


FOREIGN = {  # content that is not media, written under media names
    "text": b"hello, this is not a picture\n" * 20,
    "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>\n",
    "json": json.dumps({"frames": [1, 2, 3], "note": "not a video"}).encode(),
    "elf": b"\x7fELF\x02\x01\x01" + bytes(200),
    "zip": b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18),
    "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    "random": bytes(random.Random(7).getrandbits(8) for _ in range(4096)),
    "zeros": bytes(2048),
}


def make_corpus(out: str | os.PathLike, fixtures: str | os.PathLike, sample: int | None = None,
                seed: int = 0) -> list[Entry]:
    """Write the corpus into `out` (which must be empty or absent); its entries. With
    `sample`, a deterministic subset of that size, every class kept."""
    out, fixtures = Path(out), Path(fixtures)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    good = seeds(fixtures)
    files: list[tuple[bytes | str, bytes, str, str]] = []  # (name, data, kind, seed)

    def add(name, data, kind, source):
        files.append((name, data, kind, source))

    for name, data in good.items():
        add(f"good_{name}", data, "good", name)
    for name, data in good.items():
        stem, suffix = name.split(".")
        n = len(data)
        offsets = sorted({1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 100, 128, 200, 256, 512, 1024}
                         | {int(n * f) for f in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                                                 0.9, 0.95, 0.99)} | {n - 1, n - 2, n - 16})
        for k in (o for o in offsets if 0 < o < n):
            add(f"trunc_{stem}_{k:07d}.{suffix}", data[:k], "truncated", name)
        for i in range(24):
            flipped = bytearray(data)
            span = 64 if i < 8 else (1024 if i < 16 else n)  # header, early data, anywhere
            for _ in range(1 + i % 8 * 4):
                j = rng.randrange(min(span, n))
                flipped[j] ^= 1 << rng.randrange(8)
            add(f"flip_{stem}_{i:02d}.{suffix}", bytes(flipped), "bit_flip", name)
        for i, width in enumerate((8, 16, 32, 64, 256, 1024)):
            head = bytearray(data[:width])
            blocks = [head[j:j + 4] for j in range(0, len(head), 4)]
            rng.shuffle(blocks)
            add(f"shuffle_{stem}_{i}.{suffix}", b"".join(blocks) + data[width:],
                "shuffled_header", name)
        add(f"zerohead_{stem}.{suffix}", bytes(64) + data[64:], "zero_bytes", name)
        add(f"zerotail_{stem}.{suffix}", data[:len(data) // 3] + bytes(len(data) - len(data) // 3),
            "zero_bytes", name)
        add(f"dup_header_{stem}.{suffix}", data[:512] + data, "shuffled_header", name)
    for suffix in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        add(f"empty{suffix}", b"", "zero_bytes", "-")
        add(f"allzero{suffix}", bytes(4096), "zero_bytes", "-")
        for fname, content in FOREIGN.items():
            add(f"foreign_{fname}{suffix}", content, "wrong_content", fname)
        for name, data in good.items():  # a real file under every other suffix
            if not name.endswith(suffix):
                add(f"as_{name.replace('.', '_')}{suffix}", data, "wrong_suffix", name)
    jpg, png, mp4 = good["face.jpg"], good["face.png"], good.get("clip.mp4", b"")
    polyglots = {"jpg_zip.jpg": jpg + FOREIGN["zip"], "png_mp4.png": png + mp4,
                 "mp4_after_jpg.mp4": jpg + mp4, "jpg_after_mp4.mp4": mp4 + jpg,
                 "gif_html.gif": good["anim.gif"] + FOREIGN["html"],
                 "html_gif.gif": FOREIGN["html"] + good["anim.gif"],
                 "pdf_jpg.jpg": FOREIGN["pdf"] + jpg, "png_in_jpg.jpg": jpg[:2] + png,
                 "two_jpgs.jpg": jpg + jpg, "mp4_twice.mp4": mp4 + mp4,
                 "webm_mp4.webm": good.get("clip.webm", b"") + mp4}
    for name, data in polyglots.items():
        add(f"poly_{name}", data, "polyglot", name)
    for name, data in huge_declared(png, jpg, good["anim.gif"], good["face.bmp"]).items():
        add(name, data, "huge_declared", name)
    for name, data in bad_metadata(png, jpg).items():
        add(name, data, "bad_metadata", name)
    face = _face(fixtures)
    extremes = {"tiny_1x1.png": _encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
                "thin_1x4000.png": _encode(np.full((1, 4000, 3), 90, np.uint8), "PNG"),
                "tall_4000x1.png": _encode(np.full((4000, 1, 3), 90, np.uint8), "PNG"),
                "big_3000x2000.jpg": _encode(np.full((2000, 3000, 3), 127, np.uint8), "JPEG"),
                "gray16.png": _encode((face[..., 0].astype(np.uint16) * 257), "PNG"),
                "cmyk.jpg": _cmyk(face), "palette.gif": _encode(face, "GIF"),
                "one_frame.gif": _animation([face], "GIF")}
    for name, data in extremes.items():
        add(f"extreme_{name}", data, "extreme_size", name)
    for raw_name in (b"bad_utf8_\xff\xfe.jpg", b"latin1_caf\xe9.png", b"new\nline.jpg",
                     b"tab\there.jpg", b"-leading-dash.jpg", b"--help.jpg", b" space .jpg",
                     "unicode_\u00e9\u4e2d\U0001f600.jpg".encode(), b"quote'\"$(x).jpg",
                     b"L" * 240 + b".jpg", b"dots...jpg", b"back\\slash.jpg",
                     b"bad_utf8_video_\xc3\x28.mp4"):
        add(raw_name, mp4 if raw_name.endswith(b".mp4") else jpg, "odd_name", "face.jpg")

    if sample is not None:
        by_kind: dict[str, list] = {}
        for f in files:
            by_kind.setdefault(f[2], []).append(f)
        keep = []
        share = sample / len(files)
        for kind, group in sorted(by_kind.items()):
            k = max(2, round(len(group) * share)) if kind not in ("good", "odd_name") \
                else len(group)
            keep += random.Random(f"{seed}-{kind}").sample(group, min(k, len(group)))
        files = keep

    entries = []
    for name, data, kind, source in files:
        raw = name if isinstance(name, bytes) else name.encode()
        path = os.path.join(os.fsencode(out), raw)
        with open(path, "wb") as f:
            f.write(data)
        entries.append(Entry(os.fsdecode(raw), kind, source))
    # links and special files
    specials = [("loop_a.jpg", "loop_b.jpg"), ("loop_b.jpg", "loop_a.jpg"),
                ("self_loop.mp4", "self_loop.mp4"), ("dangling.png", "does_not_exist.png"),
                ("link_to_dir.mp4", "."), ("good_link.jpg", "good_face.jpg")]
    for name, target in specials:
        os.symlink(target, out / name)
        entries.append(Entry(name, "symlink", target))
    os.mkfifo(out / "fifo.mp4")
    entries.append(Entry("fifo.mp4", "special_file", "-"))
    os.mkdir(out / "folder.jpg")  # a folder named like an image
    locked = out / "unreadable.jpg"
    locked.write_bytes(jpg)
    locked.chmod(0)
    entries.append(Entry("unreadable.jpg", "unreadable", "face.jpg"))
    return entries


def _cmyk(face) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(face).convert("CMYK").save(buf, format="JPEG")
    return buf.getvalue()


def media_files(entries) -> list[Entry]:
    """The entries a folder scan lists (media suffix, not the FIFO's or a link to a folder's
    kind of file excluded: every listed one must get a row)."""
    return [e for e in entries if Path(e.name).suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            and e.name != "link_to_dir.mp4"]


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[2] / "shared"
                                             / "fixtures"))
    p.add_argument("--sample", type=int)
    args = p.parse_args(argv)
    entries = make_corpus(args.out, args.fixtures, args.sample)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    print(json.dumps({"files": len(entries), "by_kind": counts}, indent=1))
    (Path(args.out) / ".entries.json").write_text(json.dumps([asdict(e) for e in entries]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
