"""Turn the shared training corpora into aligned face crops in the original layout.

    python training/prepare_corpus.py --corpus ../shared/train ../shared/train_extra --output data

Every image (and 32 frames of every video) goes through the same detector and
alignment as scoring does (pipeline.py), and every crop is saved as JPEG quality 90,
so that no group keeps a format or framing of its own for a model to learn (the
corpus MANIFEST's first warning). Crops land in OUTPUT/{training,validation}/{df,real}/
named <group>__<file>.jpg; OUTPUT/corpus.csv lists each with its group, forgery family,
split, identity and the face's 68 landmarks in the crop's pixels (self-blending needs
them), and flags DFDC fakes that are near-identical to their own original (16x16 dHash
within 20 bits: the swap is missing in that frame, a known DFDC label noise).

The validation split (1 in 5) is drawn by identity where the corpus tells it: a DFDC
fake goes with its original, an FF++ clip with its target id, every frame of a video
with its video; elsewhere by file. Rerunning skips crops already made and listed with
their landmarks in OUTPUT/corpus.csv; a crop without landmarks (an older folder) is made
again.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import os
import re
import sys
from pathlib import Path


import numpy as np  # noqa: E402

from mesonet import cli  # noqa: E402
from mesonet.training.corpus import COLUMNS, family_of, landmarks_text, read_manifest  # noqa: E402

logger = logging.getLogger("prepare_corpus")
VIDEO_FRAMES = 32


def identity_key(row: dict) -> str:
    """What must not be split across training and validation."""
    notes, name = row.get("notes", ""), Path(row["path"]).stem
    m = re.search(r"original=(\w+)", notes)
    if m:  # a DFDC fake: its original video
        return "dfdc:" + m.group(1)
    if "dfdc" in row["group"]:
        return "dfdc:" + name
    if row["media"] == "video":
        return "video:" + name.split("_")[0]  # FF++ target_source.mp4 -> target
    return f"{row['group']}:{name}"


def split_of(key: str, fraction: int = 5) -> str:
    return "validation" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % fraction == 0 \
        else "training"


def crops_of(path: Path, media: str, finder, video_frames: int = VIDEO_FRAMES):
    """(frame index, aligned crop, landmarks in the crop) for the face of an image, or of
    sampled video frames.

    Tight crops (the face fills the image) defeat the detector; such images get a
    mirrored margin and a second try.
    """
    import cv2

    from mesonet import faces
    from mesonet import media as media_io
    from mesonet import pipeline

    if media == "video":
        result = pipeline.extract_faces(path, finder, video_frames)
        return [(f.frame, f.crop, f.landmarks) for f in result.faces]
    image = media_io.read_image(path)
    for pad in (0, 0.3):
        padded = image
        if pad:
            m = int(pad * max(image.shape[:2]))
            padded = cv2.copyMakeBorder(image, m, m, m, m, cv2.BORDER_REFLECT_101)
        finder.reset()
        hit = finder.track(padded)
        if hit is not None:
            _, marks, (center, side, rotation) = hit
            return [(0, faces.aligned_face(padded, center, side, rotation),
                     faces.landmarks_in_crop(marks, center, side, rotation))]
    return []


def dhash16(path: Path) -> np.ndarray | None:
    """A 256-bit difference hash (16x16), as the corpus MANIFEST's near-duplicate checks."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            g = np.asarray(img.convert("L").resize((17, 16), Image.BILINEAR), np.int16)
    except Exception:  # an unreadable original only costs the flag
        return None
    return (g[:, 1:] > g[:, :-1]).ravel()


def near_identical(row: dict, corpus: Path, threshold: int = 20) -> bool:
    """A DFDC fake whose 16x16 dHash is within `threshold` bits of its own original's:
    the swap is subtle or missing in that frame (label noise, the MANIFEST says)."""
    m = re.search(r"original=(\w+)", row.get("notes", ""))
    if row["label"] != "fake" or not m:
        return False
    if "near-identical" in row.get("notes", ""):
        return True
    original = corpus / Path(row["path"]).parent.as_posix().replace("fake/", "real/", 1) \
        / f"{m.group(1)}.jpg"
    a, b = dhash16(corpus / row["path"]), dhash16(original)
    return a is not None and b is not None and int((a != b).sum()) <= threshold


def work(args):
    rows, output, done_before, video_frames = args
    from PIL import Image

    from mesonet.faces import FaceFinder
    from mesonet.media import MediaError
    from mesonet.outputs import atomic_path

    finder = FaceFinder(cnn_rescue=False)
    out = []
    for row in rows:
        corpus = Path(row["corpus"])
        label = "df" if row["label"] == "fake" else "real"
        split = split_of(identity_key(row))
        folder = output / split / label
        stem = f"{row['group']}__{Path(row['path']).stem}"
        base = {"label": row["label"], "group": row["group"],
                "family": family_of(row["label"], row.get("manipulation", "")),
                "split": split, "source": f"{corpus.name}/{row['path']}",
                "identity": identity_key(row),
                "near_identical": int(near_identical(row, corpus))}
        # exactly this file's crops, made before with their landmarks
        done = done_before.get(base["source"], [])
        if done and all((output / d["crop"]).is_file() for d in done):
            out += [{**base, "crop": d["crop"], "landmarks": d["landmarks"]} for d in done]
            continue
        try:
            crops = crops_of(corpus / row["path"], row["media"], finder, video_frames)
        except MediaError as e:
            logger.warning("%s", e)
            crops = []
        folder.mkdir(parents=True, exist_ok=True)
        for frame, crop, marks in crops:
            name = stem + (f"__f{frame:05d}" if row["media"] == "video" else "") + ".jpg"
            with atomic_path(folder / name) as tmp:
                Image.fromarray(crop).save(tmp, format="JPEG", quality=90)
            out.append({**base, "crop": f"{split}/{label}/{name}",
                        "landmarks": landmarks_text(marks)})
        if not crops:
            out.append({**base, "crop": "", "landmarks": ""})
    return out


def read_corpus_rows(corpora) -> list[dict]:
    """labels.csv rows of every corpus folder, each with its folder under 'corpus'."""
    rows, seen = [], {}
    for corpus in corpora:
        labels = Path(corpus) / "labels.csv"
        if not labels.exists():
            raise FileNotFoundError(f"{labels} not found: give corpus folders with --corpus")
        with open(labels, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                key = (row["group"], Path(row["path"]).stem, row["label"])
                if key in seen:
                    raise ValueError(f"{labels}: {row['path']} would make the same crop name as "
                                     f"{seen[key]}")
                seen[key] = f"{corpus}/{row['path']}"
                rows.append({**row, "corpus": str(corpus)})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = [c for c in ("../shared/train", "../shared/train_extra") if Path(c).is_dir()]
    p.add_argument("--corpus", nargs="+",
                   default=os.environ.get("MESONET_TRAIN_DIR", "").split() or default,
                   help="corpus folders with labels.csv (default: ../shared/train and "
                        "../shared/train_extra)")
    p.add_argument("--output", default="data", help="where the crops and corpus.csv go")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes (default: one per core)")
    p.add_argument("--video-frames", type=int, default=VIDEO_FRAMES,
                   help="frames sampled from each video (default: %(default)s)")
    p.add_argument("--limit", type=int, help="only the first N files of each corpus (a quick try)")
    args = p.parse_args(argv)
    cli.setup_logging()
    output = Path(args.output)
    try:
        if not args.corpus:
            raise FileNotFoundError("no corpus folder: give them with --corpus")
        rows = read_corpus_rows(args.corpus)
    except (OSError, ValueError) as e:
        logger.error("%s", e)
        return 2
    if args.limit:
        per = {}
        rows = [r for r in rows if per.setdefault(r["corpus"], []).append(r) or
                len(per[r["corpus"]]) <= args.limit]
    done_before = {}
    if (output / "corpus.csv").is_file():
        for r in read_manifest(output / "corpus.csv"):
            if r["crop"] and r["landmarks"] is not None:
                done_before.setdefault(r["source"], []).append(
                    {"crop": r["crop"], "landmarks": landmarks_text(r["landmarks"])})
    from multiprocessing import Pool

    from mesonet.progress import progress

    chunks = [(rows[i:i + 50], output, done_before, args.video_frames)
              for i in range(0, len(rows), 50)]
    table = []
    with Pool(args.workers) as pool:
        for part in progress(pool.imap_unordered(work, chunks), total=len(chunks),
                             unit="x50", desc="preparing"):
            table += part
    table.sort(key=lambda r: (r["split"], r["crop"]))
    from mesonet.outputs import write_results

    write_results(output / "corpus.csv", table, COLUMNS, {})
    made = [r for r in table if r["crop"]]
    print(f"{len(made)} crops from {len(rows)} files; "
          f"{sum(1 for r in table if not r['crop'])} files had no detectable face; "
          f"{sum(1 for r in made if r['near_identical'])} near-identical DFDC fakes flagged")
    for split in ("training", "validation"):
        for label in ("real", "fake"):
            n = sum(1 for r in made if r["split"] == split and r["label"] == label)
            print(f"  {split:<10} {label:<4} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
