"""Operating points fitted on sources the weights never saw, and what they tell users.

A verdict is given by an operating point (contract.OperatingPoint): P(real) at or below
`fake_at_most` is called fake, above `real_above` real, between them inconclusive. Both
thresholds are fitted on *calibration groups*: source groups of faces (or of videos) that
the weights were not trained on, so that the shares they promise hold out of the training
sources, where a threshold fitted on the training sources' validation faces does not:

- `fake_at_most`: the highest threshold at which, in every calibration group of real
  faces, at most `target` (5 %) of them are called fake;
- `real_above`: the lowest threshold at which, in every calibration group of forged
  faces, at most `target` of them are called real.

Each group's threshold is a quantile of its own scores, and the operating point takes the
strictest, so that the target holds for every source it was fitted on, not only on
average. Groups smaller than `MIN_GROUP` are not used alone: they are pooled into one
group (videos: `MIN_GROUP_VIDEOS`). To report honestly what a user is told on a source
the weights never saw, the
figure for each group comes from a point fitted without it (`leave_one_source_out`).

This module is numpy only: arrays in, numbers out; the evaluation script feeds it.
"""

from __future__ import annotations

import numpy as np

from mesonet.contract import OperatingPoint

TARGET = 0.05  # at most 5 % of real faces called fake (and of forged faces called real)
MIN_GROUP = 30  # fewer faces than this are not a group to calibrate on alone
# a video's score is the mean of about 30 faces, far steadier than one face's, and real
# videos of distinct sources are few: 20 videos make a group
MIN_GROUP_VIDEOS = 20


def _group_threshold(scores: np.ndarray, target: float, side: str) -> float:
    """The threshold that calls at most `target` of `scores` wrongly: for real scores
    (side 'real') the highest t with share(scores <= t) <= target, for forged scores (side
    'fake') the lowest t with share(scores > t) <= target. Midway between the two scores
    that bound it, so that it does not sit on one face's score."""
    s = np.sort(np.asarray(scores, np.float64))
    n = len(s)
    k = int(np.floor(target * n + 1e-9))  # how many may be called wrongly
    if side == "real":  # k scores may lie at or below t: t below the (k+1)-th smallest
        lower = s[k - 1] if k >= 1 else 0.0
        return float((lower + s[k]) / 2) if k < n else 1.0
    # forged: k scores may lie above t: t at or above the (k+1)-th largest
    upper = s[n - k] if k >= 1 else 1.0
    return float((s[n - 1 - k] + upper) / 2) if k < n else 0.0


def pooled_groups(groups: dict, min_group: int = MIN_GROUP) -> dict:
    """Groups of at least `min_group` scores as they are; the smaller ones pooled into one
    group 'small groups (pooled)' (left out when even the pool is too small)."""
    big = {g: np.asarray(s) for g, s in groups.items() if len(s) >= min_group}
    small = [np.asarray(s) for g, s in groups.items() if len(s) < min_group]
    if small and sum(len(s) for s in small) >= min_group:
        big["small groups (pooled)"] = np.concatenate(small)
    return big


def fit(real_groups: dict, fake_groups: dict, target: float = TARGET,
        min_group: int = MIN_GROUP, fitted_on: str = "") -> OperatingPoint:
    """The operating point for these calibration groups ({group: P(real) scores}).

    Raises ValueError when no group of real faces is large enough to fit on."""
    reals, fakes = pooled_groups(real_groups, min_group), pooled_groups(fake_groups, min_group)
    if not reals:
        raise ValueError(f"No group of at least {min_group} real faces to calibrate on "
                         f"(got {', '.join(f'{g}: {len(s)}' for g, s in real_groups.items())})")
    fake_at_most = min(_group_threshold(s, target, "real") for s in reals.values())
    real_above = max(_group_threshold(s, target, "fake") for s in fakes.values()) \
        if fakes else 1.0
    if real_above < fake_at_most:  # the classes part: both promises hold at one threshold
        fake_at_most = real_above = (fake_at_most + real_above) / 2
    return OperatingPoint(fake_at_most=round(fake_at_most, 6), real_above=round(real_above, 6),
                          target=target, fitted_on=fitted_on or
                          f"{len(reals)} real and {len(fakes)} forged source groups")


def told(p, op: OperatingPoint) -> dict:
    """Shares of `p` called fake / inconclusive / real at the operating point."""
    p = np.asarray(p, np.float64)
    if len(p) == 0:
        return {"n": 0, "fake": None, "inconclusive": None, "real": None}
    fake = p <= op.fake_at_most
    real = p > op.real_above
    return {"n": int(len(p)), "fake": float(fake.mean()), "real": float(real.mean()),
            "inconclusive": float((~fake & ~real).mean())}


def fit_videos(real_videos: dict, fake_videos: dict, real_faces: dict, fake_faces: dict,
               target: float = TARGET, min_group: int = MIN_GROUP_VIDEOS,
               min_faces: int = MIN_GROUP, fitted_on: str = "") -> OperatingPoint:
    """The operating point for videos (their mean P(real)): the stricter of the point
    fitted on the videos' groups and the point fitted on the faces' groups. Real videos of
    distinct sources are few; a video's mean lies below a face threshold that at most 5 %
    of the real faces of every source fall under only when most of its faces do, so the
    faces' point bounds the videos' where the videos alone cannot be trusted."""
    faces = fit(real_faces, fake_faces, target, min_faces)
    try:
        videos = fit(real_videos, fake_videos, target, min_group)
    except ValueError:
        videos = None
    fake_at_most = faces.fake_at_most if videos is None else min(faces.fake_at_most,
                                                                  videos.fake_at_most)
    real_above = faces.real_above if videos is None else max(faces.real_above,
                                                             videos.real_above)
    return OperatingPoint(fake_at_most=fake_at_most, real_above=real_above, target=target,
                          level="video", fitted_on=fitted_on or (
                              "the stricter of the faces' point and the videos' point"
                              + ("" if videos else " (too few videos: the faces' point)")))


def leave_one_source_out(real_groups: dict, fake_groups: dict, target: float = TARGET,
                         min_group: int = MIN_GROUP, fit_without=None) -> dict:
    """For every calibration group: what users are told on it at an operating point fitted
    on all the other groups (never on itself). {group: {label, n, fake, inconclusive,
    real, point: (fake_at_most, real_above), used_alone}}. fit_without(label, group,
    others_real, others_fake) makes the point when fitting needs more than these groups
    (videos: their faces too, without the group's)."""
    out = {}
    everything = [("real", g, s) for g, s in real_groups.items()] + \
        [("fake", g, s) for g, s in fake_groups.items()]
    for label, group, scores in everything:
        others_real = {g: s for g, s in real_groups.items() if not (label == "real" and g == group)}
        others_fake = {g: s for g, s in fake_groups.items() if not (label == "fake" and g == group)}
        try:
            op = (fit(others_real, others_fake, target, min_group) if fit_without is None
                  else fit_without(label, group, others_real, others_fake))
        except ValueError:
            out[(label, group)] = {"label": label, "n": len(scores), "error": "too few groups"}
            continue
        out[(label, group)] = {"label": label, **told(scores, op),
                               "point": (op.fake_at_most, op.real_above),
                               "used_alone": len(scores) >= min_group}
    return out


def tpr_at_fpr(y, p, fpr: float) -> float | None:
    """Share of forged faces caught (called fake) at the threshold that calls `fpr` of the
    real faces fake (the threshold chosen on these very faces: an oracle figure)."""
    y, p = np.asarray(y), np.asarray(p, np.float64)
    real, fake = p[y == 1], p[y == 0]
    if len(real) == 0 or len(fake) == 0:
        return None
    t = _group_threshold(real, fpr, "real")
    return float((fake <= t).mean())


def expected_calibration_error(y, p, bins: int = 10) -> tuple[float | None, list]:
    """ECE of P(real) as a probability that a face is real: the mean over equal-width bins
    of |share real - mean P(real)|, weighted by the bin's size; with the bins
    [(mean P(real), share real, n)] for a reliability diagram."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    if len(p) == 0:
        return None, []
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            conf, acc = float(p[sel].mean()), float(y[sel].mean())
            table.append((conf, acc, int(sel.sum())))
            ece += sel.mean() * abs(acc - conf)
    return float(ece), table


def plot_reliability(tables: dict, path, title: str) -> None:
    """A reliability diagram: per curve, share real against mean P(real) per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mesonet.outputs import atomic_path

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="calibrated")
    for name, (ece, table) in tables.items():
        if table:
            conf, acc, _ = zip(*table)
            ax.plot(conf, acc, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set(xlabel="mean P(real) in the bin", ylabel="share of real faces in the bin",
           xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_stacking(member_scores: np.ndarray, y, groups, l2: float = 1e-3,
                 steps: int = 500) -> dict:
    """Logistic stacking of members' P(real): weights w and bias b of
    P(real) = sigmoid(w . logit(p_members) + b), fitted on calibration faces with each
    source group weighted equally (so that no source dominates) by Newton's method.

    member_scores: (members, N); y: 1 real, 0 forged; groups: (N,) source group of each."""
    x = logit(member_scores).T  # (N, members)
    x = np.hstack([x, np.ones((len(x), 1))])
    y = np.asarray(y, np.float64)
    groups = np.asarray(groups)
    weight = np.zeros(len(y))
    for g in np.unique(groups):
        sel = groups == g
        weight[sel] = 1.0 / sel.sum()
    weight *= len(y) / weight.sum()
    theta = np.zeros(x.shape[1])
    for _ in range(steps):
        z = np.clip(x @ theta, -30, 30)
        q = 1 / (1 + np.exp(-z))
        grad = x.T @ (weight * (q - y)) / len(y) + l2 * np.r_[theta[:-1], 0]
        hess = (x * (weight * q * (1 - q))[:, None]).T @ x / len(y) + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return {"weights": [float(v) for v in theta[:-1]], "bias": float(theta[-1])}


def stacked(member_scores: np.ndarray, stacking: dict) -> np.ndarray:
    """P(real) of the stacked combination: sigmoid(w . logit(p_members) + b)."""
    z = np.asarray(stacking["weights"]) @ logit(member_scores) + stacking["bias"]
    return 1 / (1 + np.exp(-z))


def auc(scores, labels) -> float | None:
    """Area under the ROC curve of P(real) for labels 1 = real (tied scores count a half,
    as scikit-learn's roc_auc_score); None when only one class is there. numpy only: the
    base install scores and tabulates without scikit-learn or scipy."""
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return None
    # average ranks, 1-based, tied scores sharing theirs
    _, where, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2)[where]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
