"""Extract aligned 256x256 face crops from videos, images or folders (no scoring).

    python extract_faces.py                  # video.mp4, the original's default input
    python extract_faces.py clips/ photo.jpg --frames 32 --output faces/ --detector cnn

Each face is found with face_recognition (dlib HOG by default), aligned as the
original MesoNet pipeline (centre between nose tip and bridge, side 2.2 x eye/mouth
distance x 1.3, de-rotated on the eye-mouth axis) and written as PNG under
OUTPUT/<video name>/. OUTPUT/manifest.csv gets one row per crop. Running again skips
the videos already done (with other --frames, --detector or --all-faces it refuses,
rather than mix crops made two ways); a file that fails is reported and the rest go on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import sys
from pathlib import Path

import cli

logger = logging.getLogger("extract_faces")

def manifest_columns() -> list[str]:
    """The per-face row layout (pipeline.FACE_COLUMNS) without a score, with the crop."""
    from pipeline import FACE_COLUMNS

    return [c for c in FACE_COLUMNS if c != "p_real"] + ["crop_path"]


def crop_folder_name(source: Path) -> str:
    """A folder per source, named after it, with a short hash so that a/x.mp4 and b/x.mp4 differ."""
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:8]
    return f"{source.stem}_{digest}"


def read_manifest(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def extract_one(source: Path, finder, output: Path, frames, all_faces) -> list[dict]:
    """Crops of one source written as PNG (atomically); its manifest rows."""
    from PIL import Image

    from outputs import atomic_path
    from pipeline import extract_faces

    result = extract_faces(source, finder, frames, all_faces)
    folder = output / crop_folder_name(source)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for face in result.faces:
        name = f"frame{face.frame:06d}_track{face.track}.png"
        with atomic_path(folder / name) as tmp:
            Image.fromarray(face.crop).save(tmp, format="PNG")
        row = {"source": str(source), **face.row(),
               "crop_path": (folder / name).relative_to(output).as_posix()}
        row.pop("p_real")
        rows.append(row)
    logger.info("%s: %d faces in %d sampled frames", source, len(rows), result.n_frames_sampled)
    return rows


def main(argv=None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="*", default=["video.mp4"],
                   help="videos, images or folders (default: video.mp4)")
    cli.add_video_options(p, aggregate=False)
    p.add_argument("--output", default="output",
                   help="folder for the crops and manifest.csv (default: %(default)s)")
    p.add_argument("--all-faces", action="store_true",
                   help="every face of each frame, grouped into tracks (default: the largest)")
    cli.add_common_options(p)
    args = p.parse_args(argv)
    cli.setup_logging(args.verbose)
    from tqdm import tqdm

    from faces import FaceFinder
    from media import MediaError, list_media
    from outputs import atomic_write_text, write_results

    output = Path(args.output)
    manifest_path = output / "manifest.csv"
    # resuming adds to what is there only when it was made the same way
    settings = {"frames": args.frames, "detector": args.detector, "all_faces": args.all_faces}
    settings_path = output / ".settings.json"
    rows = read_manifest(manifest_path)
    done = {r["source"] for r in rows}
    done |= {line for line in (output / ".done.txt").read_text().splitlines()} \
        if (output / ".done.txt").exists() else set()  # sources with no face count as done
    before = json.loads(settings_path.read_text()) if settings_path.exists() else None
    if done and before is not None and before != settings:
        logger.error("%s was made with other settings (%s); give another --output, or "
                     "delete it to start over", output,
                     ", ".join(f"{k}={v}" for k, v in before.items()))
        return 2
    if before != settings:
        output.mkdir(parents=True, exist_ok=True)
        atomic_write_text(settings_path, json.dumps(settings))
    sources = list_media(args.paths)
    todo = [s for s in sources if str(s) not in done]
    if len(todo) < len(sources):
        logger.info("Skipping %d sources already in %s", len(sources) - len(todo), manifest_path)
    finder = FaceFinder(args.detector)
    failed = []
    for source in tqdm(todo, unit="file", disable=args.no_progress or len(todo) < 2,
                       file=sys.stderr):
        try:
            new = extract_one(source, finder, output, args.frames, args.all_faces)
        except MediaError as e:
            logger.error("%s", e)
            failed.append(str(source))
            continue
        rows += new
        # the manifest is rewritten whole after each source: an interruption loses at most
        # the source in progress, and a rerun resumes there
        write_results(manifest_path, rows, manifest_columns(), {})
        with open(output / ".done.txt", "a", encoding="utf-8") as f:
            f.write(f"{source}\n")
    n_new = len(todo) - len(failed)
    print(f"{n_new} sources processed, {len(sources) - len(todo)} already done, "
          f"{len(failed)} failed; {len(rows)} crops listed in {manifest_path}")
    for f in failed:
        print(f"  failed: {f}", file=sys.stderr)
    return 1 if failed and not n_new and len(todo) == len(sources) else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
