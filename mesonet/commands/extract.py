"""Extract aligned 256x256 face crops from videos, images or folders (no scoring).

    python extract_faces.py                  # video.mp4, the original's default input
    python extract_faces.py clips/ photo.jpg --frames 32 --output faces/ --detector cnn

Each face is found with face_recognition (dlib HOG by default), aligned as the
original MesoNet pipeline (centre between nose tip and bridge, side 2.2 x eye/mouth
distance x 1.3, de-rotated on the eye-mouth axis) and written as PNG under
OUTPUT/<video name>_<hash>/. OUTPUT/manifest.csv gets one row per crop, and
OUTPUT/sources.csv one row per input file (faces found, or why it could not be read).
Running again skips the files already in sources.csv, so a killed run resumes where it
stopped (with other --frames, --detector or --all-faces it refuses, rather than mix crops
made two ways); a file that fails is reported and the rest go on.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

from mesonet import cli

logger = logging.getLogger("extract_faces")

SOURCE_COLUMNS = ["source", "path_bytes", "kind", "n_frames_sampled", "n_faces", "error"]


def manifest_columns() -> list[str]:
    """The per-face row layout (pipeline.FACE_COLUMNS) without a score, with the crop."""
    from mesonet.pipeline import FACE_COLUMNS

    return [c for c in FACE_COLUMNS if c != "p_real"] + ["path_bytes", "crop_path"]


def crop_folder_name(source: Path) -> str:
    """A folder per source, named after it (cleaned and shortened when odd or long), with
    a short hash of its path so that a/x.mp4 and b/x.mp4 differ."""
    from mesonet.outputs import safe_name

    return safe_name(source, always_hash=True)


def read_manifest(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def extract_one(source: Path, finder, output: Path, frames, all_faces) -> tuple[list, dict]:
    """Crops of one source written as PNG (atomically): its manifest rows and its
    sources.csv row (with the reason when it cannot be read)."""
    from PIL import Image

    from mesonet.media import MediaError
    from mesonet.outputs import atomic_path, name_fields
    from mesonet.pipeline import VideoResult, extract_faces

    try:
        result = extract_faces(source, finder, frames, all_faces)
    except MediaError as e:
        logger.error("%s", e)
        result = VideoResult(str(source), error=e.reason)
    except Exception as e:  # never let one file end the batch
        logger.exception("%s: unexpected error", source)
        result = VideoResult(str(source), error=f"unexpected error: {type(e).__name__}: {e}")
    names = name_fields(source, "source")
    folder = output / crop_folder_name(source)
    rows = []
    for face in result.faces:
        name = f"frame{face.frame:06d}_track{face.track}.png"
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / name) as tmp:
            Image.fromarray(face.crop).save(tmp, format="PNG")
        row = {**face.row(), **names, "crop_path": (folder / name).relative_to(output).as_posix()}
        row.pop("p_real")
        rows.append(row)
    if not result.error:
        logger.info("%s: %d faces in %d sampled frames", names["source"], len(rows),
                    result.n_frames_sampled)
    return rows, {**names, "kind": result.kind, "n_frames_sampled": result.n_frames_sampled,
                  "n_faces": len(rows), "error": result.error}


def worker_setup(detector, verbose):
    """What each worker loads once (mesonet.workers): the face finder."""
    from mesonet.faces import FaceFinder

    cli.setup_logging(verbose)
    return FaceFinder(detector)


def worker_task(finder, job):
    """One source, in a worker: extract_one's rows."""
    source, output, frames, all_faces = job
    return extract_one(source, finder, output, frames, all_faces)


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="*",
                   help="videos, images or folders (default: video.mp4, as the original)")
    cli.add_video_options(p, aggregate=False)
    p.add_argument("--output", default="output",
                   help="folder for the crops, manifest.csv and sources.csv "
                        "(default: %(default)s)")
    p.add_argument("--all-faces", action="store_true",
                   help="every face of each frame, grouped into tracks (default: the largest)")
    cli.add_jobs_option(p)
    cli.add_common_options(p)
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    cli.setup_logging(args.verbose)
    if not args.paths:  # the original's default input, when it is here
        if not Path("video.mp4").exists():
            p.print_usage(sys.stderr)
            logger.error("no input given, and video.mp4 (the original's default input) is "
                         "not here. Name videos, images or folders, for example: "
                         "python extract_faces.py data/sample_video.mp4 --output faces/")
            return 2
        args.paths = ["video.mp4"]
    from mesonet.progress import progress

    from mesonet.faces import FaceFinder
    from mesonet.media import list_media
    from mesonet.outputs import (atomic_write_text, name_fields, printable, remove_stale,
                                 write_results)
    from mesonet.workers import WorkerError, pool_size, run_each

    output = Path(args.output)
    if remove_stale(output, recursive=True):  # a killed run's half-written files
        logger.info("Removed half-written files of an interrupted run in %s", output)
    manifest_path, sources_path = output / "manifest.csv", output / "sources.csv"
    # resuming adds to what is there only when it was made the same way
    settings = {"frames": args.frames, "detector": args.detector, "all_faces": args.all_faces}
    settings_path = output / ".settings.json"
    done_rows = read_manifest(sources_path)
    done = {r["source"] for r in done_rows}
    # crops of a source whose sources.csv row was not written (killed in between) are
    # dropped here and made again
    rows = [r for r in read_manifest(manifest_path) if r["source"] in done]
    before = json.loads(settings_path.read_text()) if settings_path.exists() else None
    if done and before is not None and before != settings:
        logger.error("%s was made with other settings (%s); give another --output, or "
                     "delete it to start over", output,
                     ", ".join(f"{k}={v}" for k, v in before.items()))
        return 2
    sources = list_media(args.paths)
    todo = [s for s in sources if printable(s) not in done]
    if len(todo) < len(sources):
        logger.info("Skipping %d sources already in %s", len(sources) - len(todo), sources_path)
    if todo and before != settings:
        output.mkdir(parents=True, exist_ok=True)
        atomic_write_text(settings_path, json.dumps(settings))
    jobs = [(s, output, args.frames, args.all_faces) for s in todo]
    here = FaceFinder(args.detector) if todo and pool_size(args.jobs, len(todo)) <= 1 else None
    outcomes = run_each(jobs, args.jobs, worker_setup, (args.detector, args.verbose),
                        worker_task, state=here, label=lambda job: printable(job[0]))
    failed = []
    for (source, *_), outcome in progress(outcomes, unit="file", total=len(todo),
                                          enabled=not args.no_progress and len(todo) > 1,
                                          desc="extracting"):
        if isinstance(outcome, WorkerError):  # the worker holding it died
            logger.error("%s: %s", printable(source), outcome.reason)
            outcome = [], {**name_fields(source, "source"), "kind": None,
                           "n_frames_sampled": 0, "n_faces": 0, "error": outcome.reason}
        new, source_row = outcome
        if source_row["error"]:
            failed.append(source_row)
        rows += new
        done_rows.append(source_row)
        # both tables are rewritten whole after each source, crops first: an interruption
        # loses at most the source in progress, and a rerun resumes there
        write_results(manifest_path, rows, manifest_columns(), {})
        write_results(sources_path, done_rows, SOURCE_COLUMNS, {})
    n_new = len(todo) - len(failed)
    written = f"; {len(rows)} crops listed in {manifest_path}" if manifest_path.exists() else \
        "; nothing written"
    print(f"{n_new} sources processed, {len(sources) - len(todo)} already done, "
          f"{len(failed)} failed{written}")
    for f in failed:
        print(f"  failed: {f['source']}: {f['error']}", file=sys.stderr)
    return 1 if failed and not n_new and len(todo) == len(sources) else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
