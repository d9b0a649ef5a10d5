"""What users are told: verdict shares per source group, frames and videos, at operating
points fitted on sources the weights never saw (training/evaluate.py --told).

For each weights, the prepared corpus's source groups split in two:
- *unseen*: groups its record says it was not trained on (weights/NAME.record.json,
  `training_groups`), every crop of both splits. These calibrate the operating point,
  and each is reported at a point fitted without it (leave one source out);
- *in-source*: the groups it was trained on, validation split only, reported at the
  shipped point for comparison (marked as such: never a figure to quote as "unseen").

Frames are the crops; videos are the crops of one source video, scored by their mean
P(real) (the paper's aggregation), with their own operating point. A group is keyed by
(group, label), since some sources hold both real and forged faces.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from mesonet.contract import OperatingPoint
from mesonet.training import calibration as cal

logger = logging.getLogger("evaluate")

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def corpus_rows(folder: Path) -> list[dict]:
    """The prepared corpus's rows (both splits), each with its crop's full path."""
    from mesonet.training.corpus import read_manifest

    rows = read_manifest(folder / "corpus.csv")
    for row in rows:
        row["path"] = folder / row["crop"]
    return [r for r in rows if r["crop"] and not r["near_identical"]]


def score_rows(rows: list[dict], scorer, batch_size: int = 256, progress: bool = True,
               cache: Path | None = None) -> np.ndarray:
    """P(real) of every row's crop (NaN where it cannot be decoded); with `cache`, read
    from and written to a CSV of crop -> score (keyed by the weights' hash)."""
    from mesonet.media import MediaError, load_face_crop
    from mesonet.outputs import atomic_write_text, csv_text
    from mesonet.progress import progress as show_progress

    known = {}
    if cache is not None and cache.is_file():
        with open(cache, newline="", encoding="utf-8") as f:
            known = {r["crop"]: float(r["p_real"]) for r in csv.DictReader(f)}
    p = np.full(len(rows), np.nan)
    todo = []
    for i, row in enumerate(rows):
        if row["crop"] in known:
            p[i] = known[row["crop"]]
        else:
            todo.append(i)
    for start in show_progress(range(0, len(todo), batch_size), enabled=progress,
                               unit="batch", desc=f"scoring with {scorer.weights}"):
        idx, faces = [], []
        for i in todo[start:start + batch_size]:
            try:
                faces.append(load_face_crop(rows[i]["path"]))
                idx.append(i)
            except MediaError as e:
                logger.warning("%s", e)
        if faces:
            p[idx] = scorer.predict(np.stack(faces))[:, 0]
    if cache is not None and todo:
        table = [{"crop": r["crop"], "p_real": f"{v:.7f}"} for r, v in zip(rows, p)
                 if np.isfinite(v)]
        atomic_write_text(cache, csv_text(table, ["crop", "p_real"]))
    return p


def groups_of(rows: list[dict], p: np.ndarray, groups: set, splits: set,
              level: str) -> dict:
    """{(group, label): scores} of the rows in `groups` and `splits`: faces, or videos
    (the mean P(real) of each source video's crops)."""
    out = defaultdict(list)
    if level == "frame":
        for row, score in zip(rows, p):
            if row["group"] in groups and row.get("split") in splits and np.isfinite(score):
                out[(row["group"], row["label"])].append(score)
        return {k: np.array(v) for k, v in out.items()}
    videos = defaultdict(list)
    for row, score in zip(rows, p):
        source = row.get("source", "")
        if (row["group"] in groups and row.get("split") in splits and np.isfinite(score)
                and source.lower().endswith(VIDEO_SUFFIXES)):
            videos[(row["group"], row["label"], source)].append(score)
    for (group, label, _), scores in videos.items():
        out[(group, label)].append(float(np.mean(scores)))
    return {k: np.array(v) for k, v in out.items()}


def split_by_label(groups: dict) -> tuple[dict, dict]:
    real = {g: s for (g, label), s in groups.items() if label == "real"}
    fake = {g: s for (g, label), s in groups.items() if label != "real"}
    return real, fake


def families_of(rows: list[dict]) -> dict:
    return {r["group"]: r["family"] for r in rows if r["label"] != "real"}


def report_level(rows, p, unseen: set, seen: set, level: str, target: float,
                 min_group: int) -> dict:
    """One level (frames or videos) of one weights: the operating point fitted on every
    unseen group, each unseen group at a point fitted without it, the in-source groups
    (validation split) at the fitted point, detection at fixed false-alarm rates per
    family, and the calibration error of P(real)."""
    unseen_groups = groups_of(rows, p, unseen, {"training", "validation"}, level)
    real, fake = split_by_label(unseen_groups)
    out = {"level": level, "target": target, "min_group": min_group,
           "unseen_groups": {f"{g} ({label})": len(s) for (g, label), s in
                             sorted(unseen_groups.items())}}
    if not any(len(s) for s in real.values()):
        out["error"] = "no unseen real group to calibrate on"
        return out
    fit_without = None
    try:
        if level == "frame":
            point = cal.fit(real, fake, target, min_group,
                            fitted_on=f"faces of {len(real)} real and {len(fake)} forged "
                                      f"source groups these weights never saw")
        else:
            face_real, face_fake = split_by_label(groups_of(
                rows, p, unseen, {"training", "validation"}, "frame"))
            point = cal.fit_videos(real, fake, face_real, face_fake, target, min_group,
                                   fitted_on=f"videos of {len(real)} real and {len(fake)} "
                                             f"forged source groups and the faces of "
                                             f"{len(face_real)} real and {len(face_fake)} "
                                             f"forged groups these weights never saw")

            def fit_without(label, group, others_real, others_fake):
                without = ({g: v for g, v in face_real.items() if g != group}, face_fake) \
                    if label == "real" else (face_real,
                                             {g: v for g, v in face_fake.items() if g != group})
                return cal.fit_videos(others_real, others_fake, *without, target, min_group)
    except ValueError as e:
        out["error"] = str(e)
        return out
    loso = cal.leave_one_source_out(real, fake, target, min_group, fit_without)
    told = {f"{g} ({v['label']})": v for (_, g), v in sorted(loso.items())}
    # what a verdict means: each unseen group judged by a point fitted without it, each
    # group counted once
    def mean_of(label, verdict):
        values = [v[verdict] for v in loso.values() if v["label"] == label
                  and v.get(verdict) is not None and v.get("used_alone")]
        return float(np.mean(values)) if values else None

    point = OperatingPoint(**{**point.as_dict(), "level": level,
                              "real_called_fake": mean_of("real", "fake"),
                              "fake_called_fake": mean_of("fake", "fake"),
                              "real_called_real": mean_of("real", "real"),
                              "fake_called_real": mean_of("fake", "real")})
    out["operating_point"] = point.as_dict()
    out["told_unseen"] = told
    seen_groups = groups_of(rows, p, seen, {"validation"}, level)
    out["told_in_source"] = {f"{g} ({label})": {"label": label, **cal.told(s, point)}
                             for (g, label), s in sorted(seen_groups.items())}
    # detection at fixed false-alarm rates (thresholds chosen on the pooled unseen reals)
    all_real = np.concatenate(list(real.values()))
    families = defaultdict(list)
    fam_of = families_of(rows)
    for g, s in fake.items():
        families[fam_of.get(g, "swap")].append(s)
    out["detection"] = {}
    for family, parts in sorted(families.items()):
        scores = np.concatenate(parts)
        y = np.r_[np.ones(len(all_real)), np.zeros(len(scores))]
        pp = np.r_[all_real, scores]
        out["detection"][family] = {
            "n_fake": int(len(scores)), "tpr_at_fpr_1": cal.tpr_at_fpr(y, pp, 0.01),
            "tpr_at_fpr_5": cal.tpr_at_fpr(y, pp, 0.05),
            "caught_at_point": float((scores <= point.fake_at_most).mean()),
            "auc": cal.auc(pp, y)}
    y_all = np.r_[np.ones(len(all_real)), np.zeros(sum(len(s) for s in fake.values()))]
    p_all = np.concatenate([all_real, *fake.values()]) if fake else all_real
    ece, table = cal.expected_calibration_error(y_all, p_all)
    out["ece"], out["reliability"] = ece, table
    return out


def told_table(name: str, level: dict) -> str:
    """The Markdown table of what users are told, per group, at one level."""
    what = "faces" if level["level"] == "frame" else "videos"
    if "error" in level:
        return f"`{name}` ({what}): {level['error']}"
    op = level["operating_point"]
    lines = [f"`{name}`, {what}: fake at P(real) <= {op['fake_at_most']:.3f}, real above "
             f"{op['real_above']:.3f} (fitted on {op['fitted_on']}).", "",
             f"| source group | {what} | called fake | inconclusive | called real | note |",
             "|---|---|---|---|---|---|"]
    for key, row in level["told_unseen"].items():
        if "error" in row:
            lines.append(f"| {key} | {row['n']} | – | – | – | {row['error']} |")
            continue
        note = "unseen, left out of its own fit" + ("" if row["used_alone"] else
                                                    f"; fewer than {level['min_group']}: "
                                                    f"pooled with small groups in fits")
        lines.append(f"| {key} | {row['n']} | {_pct(row['fake'])} | "
                     f"{_pct(row['inconclusive'])} | {_pct(row['real'])} | {note} |")
    for key, row in level["told_in_source"].items():
        lines.append(f"| {key} | {row['n']} | {_pct(row['fake'])} | "
                     f"{_pct(row['inconclusive'])} | {_pct(row['real'])} | "
                     f"in-source (trained on; validation split) |")
    return "\n".join(lines)


def detection_table(name: str, level: dict) -> str:
    what = "faces" if level["level"] == "frame" else "videos"
    if "error" in level:
        return ""
    lines = [f"`{name}`, {what} (unseen sources; ECE of P(real) {level['ece']:.3f}):", "",
             "| forged family | n | AUC | caught at the point | TPR at FPR 1 % | TPR at FPR 5 % |",
             "|---|---|---|---|---|---|"]
    for family, d in level["detection"].items():
        lines.append(f"| {family} | {d['n_fake']} | {_f(d['auc'])} | {_pct(d['caught_at_point'])}"
                     f" | {_pct(d['tpr_at_fpr_1'])} | {_pct(d['tpr_at_fpr_5'])} |")
    return "\n".join(lines)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def run(folder: Path, names: list[str], target: float = cal.TARGET,
        min_group: int = cal.MIN_GROUP, min_group_videos: int = cal.MIN_GROUP_VIDEOS,
        progress: bool = True, reliability_dir: Path | None = None,
        also_unseen_by: list[str] = ()) -> dict:
    """The told report of each weights on a prepared corpus: {name: {frame, video}}.
    With `also_unseen_by` (weights names), only groups that those weights never saw
    either count as unseen: every weights is then compared on the same groups."""
    from mesonet import scorers, zoo

    rows = corpus_rows(folder)
    all_groups = {r["group"] for r in rows}
    reports = {}
    for name in names:
        record = zoo.record_of(name)
        if record is None:
            raise ValueError(f"Weights {name} have no record (weights/{name}.record.json) "
                             f"saying which source groups they were trained on")
        seen = set(record.get("training_groups", []))
        for other in also_unseen_by:
            other_record = zoo.record_of(other)
            if other_record is None:
                raise ValueError(f"Weights {other} have no record to compare groups with")
            seen |= set(other_record.get("training_groups", []))
        unseen = all_groups - seen
        scorer = scorers.load_scorer(name)
        sha = zoo.resolve(name).sha256[:12]
        p = score_rows(rows, scorer, progress=progress,
                       cache=folder / "scores" / f"{name}-{sha}.csv")
        reports[name] = {"weights": name, "unseen_groups": sorted(unseen),
                         "in_source_groups": sorted(seen & all_groups),
                         "frame": report_level(rows, p, unseen, seen, "frame", target, min_group),
                         "video": report_level(rows, p, unseen, seen, "video", target,
                                               min_group_videos)}
        reports[name]["blur_shift"] = blur_shift(rows, scorer, unseen)
        if hasattr(scorer, "members"):  # a combination: its members stacked instead
            member_p = [score_rows(rows, m, progress=progress,
                                   cache=folder / "scores" /
                                   f"{m.weights}-{zoo.resolve(m.weights).sha256[:12]}.csv")
                        for m in scorer.members]
            reports[name]["stacking"] = stacking_report(
                rows, [m.weights for m in scorer.members], member_p, unseen, target,
                min_group)
        if reliability_dir is not None:
            tables = {f"{name} {lvl}s": (reports[name][lvl].get("ece"),
                                         reports[name][lvl].get("reliability", []))
                      for lvl in ("frame", "video") if reports[name][lvl].get("ece") is not None}
            cal.plot_reliability(tables, reliability_dir / f"{name}.reliability.png",
                                 f"{name}: P(real) on unseen sources")
    return reports


def write_operating_points(reports: dict) -> list[Path]:
    """Store each report's fitted points in the weights' records (weights/NAME.record.json)."""
    import json

    from mesonet import zoo
    from mesonet.outputs import atomic_write_text

    written = []
    for name, report in reports.items():
        path = zoo.PROJECT_WEIGHTS_DIR / f"{name}{zoo.RECORD_SUFFIX}"
        record = json.loads(path.read_text(encoding="utf-8"))
        record["operating_points"] = {
            level: {k: v for k, v in report[level]["operating_point"].items() if k != "level"}
            for level in ("frame", "video") if "operating_point" in report[level]}
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        written.append(path)
    return written


def blur_shift(rows: list[dict], scorer, groups: set, sigma: float = 1.0, n: int = 200,
               seed: int = 0) -> dict:
    """The shortcut check: the median change of P(real) when up to `n` real and `n` forged
    crops of `groups` are blurred (Gaussian, `sigma` px). A detector that reads forgery
    traces moves both alike; one that reads sharpness lifts real and forged faces apart."""
    import cv2

    from mesonet.media import MediaError, load_face_crop

    rng = np.random.default_rng(seed)
    out = {"sigma": sigma}
    for label in ("real", "fake"):
        pool = [r for r in rows if r["group"] in groups and r["label"] == label]
        pick = [pool[i] for i in sorted(rng.choice(len(pool), min(n, len(pool)),
                                                   replace=False))] if pool else []
        faces = []
        for row in pick:
            try:
                faces.append(load_face_crop(row["path"]))
            except MediaError:
                continue
        if not faces:
            out[label] = None
            continue
        x = np.stack(faces)
        blurred = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in x])
        before, after = scorer.predict(x)[:, 0], scorer.predict(blurred)[:, 0]
        out[label] = {"n": len(x), "median_before": float(np.median(before)),
                      "median_after": float(np.median(after)),
                      "median_shift": float(np.median(after - before))}
    if out.get("real") and out.get("fake"):
        out["difference"] = out["real"]["median_shift"] - out["fake"]["median_shift"]
    return out


def stacking_report(rows: list[dict], members: list[str], member_p: list[np.ndarray],
                    unseen: set, target: float = cal.TARGET,
                    min_group: int = cal.MIN_GROUP) -> dict:
    """Members combined by logistic stacking of their P(real), fitted on unseen source
    groups, against the lower P(real) of the members: for each unseen group, the stacking
    and the operating point are fitted on the other groups only, then applied to it.
    Returns, per group, the share called fake by each member (at its own point fitted
    without the group), by the lower P(real) and by the stacking."""
    keep = [i for i, r in enumerate(rows) if r["group"] in unseen
            and all(np.isfinite(p[i]) for p in member_p)]
    sub = [rows[i] for i in keep]
    scores = np.stack([p[keep] for p in member_p])  # (members, N)
    keys = np.array([f"{r['group']} ({r['label']})" for r in sub])
    y = np.array([1 if r["label"] == "real" else 0 for r in sub])
    kinds = {"lower": scores.min(axis=0)}
    kinds.update({m: scores[k] for k, m in enumerate(members)})
    out = {}
    for key in sorted(set(keys.tolist())):
        here, rest = keys == key, keys != key
        stack = cal.fit_stacking(scores[:, rest], y[rest], keys[rest])
        candidates = {**kinds, "stacked": cal.stacked(scores, stack)}
        row = {"n": int(here.sum()), "label": "real" if y[here][0] == 1 else "fake"}
        for name, p in candidates.items():
            real = {k: p[rest & (keys == k)] for k in set(keys[rest].tolist())
                    if k.endswith("(real)")}
            fake = {k: p[rest & (keys == k)] for k in set(keys[rest].tolist())
                    if not k.endswith("(real)")}
            try:
                op = cal.fit(real, fake, target, min_group)
            except ValueError:
                row[name] = None
                continue
            row[name] = cal.told(p[here], op)["fake"]
        out[key] = row
    stack_all = cal.fit_stacking(scores, y, keys)
    return {"groups": out, "stacking": stack_all, "members": members}


def stacking_table(report: dict) -> str:
    names = report["members"] + ["lower", "stacked"]
    lines = ["Share called fake, each group at a point (and a stacking) fitted without it:", "",
             "| source group | n | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for key, row in report["groups"].items():
        lines.append(f"| {key} | {row['n']} | " + " | ".join(_pct(row.get(n)) for n in names)
                     + " |")
    for label in ("real", "fake"):
        means = [np.mean([r[n] for r in report["groups"].values() if r["label"] == label
                          and r.get(n) is not None] or [np.nan]) for n in names]
        lines.append(f"| mean over {label} groups | | " + " | ".join(
            "–" if np.isnan(m) else f"{100 * m:.1f} %" for m in means) + " |")
    w = report["stacking"]
    lines.append("")
    lines.append("Stacking fitted on every unseen group: P(real) = sigmoid("
                 + " + ".join(f"{v:.3f} logit(p_{m})" for v, m in zip(w["weights"],
                                                                    report["members"]))
                 + f" + {w['bias']:.3f})")
    return "\n".join(lines)


CARD_START, CARD_END = "<!-- what-users-are-told:start -->", "<!-- what-users-are-told:end -->"


def card_section(name: str, report: dict, command: str) -> str:
    """The model card's section of what users are told, made by `command`."""
    parts = [CARD_START, "## What users are told (sources these weights never saw)", "",
             "Made by, on the corpus prepared from `../shared/train`, `train_extra` and "
             "`train_more` (README, \"Training and evaluation\"):", "", "```bash", command,
             "```", "",
             "Each unseen source group is judged at an operating point fitted on the other "
             "unseen groups only (leave one source out); groups the weights were trained on "
             "are shown on their validation split, marked in-source, and never used to fit. "
             "Figures are for ONNX Runtime in float32.", ""]
    for level in ("frame", "video"):
        parts += [told_table(name, report[level]), ""]
        table = detection_table(name, report[level])
        if table:
            parts += [table, ""]
    shift = report.get("blur_shift", {})
    if shift.get("difference") is not None:
        parts += [f"The shortcut check: a Gaussian blur of sigma {shift['sigma']:g} px moves the "
                  f"median P(real) of {shift['real']['n']} real faces of unseen sources by "
                  f"{shift['real']['median_shift']:+.3f} and of {shift['fake']['n']} forged ones by "
                  f"{shift['fake']['median_shift']:+.3f} (difference {shift['difference']:+.3f}; "
                  f"near 0: blur is no cue).", ""]
    if "stacking" in report:
        parts += [stacking_table(report["stacking"]), ""]
    parts.append(CARD_END)
    return "\n".join(parts)


def update_card(path: Path, section: str) -> None:
    """Put the section into a model card, replacing an earlier one."""
    from mesonet.outputs import atomic_write_text

    text = path.read_text(encoding="utf-8")
    if CARD_START in text and CARD_END in text:
        head, rest = text.split(CARD_START, 1)
        text = head + section + rest.split(CARD_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_text(path, text)
