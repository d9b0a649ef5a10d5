"""Evaluate weights on a labelled folder of face crops or of videos.

    python training/evaluate.py data/validation --weights meso4-df --output report.json
    python training/evaluate.py clips/ --videos --weights meso4-df --roc roc.png

Labels come from folder names: df/ or fake/ = forged (0), real/ = real (1). Reported:
accuracy per class and overall at --threshold (0.5), ROC AUC, equal error rate, and
average precision for finding forgeries; for videos at frame level and at video level
with both aggregations (`mean`, the paper's; `vote`, the released code's). Crops named
<group>__<file> (as training/prepare_corpus.py names them) also get accuracy per group.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import numpy as np  # noqa: E402

import reporting  # noqa: E402

logger = logging.getLogger("evaluate")


def metrics(labels, p_real, threshold: float = 0.5) -> dict:
    """Binary metrics for P(real) scores; labels 1 = real, 0 = forged."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    y = np.asarray(labels, int)
    p = np.asarray(p_real, float)
    pred = (p > threshold).astype(int)
    out = {"n": int(len(y)), "n_real": int(y.sum()), "n_fake": int((1 - y).sum()),
           "accuracy": float((pred == y).mean()) if len(y) else None}
    for name, value in (("real", 1), ("fake", 0)):
        sel = y == value
        out[f"accuracy_{name}"] = float((pred[sel] == value).mean()) if sel.any() else None
    if len(set(y)) == 2:
        out["auc"] = float(roc_auc_score(y, p))
        # forgeries are what we look for: positive = fake, score = 1 - P(real)
        out["average_precision_fake"] = float(average_precision_score(1 - y, 1 - p))
        fpr, tpr, _ = roc_curve(y, p)
        i = int(np.nanargmin(np.abs((1 - tpr) - fpr)))
        out["eer"] = float((fpr[i] + 1 - tpr[i]) / 2)
    return out


def plot_roc(curves: dict, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    for name, (y, p) in curves.items():
        if len(set(y)) == 2:
            fpr, tpr, _ = roc_curve(y, p)
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false positive rate (forged called real)")
    ax.set_ylabel("true positive rate (real called real)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate_crops(folder: Path, classifier, batch_size: int, threshold: float, progress: bool):
    from data import list_split

    from pipeline import MediaError, load_face_crop

    files, labels = list_split(folder)
    p, keep, failed = [], [], []
    from tqdm import tqdm

    for start in tqdm(range(0, len(files), batch_size), disable=not progress, unit="batch",
                      file=sys.stderr):
        batch, idx = [], []
        for i in range(start, min(start + batch_size, len(files))):
            try:
                batch.append(load_face_crop(files[i]))
                idx.append(i)
            except MediaError as e:
                failed.append({"path": str(files[i]), "error": e.reason})
        if batch:
            p += list(classifier.predict(np.stack(batch))[:, 0])
            keep += idx
    y = labels[keep]
    report = {"frames": metrics(y, p, threshold), "failed": failed}
    groups = {}
    for i, score in zip(keep, p):
        name = files[i].name
        if "__" in name:
            groups.setdefault(name.split("__")[0], []).append((labels[i], score))
    if groups:
        report["groups"] = {g: metrics([a for a, _ in v], [b for _, b in v], threshold)
                            for g, v in sorted(groups.items())}
    return report, {"faces": (y, np.array(p))}


def evaluate_videos(folder: Path, classifier, frames: int, threshold: float, progress: bool):
    from tqdm import tqdm

    import pipeline

    finder = pipeline.FaceFinder()
    sources = [s for s in pipeline.list_media([folder]) if reporting.label_from_path(s)]
    frame_y, frame_p, video_rows = [], [], []
    for source in tqdm(sources, disable=not progress, unit="video", file=sys.stderr):
        label = 1 if reporting.label_from_path(source) == "real" else 0
        try:
            result = pipeline.analyze(source, classifier, finder, frames)
        except pipeline.MediaError as e:
            video_rows.append({"video": str(source), "label": label, "error": e.reason})
            continue
        scores = result.scores()
        frame_y += [label] * len(scores)
        frame_p += scores
        video_rows.append({"video": str(source), "label": label, "n_faces": result.n_faces,
                           "mean": result.score("mean"), "vote": result.score("vote")})
    scored = [r for r in video_rows if r.get("mean") is not None]
    report = {"frames": metrics(frame_y, frame_p, threshold), "videos": video_rows,
              "n_videos_without_face": sum(1 for r in video_rows
                                           if r.get("n_faces") == 0 and "error" not in r)}
    curves = {"frames": (np.array(frame_y), np.array(frame_p))}
    for method in pipeline.AGGREGATIONS:
        y = [r["label"] for r in scored]
        s = [r[method] for r in scored]
        report[f"video_{method}"] = metrics(y, s, threshold)
        curves[f"videos ({method})"] = (np.array(y), np.array(s))
    return report, curves


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("data", help="folder with df/ (or fake/) and real/ subfolders")
    p.add_argument("--weights", required=True, nargs="+",
                   help="weights names or files; several are compared side by side")
    p.add_argument("--model", help="architecture, when the weights do not say")
    p.add_argument("--videos", action="store_true", help="the folder holds videos, not crops")
    p.add_argument("--frames", type=int, default=30, help="frames per video")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--output", help="JSON report (default: print it)")
    p.add_argument("--roc", help="ROC curve PNG")
    p.add_argument("--table", action="store_true",
                   help="print a Markdown table comparing the weights (frame level)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    reporting.setup_logging()
    try:
        if args.output:
            reporting.check_output_path(args.output)
        classifiers_ = {w: load_any(args.model, w) for w in args.weights}
    except (ValueError, OSError) as e:
        logger.error("%s", e)
        return 2
    folder = Path(args.data)
    reports, curves = {}, {}
    for weights, classifier in classifiers_.items():
        try:
            if args.videos:
                report, curve = evaluate_videos(folder, classifier, args.frames, args.threshold,
                                                not args.no_progress)
            else:
                report, curve = evaluate_crops(folder, classifier, args.batch_size,
                                               args.threshold, not args.no_progress)
        except (ValueError, OSError) as e:
            logger.error("%s", e)
            return 2
        reports[weights] = {"data": str(folder), "weights": str(weights),
                            "model": classifier.model.name, "threshold": args.threshold,
                            "p_real": reporting.P_REAL_MEANING, **report}
        curves.update({(f"{weights}: {k}" if len(classifiers_) > 1 else k): v
                       for k, v in curve.items()})
        m = report["frames"]
        print(f"{weights}: {m['n']} faces, accuracy {m['accuracy']:.4f}, AUC "
              f"{m.get('auc', float('nan')):.4f}, EER {m.get('eer', float('nan')):.4f}",
              file=sys.stderr)
    result = reports[args.weights[0]] if len(reports) == 1 else reports
    text = json.dumps(result, indent=1, default=float) + "\n"
    if args.output:
        reporting.atomic_write_text(args.output, text)
    elif not args.table:
        print(text)
    if args.table:
        print(markdown_table(reports))
    if args.roc:
        plot_roc(curves, args.roc, f"{', '.join(map(str, args.weights))} on {folder}")
    return 0


def markdown_table(reports: dict) -> str:
    """Frame-level metrics of several weights on the same data, as a Markdown table."""
    rows = ["| weights | faces | accuracy | acc. real | acc. fake | AUC | EER | AP (fake) |",
            "|---|---|---|---|---|---|---|---|"]
    fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    for weights, report in reports.items():
        m = report["frames"]
        rows.append(f"| `{weights}` | {m['n']} | {fmt(m['accuracy'])} | {fmt(m['accuracy_real'])}"
                    f" | {fmt(m['accuracy_fake'])} | {fmt(m.get('auc'))} | {fmt(m.get('eer'))}"
                    f" | {fmt(m.get('average_precision_fake'))} |")
    return "\n".join(rows)


def load_any(model: str | None, weights: str):
    """A Classifier for MesoNet weights or for a baseline's."""
    import classifiers

    arch = classifiers.architecture_of_weights(weights) or model
    if arch in classifiers.CLASSIFIERS or arch is None:
        return classifiers.load_classifier(model, weights, runtime="auto")
    import baselines

    clf = classifiers.Classifier(baselines.build(arch), learning_rate=1e-3)
    return clf.load(weights)


if __name__ == "__main__":
    sys.exit(main())
