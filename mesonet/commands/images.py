"""Score face images with MesoNet: P(real), 0 = deepfake/Face2Face, 1 = real.

    python deepfakes_images.py                      # test_images/, recursively
    python deepfakes_images.py faces/ one.jpg --output results.csv
    python deepfakes_images.py --weights meso4-f2f --threshold 0.5   # the released rule
    python deepfakes_images.py faces/ --explain maps/   # where each face looks forged

Face crops are prepared exactly as the original example: RGB, resized to 256x256 with
nearest-neighbour (Keras `load_img`), scaled to [0, 1]. A photo that is not a face crop
(by the rule of --crops' help) has its faces found and aligned as the video pipeline
does, and each face gets a row (`face` numbers them); a photo without a face gets
`no_face`. --crops scores every image whole, as the original did. An image inside a folder named
df/, fake/ or real/ gets that label, and accuracy per class is reported.

`prediction` is `fake`, `inconclusive` or `real` at the weights' operating point for
faces, fitted on sources they never saw (weights/NAME.record.json): the summary says what
each verdict has meant there. --threshold (and --inconclusive) set a fixed rule instead.
With --explain DIR, each face also gets DIR/<name>.png: the crop, its Grad-CAM map
(hot = looks forged) and P(real).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mesonet import cli, extras
from mesonet import scorers
from mesonet.contract import P_REAL_MEANING, OperatingPoint, label_from_path

logger = logging.getLogger("deepfakes_images")

COLUMNS = ["path", "path_bytes", "p_real", "prediction", "label", "weights", "error", "face"]

#: the rule for "this image is already a face crop": nearly square, and one face found in
#: it whose box is at least this share of the image's width (an aligned MesoNet crop's box
#: fills about 0.7 of it; a portrait photo's face about 0.3)
CROP_ASPECT = (0.8, 1.25)
CROP_FILL = 0.45


def faces_in(path, finder):
    """('crop', [the image as the original prepared it]) when the image is a face crop by
    the rule above; else ('photo', [the aligned crop of each face found]), no crop when it
    has no face. A photo's faces are found and aligned as the video pipeline does."""
    from mesonet import faces
    from mesonet.media import load_face_crop, read_image

    image = read_image(path)
    h, w = image.shape[:2]
    finder.reset()
    boxes = []
    for box in finder.detect_full(image):  # the same face found twice counts once
        if all(faces.iou(box, kept) < 0.5 for kept in boxes):
            boxes.append(box)
    square = CROP_ASPECT[0] <= w / h <= CROP_ASPECT[1]
    if square and len(boxes) == 1 and (boxes[0][1] - boxes[0][3]) >= CROP_FILL * w:
        return "crop", [load_face_crop(path)]
    crops = []
    for marks in finder.landmarks(image, boxes):
        center, side, rotation = faces.find_coordinates(marks)
        crops.append(faces.aligned_face(image, center, side, rotation))
    return "photo", crops


def iter_batches(paths, batch_size, finder=None):
    """(items, uint8 batch, failures, no_face) per batch: items are (path, face index or
    None for a crop); with a finder, photos give one item per face found, and images
    without a face are listed in no_face."""
    import numpy as np

    from mesonet.media import MediaError, load_face_crop
    from mesonet.outputs import printable

    good, crops, failed, empty = [], [], [], []
    for path in paths:
        try:
            if finder is None:
                kind, found = "crop", [load_face_crop(path)]
            else:
                kind, found = faces_in(path, finder)
            if not found:
                empty.append(path)
            for k, crop in enumerate(found):
                crops.append(crop)
                good.append((path, None if kind == "crop" else k))
        except MediaError as e:
            failed.append((path, e.reason))
        except Exception as e:  # never let one file end the batch
            logger.exception("%s: unexpected error", printable(path))
            failed.append((path, f"unexpected error: {type(e).__name__}: {e}"))
        if len(crops) >= batch_size:
            yield good, np.stack(crops), failed, empty
            good, crops, failed, empty = [], [], [], []
    if crops or failed or empty:
        yield good, (np.stack(crops) if crops else None), failed, empty


def score_images(paths, classifier, op: OperatingPoint, batch_size=64, progress=True,
                 explain_dir=None, finder=None):
    """One row per face crop, or per face found in a photo (with a finder; `face` numbers
    them), or per image without a face (`no_face`): path, p_real, prediction (at operating
    point `op`), label (from folders) or error; with explain_dir, a Grad-CAM PNG per face."""
    from mesonet.outputs import name_fields, printable
    from mesonet.progress import progress as show_progress

    rows = []
    bar = show_progress(total=len(paths), unit="img", enabled=progress and len(paths) > 1,
                        desc="scoring")
    for good, batch, failed, empty in iter_batches(paths, batch_size, finder):
        for path, reason in failed:
            logger.error("%s: %s", printable(path), reason)
            rows.append({**name_fields(path, "path"), "label": label_from_path(path),
                         "error": reason})
        for path in empty:
            rows.append({**name_fields(path, "path"), "prediction": "no_face",
                         "label": label_from_path(path)})
        if batch is not None:
            scores = classifier.predict(batch)[:, 0]
            for (path, face), p in zip(good, scores):
                rows.append({**name_fields(path, "path"), "p_real": round(float(p), 6),
                             "prediction": op.verdict(float(p)),
                             "label": label_from_path(path), "face": face})
            if explain_dir is not None:
                write_explanations(explain_dir, good, batch, scores, classifier, op)
        bar.update(len({path for path, _ in good}) + len(failed) + len(empty))
    bar.close()
    return rows


def write_explanations(folder, paths, batch, scores, classifier, op) -> None:
    """A PNG per face: crop, Grad-CAM map, P(real) (names made unique per folder)."""
    import hashlib
    import os

    from mesonet.explain import explain, save_face_png
    from mesonet.outputs import printable, safe_name

    maps = explain(classifier, batch)
    for (path, face), crop, heat, p in zip(paths, batch, maps, scores):
        tag = hashlib.sha1(os.fsencode(os.path.abspath(path)))
        name = f"{safe_name(path)}_{tag.hexdigest()[:6]}" + ("" if face is None else
                                                            f"_face{face}") + ".png"
        save_face_png(Path(folder) / name, crop, heat, float(p), op,
                      title=f"{printable(Path(path).name)}: ")


def summarize(rows) -> dict:
    scored = [r for r in rows if r.get("p_real") is not None]
    images = {r["path"] for r in rows}
    out = {"n_images": len(images), "n_scored": len(scored),
           "n_failed": sum(1 for r in rows if r.get("error")),
           "n_no_face": sum(1 for r in rows if r.get("prediction") == "no_face"),
           "n_images_with_faces": len({r["path"] for r in scored}),
           "n_photo_faces": sum(1 for r in scored if r.get("face") is not None)}
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


def print_summary(summary, classifier, op: OperatingPoint, file=sys.stdout):
    print(f"Weights: {cli.describe_weights(classifier)}", file=file)
    print(f"{P_REAL_MEANING}. {cli.describe_point(op)}", file=file)
    if summary["n_photo_faces"] or summary["n_no_face"]:
        print(f"Scored {summary['n_scored']} faces in {summary['n_images_with_faces']} of "
              f"{summary['n_images']} images ({summary['n_no_face']} without a face, "
              f"{summary['n_failed']} failed)", file=file)
    else:
        print(f"Scored {summary['n_scored']} of {summary['n_images']} images"
              f" ({summary['n_failed']} failed)", file=file)
    if summary["n_scored"]:
        print(f"Average P(real): {summary['mean_p_real']:.4f}", file=file)
        share = summary["n_predicted_fake"] / summary["n_scored"]
        print(f"Classified as forged: {summary['n_predicted_fake']} of {summary['n_scored']}"
              f" ({100 * share:.1f} %)", file=file)
        if op.real_above > op.fake_at_most:
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
    p.add_argument("--crops", action="store_true",
                   help="every image is a face crop already: score it whole, as the original "
                        "did, without looking for faces (faster). Without it, an image is "
                        "taken as a crop when it is nearly square and one face found in it "
                        "fills at least 45 %% of its width; any other image is a photo, whose "
                        "faces are found, aligned and scored one by one (no_face if none)")
    cli.add_weights_options(p, precision=True)
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
    classifier = scorers.load_scorer(args.weights, args.model, args.runtime, args.precision)
    op = cli.operating_point_of(args, classifier.weights, "frame")
    from mesonet.outputs import name_fields

    finder = None
    if not args.crops and paths:
        from mesonet.faces import FaceFinder

        finder = FaceFinder()

    rows = [{**name_fields(p, "path"), "error": "no such file or folder"} for p in missing]
    rows += score_images(paths, classifier, op, args.batch_size,
                         progress=not args.no_progress, explain_dir=args.explain,
                         finder=finder)
    for row in rows:
        row["weights"] = classifier.weights
    summary = summarize(rows)
    if args.output:
        meta = {"weights": classifier.weights, "model": classifier.model.name,
                "operating_point": op.as_dict(),
                "p_real_meaning": P_REAL_MEANING, "summary": summary}
        write_results(args.output, rows, COLUMNS, meta)
        print(f"Per-image results ({len(rows)} rows) written to {printable(args.output)}")
    else:
        for row in rows:
            if row.get("p_real") is not None:
                which = "" if row.get("face") is None else f"  (face {row['face'] + 1})"
                print(f"{row['p_real']:.4f}  {row['prediction']:<4}  {row['path']}{which}")
            elif row.get("prediction") == "no_face":
                print(f"        no_face  {row['path']}")
        print()
    print_summary(summary, classifier, op)
    if summary["n_failed"]:
        print("Failed:", file=sys.stderr)
        for row in rows:
            if row.get("error"):
                print(f"  {row['path']}: {row['error']}", file=sys.stderr)
    if summary["n_no_face"] and not summary["n_scored"]:
        logger.info("No face was found: if these images are face crops the finder misses "
                    "(very tight crops), score them whole with --crops")
    return 0 if summary["n_scored"] or summary["n_no_face"] else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
