"""Score videos (and images) end to end: one verdict per video.

    python deepfakes_videos.py data/sample_video.mp4
    python deepfakes_videos.py clips/ --output verdicts.csv --aggregate vote --timeline plots/
    python deepfakes_videos.py clip.mp4 --explain maps/   # where each face looks forged

Per video: faces found in --frames sampled frames, aligned as the original MesoNet,
scored by the network, aggregated two ways, both always reported:
  mean_p_real  mean P(real) over faces (the paper's per-video score)
  vote_real    share of faces with P(real) > 0.5 (what the released code printed)
  p_real_std, p_real_iqr  how much the face scores spread (standard deviation, IQR)
P(real): 0 = deepfake/Face2Face, 1 = real. `prediction` is `fake`, `inconclusive` or
`real` at the weights' operating point for videos (for a still: for faces), fitted on
sources they never saw; the last lines say what each verdict has meant there.
--threshold (and --inconclusive) set a fixed rule instead. `no_face` when no face was
found, `error` when the file could not be read (`error` says why; a bad file never
stops the batch). `kind` is `video` or `image`; `path_bytes` holds a file name's bytes in
hex when it had to be escaped to be written (names that are not valid UTF-8). With --all-faces every person is
tracked and the video's score is that of its most forged-looking person. With
--explain DIR: a PNG per face (crop, Grad-CAM map, P(real)) in DIR/<video>/, and
DIR/<video>.png, a contact sheet of its most forged- and most real-looking faces.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from mesonet import cli, extras
from mesonet import scorers
from mesonet.contract import P_REAL_MEANING, OperatingPoint

logger = logging.getLogger("deepfakes_videos")

def plot_timeline(result, path, weights: str, op: OperatingPoint) -> None:
    """A PNG of P(real) over time, one line per tracked person, with the operating point's
    thresholds and its inconclusive band between them, for a person to look at."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    if op.real_above > op.fake_at_most:
        ax.axhspan(op.fake_at_most, op.real_above, color="#f0b400", alpha=0.18,
                   label=f"inconclusive ({op.fake_at_most:.2f}-{op.real_above:.2f})")
    for track in result.tracks():
        faces = [f for f in result.faces if f.track == track]
        ax.plot([f.time_s for f in faces], [f.p_real for f in faces], "o-", ms=3,
                label=f"person {track}" if len(result.tracks()) > 1 else "P(real) per frame")
    ax.axhline(op.fake_at_most, color="grey", ls="--", lw=1,
               label=f"fake at or below {op.fake_at_most:.3f}")
    mean = result.score("mean")
    if mean is not None:
        ax.axhline(mean, color="tab:red", lw=1, label=f"mean {mean:.3f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time in the video (s)", fontsize=11)
    ax.set_ylabel("P(real): 0 = forged, 1 = real", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(alpha=0.3)
    ax.set_title(f"{Path(result.source).name}: {result.verdict('mean', op)}"
                 f" (weights {weights})", fontsize=11)
    ax.legend(fontsize=9, loc="lower left")
    fig.tight_layout()
    from mesonet.outputs import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="+", help="videos, images or folders (recursive)")
    cli.add_weights_options(p, precision=True)
    cli.add_video_options(p)
    cli.add_threshold_option(p)
    p.add_argument("--all-faces", action="store_true",
                   help="score every face, tracked per person (default: the largest face)")
    p.add_argument("--output", help="per-video results to FILE.csv or FILE.json")
    p.add_argument("--frames-output", help="per-face scores to FILE.csv or FILE.json")
    p.add_argument("--timeline", metavar="DIR", help="write a P(real)-over-time PNG per video")
    p.add_argument("--resume", action="store_true",
                   help="keep the videos already in --output and skip them")
    p.add_argument("--explain", metavar="DIR",
                   help="a PNG per face (crop, Grad-CAM map, P(real)) and a contact sheet per "
                        "video in DIR")
    cli.add_jobs_option(p)
    cli.add_common_options(p)
    return p


def worker_setup(weights, model, runtime, precision, detector, verbose):
    """What each worker loads once (mesonet.workers): the scorer and the face finder."""
    from mesonet.faces import FaceFinder

    cli.setup_logging(verbose)
    return (scorers.load_scorer(weights, model, runtime, precision, quiet=True),
            FaceFinder(detector))


def worker_task(state, job):
    """One file, in a worker: its VideoResult (crops kept only for --explain)."""
    classifier, finder = state
    source, frames, all_faces, keep_crops = job
    return cli.analyze_safely(source, classifier, finder, frames, all_faces,
                              keep_crops=keep_crops)


def write_explanations(folder: Path, result, classifier, op: OperatingPoint) -> None:
    """Per-face PNGs in folder/<video>/ and the video's contact sheet folder/<video>.png."""
    import numpy as np

    from mesonet.explain import explain, save_contact_sheet, save_face_png

    crops = np.stack([f.crop for f in result.faces])
    maps = explain(classifier, crops)
    from mesonet.outputs import safe_name

    name = safe_name(result.source, always_hash=True)  # unique per input, not per stem
    for face, crop, heat in zip(result.faces, crops, maps):
        save_face_png(folder / name / f"frame{face.frame:06d}_track{face.track}.png", crop,
                      heat, face.p_real, op, title=f"{name} at {face.time_s:.2f} s: ")
    save_contact_sheet(folder / f"{name}.png", crops, maps, [f.p_real for f in result.faces],
                       op, title=f"{name}: ")


def read_done(path: Path) -> list[dict]:
    """The rows of an earlier --output or --frames-output (CSV or JSON), to resume after."""
    if not path.exists():
        return []
    if path.suffix.lower() == ".json":
        return json.loads(path.read_text(encoding="utf-8"))["results"]
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def result_line(row) -> str:
    """One human-readable line per file (stdout)."""
    score = lambda k: "-" if row[k] in (None, "") else f"{float(row[k]):.4f}"  # noqa: E731
    return (f"{row['prediction']:<12}  mean {score('mean_p_real')}  vote "
            f"{score('vote_real')}  faces {row['n_faces']:>3}/{row['n_frames_sampled']:<3} "
            f"{row['video']}" + (f"  ({row['error']})" if row["error"] else ""))


def counts_line(rows) -> str:
    """'Files: 5 (3 videos, 1 image, 1 unreadable); fake 2, real 2, error 1'."""
    kinds, predictions = {}, {}
    for r in rows:
        kind = r.get("kind") or "unreadable"
        kinds[kind] = kinds.get(kind, 0) + 1
        predictions[r["prediction"]] = predictions.get(r["prediction"], 0) + 1
    plural = {"video": "videos", "image": "images", "unreadable": "unreadable"}
    parts = [f"{n} {plural[k] if n != 1 else k}" for k, n in sorted(kinds.items())]
    return (f"Files: {len(rows)} ({', '.join(parts)}); "
            + ", ".join(f"{k} {v}" for k, v in sorted(predictions.items())))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.verbose)
    if args.timeline:
        extras.require("--timeline", "plots")
    if args.explain:
        extras.require("--explain", "train")
    from mesonet.outputs import check_output_path, printable, remove_stale, safe_name, write_results

    check_output_path(args.output)
    check_output_path(args.frames_output)
    if args.resume and not args.output:
        raise ValueError("--resume needs --output")
    from mesonet.progress import progress

    from mesonet.faces import FaceFinder
    from mesonet.media import list_media
    from mesonet.pipeline import FACE_COLUMNS, VIDEO_COLUMNS, VideoResult, face_rows, video_row
    from mesonet.workers import WorkerError, pool_size, run_each

    for path in filter(None, (args.output, args.frames_output)):
        remove_stale(path)  # what a killed run was writing
    classifier = scorers.load_scorer(args.weights, args.model, args.runtime, args.precision)
    ops = {level: cli.operating_point_of(args, classifier.weights, level)
           for level in ("frame", "video")}
    rows = read_done(Path(args.output)) if args.resume else []
    done = {r["video"] for r in rows}
    # faces of a file whose row was not written yet (killed in between) are dropped: the
    # file is done again
    face_table = [r for r in read_done(Path(args.frames_output)) if r["source"] in done] \
        if args.resume and args.frames_output else []
    sources = [s for s in list_media(args.paths) if printable(s) not in done]
    meta = {"weights": classifier.weights, "model": classifier.model.name,
            "aggregate": args.aggregate,
            "operating_points": {k: op.as_dict() for k, op in ops.items()},
            "frames": args.frames, "detector": args.detector, "precision": args.precision,
            "p_real_meaning": P_REAL_MEANING}
    jobs = [(s, args.frames, args.all_faces, bool(args.explain)) for s in sources]
    here = (classifier, FaceFinder(args.detector)) if pool_size(args.jobs, len(jobs)) <= 1 \
        else None
    outcomes = run_each(jobs, args.jobs, worker_setup,
                        (args.weights, args.model, args.runtime, args.precision, args.detector,
                         args.verbose),
                        worker_task, state=here, label=lambda job: printable(job[0]))
    for (source, *_), result in progress(outcomes, unit="file", total=len(jobs),
                                         enabled=not args.no_progress and len(jobs) > 1,
                                         desc="scoring"):
        if isinstance(result, WorkerError):  # the worker holding it died
            logger.error("%s: %s", printable(source), result.reason)
            result = VideoResult(str(source), error=result.reason)
        op = ops["video" if result.kind == "video" else "frame"]
        row = video_row(result, classifier.weights, args.aggregate, op)
        rows.append(row)
        face_table += face_rows(result)
        # after every file, faces first: an interruption loses nothing already done
        if args.frames_output:
            write_results(args.frames_output, face_table, FACE_COLUMNS, meta)
        if args.output:
            write_results(args.output, rows, VIDEO_COLUMNS, meta)
        if args.timeline and result.faces and result.kind == "video":  # a still has no time
            plot_timeline(result, Path(args.timeline) / f"{safe_name(source, always_hash=True)}.png",
                          classifier.weights, op)
        if args.explain and result.faces:
            write_explanations(Path(args.explain), result, classifier, ops["frame"])
        print(result_line(row), flush=True)
    kinds = {r.get("kind") for r in rows}
    print(f"Weights: {classifier.weights} ({classifier.model.name}). {P_REAL_MEANING}; "
          f"a file's score: its faces' {args.aggregate} P(real).")
    for level, op in ops.items():
        if ("video" in kinds) == (level == "video") or (level == "frame" and "image" in kinds):
            print(cli.describe_point(op))
    print(counts_line(rows))
    if args.output:
        print(f"Results written to {args.output}")
    scored = sum(r["prediction"] in ("real", "fake", "inconclusive", "no_face") for r in rows)
    return 0 if scored or not rows else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
