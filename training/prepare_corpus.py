"""Turn the shared training corpus into aligned face crops in the original layout.

    python training/prepare_corpus.py --corpus ../shared/train --output data

Every image (and 32 frames of every video) goes through the same detector and
alignment as scoring does (pipeline.py), and every crop is saved as JPEG quality 90,
so that no group keeps a format or framing of its own for a model to learn (the
corpus MANIFEST's first warning). Crops land in OUTPUT/{training,validation}/{df,real}/
named <group>__<file>.jpg; OUTPUT/corpus.csv lists each with its group and split.

The validation split (1 in 5) is drawn by identity where the corpus tells it: a DFDC
fake goes with its original, an FF++ clip with its target id, every frame of a video
with its video; elsewhere by file. Rerunning skips crops already made.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import reporting  # noqa: E402

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


def crops_of(path: Path, media: str, finder):
    """(frame index, aligned crop) for the face of an image, or of sampled video frames.

    Tight crops (the face fills the image) defeat the detector; such images get a
    mirrored margin and a second try.
    """
    import cv2

    import pipeline

    if media == "video":
        result = pipeline.extract_faces(path, finder, VIDEO_FRAMES)
        return [(f.frame, f.crop) for f in result.faces]
    image = pipeline.read_image(path)
    for pad in (0, 0.3):
        padded = image
        if pad:
            m = int(pad * max(image.shape[:2]))
            padded = cv2.copyMakeBorder(image, m, m, m, m, cv2.BORDER_REFLECT_101)
        finder.reset()
        hit = finder.track(padded)
        if hit is not None:
            _, _, (center, side, rotation) = hit
            return [(0, pipeline.aligned_face(padded, center, side, rotation))]
    return []


def work(args):
    rows, corpus, output, worker = args
    import pipeline
    from PIL import Image

    finder = pipeline.FaceFinder(cnn_rescue=False)
    out = []
    for row in rows:
        label = "df" if row["label"] == "fake" else "real"
        split = split_of(identity_key(row))
        folder = output / split / label
        stem = f"{row['group']}__{Path(row['path']).stem}"
        # exactly this file's crops: a prefix glob would take real_10.jpg for real_1's
        done = (sorted(folder.glob(stem + "__f*.jpg")) if row["media"] == "video"
                else [p for p in [folder / f"{stem}.jpg"] if p.exists()])
        if done:
            crops = [(None, None)] * len(done)
            names = [p.name for p in done]
        else:
            try:
                crops = crops_of(corpus / row["path"], row["media"], finder)
            except pipeline.MediaError as e:
                logger.warning("%s", e)
                crops = []
            names = []
            folder.mkdir(parents=True, exist_ok=True)
            for frame, crop in crops:
                name = stem + (f"__f{frame:05d}" if row["media"] == "video" else "") + ".jpg"
                tmp = folder / f".{name}.tmp"
                Image.fromarray(crop).save(tmp, format="JPEG", quality=90)
                os.replace(tmp, folder / name)
                names.append(name)
        for name in names:
            out.append({"crop": f"{split}/{label}/{name}", "label": row["label"],
                        "group": row["group"], "split": split, "source": row["path"],
                        "identity": identity_key(row)})
        if not names:
            out.append({"crop": "", "label": row["label"], "group": row["group"],
                        "split": split, "source": row["path"], "identity": identity_key(row)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=os.environ.get("MESONET_TRAIN_DIR", "../shared/train"))
    p.add_argument("--output", default="data")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--limit", type=int, help="only the first N files (for a quick try)")
    args = p.parse_args(argv)
    reporting.setup_logging()
    corpus, output = Path(args.corpus), Path(args.output)
    labels = corpus / "labels.csv"
    if not labels.exists():
        logger.error("%s not found: give the corpus folder with --corpus", labels)
        return 2
    with open(labels, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[: args.limit]
    from multiprocessing import Pool

    from tqdm import tqdm

    chunks = [(rows[i:i + 50], corpus, output, i) for i in range(0, len(rows), 50)]
    table = []
    with Pool(args.workers) as pool:
        for part in tqdm(pool.imap_unordered(work, chunks), total=len(chunks), unit="x50",
                         file=sys.stderr):
            table += part
    table.sort(key=lambda r: (r["split"], r["crop"]))
    reporting.write_results(output / "corpus.csv", table,
                            ["crop", "label", "group", "split", "source", "identity"], {})
    made = [r for r in table if r["crop"]]
    print(f"{len(made)} crops from {len(rows)} files; "
          f"{sum(1 for r in table if not r['crop'])} files had no detectable face")
    for split in ("training", "validation"):
        for label in ("real", "fake"):
            n = sum(1 for r in made if r["split"] == split and r["label"] == label)
            print(f"  {split:<10} {label:<4} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
