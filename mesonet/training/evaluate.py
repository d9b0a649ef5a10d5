"""Evaluate weights on a labelled folder of face crops or of videos.

    python training/evaluate.py data/validation --weights meso4-df --output report.json
    python training/evaluate.py clips/ --videos --weights meso4-df --roc roc.png

Labels come from folder names: df/ or fake/ = forged (0), real/ = real (1). Reported:
accuracy per class and overall at --threshold (0.5), ROC AUC, equal error rate, and
average precision for finding forgeries; for videos at frame level and at video level
with both aggregations (`mean`, the paper's; `vote`, the released code's). Crops named
<group>__<file> (as training/prepare_corpus.py names them) also get accuracy per group.
DFDC fakes the prepared manifest flags near-identical to their original (no swap in that
frame) are left out and counted, as training leaves them out; --keep-near-identical
scores them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


import numpy as np  # noqa: E402

from mesonet.outputs import atomic_write_text, check_output_path, write_results  # noqa: E402

from mesonet import cli  # noqa: E402
from mesonet import scorers
from mesonet.contract import DEFAULT_THRESHOLD, P_REAL_MEANING, label_from_path  # noqa: E402

logger = logging.getLogger("evaluate")


def metrics(labels, p_real, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Binary metrics for P(real) scores; labels 1 = real, 0 = forged."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    y = np.asarray(labels, int)
    p = np.asarray(p_real, float)
    pred = (p > threshold).astype(int)  # contract.prediction_of, on arrays
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


def crop_set(folder: Path, exclude=(), only=None, splits=("training", "validation"),
             keep_near_identical: bool = False):
    """(files, labels, groups, families, n_near_identical) of a crop folder: a split
    folder, or, with `only` (source groups), every crop of those groups in a prepared
    folder's `splits`. DFDC fakes that the manifest flags near-identical to their own
    original (no swap in that frame: a fake label on a real face) are left out and
    counted, as training leaves them out, unless `keep_near_identical`."""
    from mesonet.training.corpus import crop_key, expand_groups, manifest_of, read_manifest
    from mesonet.training.dataset import list_split

    manifest = manifest_of(folder)
    rows = {}
    if manifest is not None:
        rows = {crop_key(manifest.parent / r["crop"]): r
                for r in read_manifest(manifest) if r["crop"]}
    if only:
        files, labels = [], []
        for split in splits:
            if (folder / split).is_dir():
                f, y = list_split(folder / split)
                files += f
                labels += list(y)
    else:
        files, labels = list_split(folder)
        labels = list(labels)
    excluded, wanted = expand_groups(exclude), expand_groups(only) if only else None
    out = ([], [], [], [])
    near_identical = 0
    for f, y in zip(files, labels):
        row = rows.get(crop_key(f), {})
        group = row.get("group") or (f.name.split("__")[0] if "__" in f.name else "")
        if group in excluded or (wanted is not None and group not in wanted):
            continue
        if row.get("near_identical") and not keep_near_identical:
            near_identical += 1
            continue
        family = row.get("family") or ("real" if y == 1 else "fake")
        for column, value in zip(out, (f, y, group, family)):
            column.append(value)
    files, labels, groups, families = out
    if not files:
        raise ValueError(f"No crops in {folder} for groups {sorted(wanted or [])}" if only
                         else f"No crops in {folder} after leaving out {sorted(excluded)}")
    return (files, np.array(labels, np.float32), np.array(groups), np.array(families),
            near_identical)


def family_metrics(y, p, families, threshold: float) -> dict:
    """Per forgery family: its fakes against all real faces of the set (AUC, EER, AP,
    accuracy); 'real': the share of real faces passed."""
    out = {}
    real = y == 1
    for family in sorted(set(families.tolist())):
        sel = families == family
        if family == "real":
            out[family] = metrics(y[sel], p[sel], threshold)
        else:
            out[family] = metrics(y[sel | real], p[sel | real], threshold)
    return out


def evaluate_crops(folder: Path, classifier, batch_size: int, threshold: float, progress: bool,
                   exclude=(), sources=None, splits=("training", "validation"),
                   keep_near_identical: bool = False):
    """Frame-level metrics on crops: overall, per family, per group and, with `sources`
    (names of corpus.LEFT_OUT_SOURCES or groups), per left-out source."""
    from mesonet.progress import progress as show_progress

    from mesonet.media import MediaError, load_face_crop
    from mesonet.outputs import printable

    if sources:
        from mesonet.training.corpus import LEFT_OUT_SOURCES, expand_groups

        wanted = sorted(set().union(*(expand_groups([s]) for s in sources)))
        files, labels, groups, families, near_identical = crop_set(
            folder, exclude, only=wanted, splits=splits, keep_near_identical=keep_near_identical)
    else:
        files, labels, groups, families, near_identical = crop_set(
            folder, exclude, keep_near_identical=keep_near_identical)
    p, keep, failed = [], [], []
    for start in show_progress(range(0, len(files), batch_size), enabled=progress, unit="batch",
                      desc="scoring"):
        batch, idx = [], []
        for i in range(start, min(start + batch_size, len(files))):
            try:
                batch.append(load_face_crop(files[i]))
                idx.append(i)
            except MediaError as e:
                failed.append({"path": printable(files[i]), "error": e.reason})
        if batch:
            p += list(classifier.predict(np.stack(batch))[:, 0])
            keep += idx
    y, p = labels[keep], np.array(p)
    groups, families = groups[keep], families[keep]
    report = {"frames": metrics(y, p, threshold), "failed": failed,
              "near_identical_left_out": near_identical,
              "families": family_metrics(y, p, families, threshold)}
    if any(groups):
        report["groups"] = {g: metrics(y[groups == g], p[groups == g], threshold)
                            for g in sorted(set(groups.tolist())) if g}
    if sources:
        report["sources"] = {}
        for source in sources:
            sel = np.isin(groups, sorted(expand_groups([source])))
            report["sources"][source] = {
                "groups": list(LEFT_OUT_SOURCES.get(source, [source])),
                **metrics(y[sel], p[sel], threshold),
                "families": family_metrics(y[sel], p[sel], families[sel], threshold)}
    scores = [{"crop": printable(files[i]), "group": g, "family": fam, "label": int(label),
               "p_real": float(score)}
              for i, g, fam, label, score in zip(keep, groups, families, y, p)]
    return report, {"faces": (y, p)}, scores


def evaluate_videos(folder: Path, classifier, frames: int, threshold: float, progress: bool):
    from mesonet.progress import progress as show_progress

    from mesonet import pipeline

    from mesonet.faces import FaceFinder
    from mesonet.media import MediaError, list_media
    from mesonet.outputs import printable

    finder = FaceFinder()
    sources = [s for s in list_media([folder]) if label_from_path(s)]
    frame_y, frame_p, video_rows = [], [], []
    for source in show_progress(sources, enabled=progress, unit="video", desc="scoring videos"):
        label = 1 if label_from_path(source) == "real" else 0
        try:
            result = pipeline.analyze(source, classifier, finder, frames)
        except MediaError as e:
            video_rows.append({"video": printable(source), "label": label, "error": e.reason})
            continue
        scores = result.scores()
        frame_y += [label] * len(scores)
        frame_p += scores
        video_rows.append({"video": printable(source), "label": label, "n_faces": result.n_faces,
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
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help="P(real) above it is called real (default: %(default)s)")
    p.add_argument("--exclude-groups", nargs="+", default=[], metavar="GROUP",
                   help="leave these source groups out (as df_CNN.py --exclude-groups)")
    p.add_argument("--left-out", nargs="+", metavar="SOURCE",
                   help="evaluate on every crop (both splits of DATA, a prepared folder) of "
                        "these left-out sources: names of corpus.LEFT_OUT_SOURCES, group "
                        "names, or cross-source (all of them); one AUC per source")
    p.add_argument("--splits", nargs="+", default=["training", "validation"],
                   choices=["training", "validation"],
                   help="with --left-out: which splits' crops (validation alone compares "
                        "fairly with weights trained on those sources' training split)")
    p.add_argument("--keep-near-identical", action="store_true",
                   help="also score the DFDC fakes flagged near-identical to their original "
                        "(no swap in that frame), which are left out and counted by default")
    p.add_argument("--output", help="JSON report (default: print it)")
    p.add_argument("--roc", help="ROC curve PNG")
    p.add_argument("--scores", help="CSV of every face's P(real) under each weights (crops "
                                    "only), for your own curves or combinations")
    p.add_argument("--table", action="store_true",
                   help="print a Markdown table comparing the weights (frame level)")
    p.add_argument("--told", action="store_true",
                   help="what users are told: on a prepared corpus (DATA with corpus.csv), "
                        "per source group, frames and videos, the shares called fake / "
                        "inconclusive / real at operating points fitted on the groups each "
                        "weights never saw (each group left out of its own fit), detection "
                        "at fixed false-alarm rates and the calibration error")
    p.add_argument("--target", type=float, default=0.05,
                   help="with --told: the largest share of real faces (and of forged faces) "
                        "a verdict may wrongly be given to, on every calibration group "
                        "(default: %(default)s)")
    p.add_argument("--write-operating-points", action="store_true",
                   help="with --told: store the fitted points in weights/NAME.record.json")
    p.add_argument("--same-groups-as", nargs="+", default=[], metavar="WEIGHTS",
                   help="with --told: count as unseen only the groups these weights never "
                        "saw either, to compare weights on the same groups (in-source "
                        "groups are then those any of them saw)")
    p.add_argument("--cards", action="store_true",
                   help="with --told: put each shipped weights' tables into its model card "
                        "(weights/NAME.md), with this command")
    p.add_argument("--reliability", metavar="DIR",
                   help="with --told: a reliability diagram PNG per weights in DIR")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the cards
    cli.setup_logging()
    if args.told:
        return told_main(args)
    try:
        if args.videos and args.scores:
            raise ValueError("--scores lists crops; for videos use --output (per-video means)")
        for path in (args.output, args.scores):
            check_output_path(path)
        classifiers_ = {w: load_any(args.model, w) for w in args.weights}
    except (ValueError, OSError) as e:
        logger.error("%s", e)
        return 2
    folder = Path(args.data)
    from mesonet.training.corpus import CROSS_SOURCE

    sources = None
    if args.left_out:
        sources = [s for name in args.left_out
                   for s in (CROSS_SOURCE if name == "cross-source" else [name])]
    reports, curves, per_face = {}, {}, {}
    for weights, classifier in classifiers_.items():
        try:
            if args.videos:
                report, curve = evaluate_videos(folder, classifier, args.frames, args.threshold,
                                                not args.no_progress)
            else:
                report, curve, scores = evaluate_crops(folder, classifier, args.batch_size,
                                                       args.threshold, not args.no_progress,
                                                       args.exclude_groups, sources,
                                                       args.splits, args.keep_near_identical)
                for row in scores:
                    per_face.setdefault(row["crop"], {k: v for k, v in row.items()
                                                      if k != "p_real"})[
                        f"p_real {weights}"] = row["p_real"]
        except (ValueError, OSError) as e:
            logger.error("%s", e)
            return 2
        reports[weights] = {"data": str(folder), "weights": str(weights),
                            "model": classifier.model.name, "threshold": args.threshold,
                            "p_real_meaning": P_REAL_MEANING, **report}
        curves.update({(f"{weights}: {k}" if len(classifiers_) > 1 else k): v
                       for k, v in curve.items()})
        m = report["frames"]
        print(f"{weights}: {m['n']} faces, accuracy {m['accuracy']:.4f}, AUC "
              f"{m.get('auc', float('nan')):.4f}, EER {m.get('eer', float('nan')):.4f}"
              + (f" ({report['near_identical_left_out']} near-identical DFDC fakes left out)"
                 if report.get("near_identical_left_out") else ""), file=sys.stderr)
    if args.scores:
        write_results(args.scores, list(per_face.values()),
                      ["crop", "group", "family", "label"] + [f"p_real {w}" for w in args.weights],
                      {"data": str(folder), "weights": [str(w) for w in args.weights],
                       "p_real_meaning": P_REAL_MEANING})
    result = reports[args.weights[0]] if len(reports) == 1 else reports
    text = json.dumps(result, indent=1, default=float) + "\n"
    if args.output:
        atomic_write_text(args.output, text)
    elif not args.table:
        print(text)
    if args.table:
        print(markdown_table(reports))
        if not args.videos:
            print()
            print(family_table(reports))
        if sources:
            print()
            print(source_table(reports, sources))
    if args.roc:
        plot_roc(curves, args.roc, f"{', '.join(map(str, args.weights))} on {folder}")
    return 0


def told_main(args) -> int:
    """evaluate --told: the tables of what users are told (and, asked, the points stored)."""
    from mesonet.training import trust

    folder = Path(args.data)
    if not (folder / "corpus.csv").is_file():
        raise ValueError(f"--told needs a prepared corpus: {folder / 'corpus.csv'} does not "
                         f"exist (training/prepare_corpus.py makes it)")
    check_output_path(args.output)
    reports = trust.run(folder, args.weights, args.target, progress=not args.no_progress,
                        reliability_dir=Path(args.reliability) if args.reliability else None,
                        also_unseen_by=args.same_groups_as)
    for name, report in reports.items():
        for level in ("frame", "video"):
            print(trust.told_table(name, report[level]) + "\n")
            table = trust.detection_table(name, report[level])
            if table:
                print(table + "\n")
        shift = report["blur_shift"]
        if shift.get("difference") is not None:
            print(f"`{name}`, the shortcut check (unseen sources): a Gaussian blur of sigma "
                  f"{shift['sigma']:g} px moves the median P(real) of {shift['real']['n']} real "
                  f"faces by {shift['real']['median_shift']:+.3f} and of {shift['fake']['n']} "
                  f"forged faces by {shift['fake']['median_shift']:+.3f} (difference "
                  f"{shift['difference']:+.3f})\n")
        if "stacking" in report:
            print(trust.stacking_table(report["stacking"]) + "\n")
    if args.output:
        atomic_write_text(args.output, json.dumps(reports, indent=1, default=float) + "\n")
    if args.write_operating_points:
        for path in trust.write_operating_points(reports):
            logger.info("operating points written to %s", path)
    if args.cards:
        from mesonet import zoo

        command = "mesonet evaluate " + " ".join(args.argv)
        for name, report in reports.items():
            card = zoo.PROJECT_WEIGHTS_DIR / f"{name}.md"
            if card.is_file():
                trust.update_card(card, trust.card_section(name, report, command))
                logger.info("tables written into %s", card)
    return 0


def markdown_table(reports: dict) -> str:
    """Frame-level metrics of several weights on the same data, as a Markdown table."""
    rows = ["| weights | faces | accuracy | acc. real | acc. fake | AUC | EER | AP (fake) |",
            "|---|---|---|---|---|---|---|---|"]
    fmt = _fmt
    for weights, report in reports.items():
        m = report["frames"]
        rows.append(f"| `{weights}` | {m['n']} | {fmt(m['accuracy'])} | {fmt(m['accuracy_real'])}"
                    f" | {fmt(m['accuracy_fake'])} | {fmt(m.get('auc'))} | {fmt(m.get('eer'))}"
                    f" | {fmt(m.get('average_precision_fake'))} |")
    return "\n".join(rows)


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def family_table(reports: dict) -> str:
    """AUC per forgery family (its fakes against all real faces) and the share of real
    faces passed, for several weights, as a Markdown table."""
    families = sorted({f for r in reports.values() for f in r["families"] if f != "real"})
    rows = ["| weights | all | " + " | ".join(families) + " | real passed |",
            "|---|---|" + "---|" * len(families) + "---|"]
    for weights, report in reports.items():
        fam = report["families"]
        rows.append(f"| `{weights}` | {_fmt(report['frames'].get('auc'))} | "
                    + " | ".join(_fmt(fam.get(f, {}).get("auc")) for f in families)
                    + f" | {_fmt(fam.get('real', {}).get('accuracy'))} |")
    return "\n".join(rows)


def source_table(reports: dict, sources) -> str:
    """AUC on each left-out source (its real and forged faces), as a Markdown table."""
    rows = ["| weights | " + " | ".join(f"{s} AUC" for s in sources) + " | mean |",
            "|---|" + "---|" * (len(sources) + 1)]
    for weights, report in reports.items():
        aucs = [report["sources"][s].get("auc") for s in sources]
        known = [a for a in aucs if a is not None]
        rows.append(f"| `{weights}` | " + " | ".join(_fmt(a) for a in aucs)
                    + f" | {_fmt(sum(known) / len(known) if known else None)} |")
    return "\n".join(rows)


def load_any(model: str | None, weights: str):
    """A Classifier for MesoNet weights or for a baseline's."""
    from mesonet import zoo

    record = zoo.resolve(weights)
    arch = record.architecture or model
    if arch is None or arch in cli.ARCHITECTURES or arch == zoo.COMBINATION:
        return scorers.load_scorer(record, model)
    from mesonet.training import baselines
    from mesonet import classifiers

    clf = classifiers.Classifier(baselines.build(arch), learning_rate=1e-3)
    return clf.load(record)


if __name__ == "__main__":
    sys.exit(main())
