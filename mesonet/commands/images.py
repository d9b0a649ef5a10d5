"""Score face images with MesoNet: P(real), 0 = deepfake/Face2Face, 1 = real.

    python deepfakes_images.py                      # test_images/, recursively
    python deepfakes_images.py faces/ one.jpg --output results.csv
    python deepfakes_images.py --weights meso4-f2f --threshold 0.5
    python deepfakes_images.py faces/ --explain maps/   # where each face looks forged

Images are prepared exactly as the original example: RGB, resized to 256x256 with
nearest-neighbour (Keras `load_img`), scaled to [0, 1]. They should already be face
crops (see extract_faces.py for videos and photos). An image inside a folder named
df/, fake/ or real/ gets that label, and accuracy per class is reported.

`prediction` is `real` or `fake` by --threshold, or `inconclusive` when P(real) lies
within the weights' inconclusive band around it (--inconclusive; weights/README.md).
With --explain DIR, each face also gets DIR/<name>.png: the crop, its Grad-CAM map
(hot = looks forged) and P(real).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mesonet import cli, extras
from mesonet import scorers
from mesonet.contract import DEFAULT_THRESHOLD, P_REAL_MEANING, label_from_path, prediction_of

logger = logging.getLogger("deepfakes_images")

COLUMNS = ["path", "path_bytes", "p_real", "prediction", "label", "weights", "error"]


def iter_batches(paths, batch_size):
    """(paths, uint8 batch, failures) per batch of decodable images."""
    import numpy as np

    from mesonet.media import MediaError, load_face_crop
    from mesonet.outputs import printable

    good, crops, failed = [], [], []
    for path in paths:
        try:
            crops.append(load_face_crop(path))
            good.append(path)
        except MediaError as e:
            failed.append((path, e.reason))
        except Exception as e:  # never let one file end the batch
            logger.exception("%s: unexpected error", printable(path))
            failed.append((path, f"unexpected error: {type(e).__name__}: {e}"))
        if len(crops) == batch_size:
            yield good, np.stack(crops), failed
            good, crops, failed = [], [], []
    if crops or failed:
        yield good, (np.stack(crops) if crops else None), failed


def score_images(paths, classifier, batch_size=64, threshold=DEFAULT_THRESHOLD, progress=True, band=0.0,
                 explain_dir=None):
    """One row per image: path, p_real, prediction, label (from folders) or error; with
    explain_dir, a Grad-CAM PNG per face there."""
    from mesonet.outputs import name_fields, printable
    from mesonet.progress import progress as show_progress

    rows = []
    bar = show_progress(total=len(paths), unit="img", enabled=progress and len(paths) > 1,
                        desc="scoring")
    for good, batch, failed in iter_batches(paths, batch_size):
        for path, reason in failed:
            logger.error("%s: %s", printable(path), reason)
            rows.append({**name_fields(path, "path"), "label": label_from_path(path),
                         "error": reason})
        if batch is not None:
            scores = classifier.predict(batch)[:, 0]
            for path, p in zip(good, scores):
                rows.append({**name_fields(path, "path"), "p_real": round(float(p), 6),
                             "prediction": prediction_of(float(p), threshold, band),
                             "label": label_from_path(path)})
            if explain_dir is not None:
                write_explanations(explain_dir, good, batch, scores, classifier, threshold)
        bar.update(len(good) + len(failed))
    bar.close()
    return rows


def write_explanations(folder, paths, batch, scores, classifier, threshold) -> None:
    """A PNG per face: crop, Grad-CAM map, P(real) (names made unique per folder)."""
    import hashlib
    import os

    from mesonet.explain import explain, save_face_png
    from mesonet.outputs import printable, safe_name

    maps = explain(classifier, batch)
    for path, crop, heat, p in zip(paths, batch, maps, scores):
        tag = hashlib.sha1(os.fsencode(os.path.abspath(path)))
        name = f"{safe_name(path)}_{tag.hexdigest()[:6]}.png"
        save_face_png(Path(folder) / name, crop, heat, float(p), threshold,
                      title=f"{printable(Path(path).name)}: ")


def summarize(rows, threshold) -> dict:
    scored = [r for r in rows if r.get("p_real") is not None]
    out = {"n_images": len(rows), "n_scored": len(scored), "n_failed": len(rows) - len(scored)}
    if scored:
        out["mean_p_real"] = round(sum(r["p_real"] for r in scored) / len(scored), 6)
        out["n_predicted_fake"] = sum(r["prediction"] == "fake" for r in scored)
        out["n_inconclusive"] = sum(r["prediction"] == "inconclusive" for r in scored)
    per_class = {}
    for label in ("fake", "real"):
        labelled = [r for r in scored if r.get("label") == label]
        if labelled:
            decided = [r for r in labelled if r["prediction"] != "inconclusive"]
            correct = sum(r["prediction"] == label for r in decided)
            per_class[label] = {"n": len(labelled), "decided": len(decided), "correct": correct,
                                "accuracy": round(correct / len(decided), 6) if decided else None}
    if per_class:
        out["accuracy_per_class"] = per_class
        decided = sum(c["decided"] for c in per_class.values())
        out["accuracy"] = (round(sum(c["correct"] for c in per_class.values()) / decided, 6)
                           if decided else None)
    return out


def print_summary(summary, classifier, threshold, band=0.0, file=sys.stdout):
    print(f"Weights: {cli.describe_weights(classifier)}", file=file)
    print(f"{P_REAL_MEANING}; predicted fake when P(real) <= {threshold}"
          + (f", inconclusive within {band:.3f} of it" if band else ""), file=file)
    print(f"Scored {summary['n_scored']} of {summary['n_images']} images"
          f" ({summary['n_failed']} failed)", file=file)
    if summary["n_scored"]:
        print(f"Average P(real): {summary['mean_p_real']:.4f}", file=file)
        share = summary["n_predicted_fake"] / summary["n_scored"]
        print(f"Classified as forged: {summary['n_predicted_fake']} of {summary['n_scored']}"
              f" ({100 * share:.1f} %)", file=file)
        if band:
            print(f"Inconclusive: {summary['n_inconclusive']} of {summary['n_scored']}",
                  file=file)
    for label, c in summary.get("accuracy_per_class", {}).items():
        undecided = c["n"] - c["decided"]
        told = f", {undecided} inconclusive" if undecided else ""
        if c["decided"]:
            print(f"Accuracy on {label}: {c['correct']}/{c['decided']} "
                  f"({100 * c['accuracy']:.1f} %{told})", file=file)
        else:
            print(f"Accuracy on {label}: none decided ({undecided} inconclusive)", file=file)
    if summary.get("accuracy") is not None:
        print(f"Accuracy overall (decided faces): {100 * summary['accuracy']:.1f} %", file=file)


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="*", default=["test_images"],
                   help="image files or folders (recursive); default: test_images/")
    cli.add_weights_options(p)
    p.add_argument("--batch-size", type=int, default=64,
                   help="images read and scored together (default: %(default)s)")
    cli.add_threshold_option(p)
    p.add_argument("--output", help="write per-image results to FILE.csv or FILE.json")
    p.add_argument("--explain", metavar="DIR",
                   help="write a PNG per face into DIR: the crop, where it looks forged "
                        "(Grad-CAM) and P(real)")
    cli.add_common_options(p)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.verbose)
    if args.explain:
        extras.require("--explain", "train")
    from mesonet.media import IMAGE_SUFFIXES, list_media
    from mesonet.outputs import check_output_path, printable, write_results

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1; received {args.batch_size}")
    check_output_path(args.output)
    missing = [p for p in args.paths if not Path(p).exists()]
    for p in missing:
        logger.error("%s: no such file or folder", printable(p))
    paths = list_media([p for p in args.paths if p not in missing], IMAGE_SUFFIXES)
    classifier = scorers.load_scorer(args.weights, args.model, args.runtime)
    band = cli.band_of(args, classifier)
    from mesonet.outputs import name_fields

    rows = [{**name_fields(p, "path"), "error": "no such file or folder"} for p in missing]
    rows += score_images(paths, classifier, args.batch_size, args.threshold,
                         progress=not args.no_progress, band=band, explain_dir=args.explain)
    for row in rows:
        row["weights"] = classifier.weights
    summary = summarize(rows, args.threshold)
    if args.output:
        meta = {"weights": classifier.weights, "model": classifier.model.name,
                "threshold": args.threshold, "inconclusive_band": band,
                "p_real_meaning": P_REAL_MEANING, "summary": summary}
        write_results(args.output, rows, COLUMNS, meta)
        logger.info("Wrote %d rows to %s", len(rows), args.output)
    else:
        for row in rows:
            if row.get("p_real") is not None:
                print(f"{row['p_real']:.4f}  {row['prediction']:<4}  {row['path']}")
        print()
    print_summary(summary, classifier, args.threshold, band)
    if summary["n_failed"]:
        print("Failed:", file=sys.stderr)
        for row in rows:
            if row.get("error"):
                print(f"  {row['path']}: {row['error']}", file=sys.stderr)
    return 0 if summary["n_scored"] else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
