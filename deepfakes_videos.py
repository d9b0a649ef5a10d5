"""Score videos (and images) end to end: one verdict per video.

    python deepfakes_videos.py data/sample_video.mp4
    python deepfakes_videos.py clips/ --output verdicts.csv --aggregate vote --timeline plots/
    python deepfakes_videos.py clip.mp4 --explain maps/   # where each face looks forged

Per video: faces found in --frames sampled frames, aligned as the original MesoNet,
scored by the network, aggregated two ways, both always reported:
  mean_p_real  mean P(real) over faces (the paper's per-video score)
  vote_real    share of faces with P(real) > 0.5 (what the released code printed)
  p_real_std, p_real_iqr  how much the face scores spread (standard deviation, IQR)
P(real): 0 = deepfake/Face2Face, 1 = real. `prediction` is `real` or `fake` by
--aggregate and --threshold, `inconclusive` when the score lies within the weights'
inconclusive band around the threshold (--inconclusive), `no_face` when no face was
found, `error` when the file could not be read. With --all-faces every person is
tracked and the video's score is that of its most forged-looking person. With
--explain DIR: a PNG per face (crop, Grad-CAM map, P(real)) in DIR/<video>/, and
DIR/<video>.png, a contact sheet of its most forged- and most real-looking faces.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import cli
from contract import P_REAL_MEANING

logger = logging.getLogger("deepfakes_videos")

COLUMNS = ["video", "n_frames_sampled", "n_faces", "n_tracks", "mean_p_real", "vote_real",
           "p_real_std", "p_real_iqr", "prediction", "weights", "error"]


def plot_timeline(result, path, weights: str, threshold: float, band: float = 0.0) -> None:
    """A PNG of P(real) over time, one line per tracked person, with the threshold and the
    inconclusive band, for a person to look at."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    if band:
        ax.axhspan(threshold - band, threshold + band, color="#f0b400", alpha=0.18,
                   label=f"inconclusive ({threshold - band:.2f}-{threshold + band:.2f})")
    for track in result.tracks():
        faces = [f for f in result.faces if f.track == track]
        ax.plot([f.time_s for f in faces], [f.p_real for f in faces], "o-", ms=3,
                label=f"person {track}" if len(result.tracks()) > 1 else "P(real) per frame")
    ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold}")
    mean = result.score("mean")
    if mean is not None:
        ax.axhline(mean, color="tab:red", lw=1, label=f"mean {mean:.3f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time in the video (s)", fontsize=11)
    ax.set_ylabel("P(real): 0 = forged, 1 = real", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(alpha=0.3)
    ax.set_title(f"{Path(result.source).name}: {result.verdict('mean', threshold, band)}"
                 f" (weights {weights})", fontsize=11)
    ax.legend(fontsize=9, loc="lower left")
    fig.tight_layout()
    from outputs import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="+", help="videos, images or folders (recursive)")
    cli.add_weights_options(p)
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
    cli.add_common_options(p)
    return p


def write_explanations(folder: Path, result, classifier, threshold: float) -> None:
    """Per-face PNGs in folder/<video>/ and the video's contact sheet folder/<video>.png."""
    import numpy as np

    from explain import explain, save_contact_sheet, save_face_png

    crops = np.stack([f.crop for f in result.faces])
    maps = explain(classifier, crops)
    name = Path(result.source).stem
    for face, crop, heat in zip(result.faces, crops, maps):
        save_face_png(folder / name / f"frame{face.frame:06d}_track{face.track}.png", crop,
                      heat, face.p_real, threshold, title=f"{name} at {face.time_s:.2f} s: ")
    save_contact_sheet(folder / f"{name}.png", crops, maps, [f.p_real for f in result.faces],
                       threshold, title=f"{name}: ")


def read_done(path: Path) -> list[dict]:
    """The rows of an earlier --output (CSV or JSON), to resume after."""
    if not path.exists():
        return []
    if path.suffix.lower() == ".json":
        return json.loads(path.read_text(encoding="utf-8"))["results"]
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.verbose)
    from outputs import check_output_path, write_results

    check_output_path(args.output)
    check_output_path(args.frames_output)
    if args.resume and not args.output:
        raise ValueError("--resume needs --output")
    from tqdm import tqdm

    from faces import FaceFinder
    from media import MediaError, list_media
    from pipeline import FACE_COLUMNS, VideoResult, analyze, face_rows

    classifier = cli.load_scorer(args.weights, args.model, args.runtime)
    band = cli.band_of(args, classifier)
    finder = FaceFinder(args.detector)
    rows, face_table = (read_done(Path(args.output)) if args.resume else []), []
    done = {r["video"] for r in rows}
    sources = [s for s in list_media(args.paths) if str(s) not in done]
    meta = {"weights": classifier.weights, "model": classifier.model.name,
            "aggregate": args.aggregate, "threshold": args.threshold,
            "inconclusive_band": band, "frames": args.frames, "detector": args.detector,
            "p_real": P_REAL_MEANING}
    for source in tqdm(sources, unit="video", disable=args.no_progress or len(sources) < 2,
                       file=sys.stderr):
        try:
            result = analyze(source, classifier, finder, args.frames, args.all_faces,
                             keep_crops=bool(args.explain))
        except MediaError as e:
            logger.error("%s", e)
            result = VideoResult(str(source), error=e.reason)
        row = {**result.summary(args.aggregate, args.threshold, band),
               "weights": classifier.weights}
        rows.append(row)
        face_table += face_rows(result)
        if args.output:  # after every video: an interruption loses nothing already done
            write_results(args.output, rows, COLUMNS, meta)
        if args.frames_output:
            write_results(args.frames_output, face_table, FACE_COLUMNS, meta)
        if args.timeline and result.faces:
            plot_timeline(result, Path(args.timeline) / f"{source.stem}.png",
                          classifier.weights, args.threshold, band)
        if args.explain and result.faces:
            write_explanations(Path(args.explain), result, classifier, args.threshold)
        if not args.output:
            score = lambda k: "-" if row[k] in (None, "") else f"{float(row[k]):.4f}"  # noqa: E731
            print(f"{row['prediction']:<12}  mean {score('mean_p_real')}  vote "
                  f"{score('vote_real')}  faces {row['n_faces']:>3}/{row['n_frames_sampled']:<3} "
                  f"{row['video']}" + (f"  ({row['error']})" if row["error"] else ""))
    print(f"Weights: {classifier.weights} ({classifier.model.name}). {P_REAL_MEANING}. "
          f"Prediction by {args.aggregate} > {args.threshold}"
          + (f", inconclusive within {band:.3f} of it." if band else "."))
    counts = {}
    for r in rows:
        counts[r["prediction"]] = counts.get(r["prediction"], 0) + 1
    print("Videos: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.output:
        print(f"Results written to {args.output}")
    scored = sum(r["prediction"] in ("real", "fake", "inconclusive", "no_face") for r in rows)
    return 0 if scored or not rows else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
