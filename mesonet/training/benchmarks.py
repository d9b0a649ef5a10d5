"""The standard benchmarks in their own layouts: FaceForensics++, Celeb-DF v2, DFDC.

    mesonet benchmark prepare ffpp ~/FaceForensics++ --compression c23 --methods Deepfakes --output ffpp-df-c23
    mesonet benchmark prepare celebdf ~/Celeb-DF-v2 --output celebdf
    mesonet benchmark prepare dfdc ~/dfdc --output dfdc
    mesonet benchmark paper ffpp-df-c23 --weights meso4-df mesoinception4-df
    mesonet benchmark paper ffpp-df-c23 --train meso4 mesoinception4     # the paper's setting
    mesonet benchmark cross ffpp-c23 ffpp-c40 celebdf dfdc --weights meso4-df mesoinception4-df

`prepare` reads a dataset as it is published, takes its official split, samples --frames
frames per video, finds and aligns the faces as scoring does, and writes the project's
prepared corpus (OUTPUT/{training,validation,test}/{df,real}/*.jpg and OUTPUT/corpus.csv,
one row per crop with its video as `source`), which training/df_CNN.py trains on and the
tables read. It says what it found: videos per split and class, what the split files name
that is missing, and the videos it could not read (with the reason; also in
OUTPUT/errors.csv). Running it again skips the videos already done.

Splits, and why no identity crosses them:
- FF++: the official train/val/test pairs (`--splits`, default: the copy in
  ../shared/reference/ffpp_splits or $MESONET_FFPP_SPLITS): the originals of both ids of
  a pair and the manipulated videos of both orders belong to the pair's split.
- Celeb-DF v2: List_of_testing_videos.txt is the test split; a training video that shares
  a celebrity (idN) with any test video is left out (counted), the rest is training, with
  one in ten identities held out for validation.
- DFDC: a fake goes with its original (one cluster per original); a part folder named
  `test` (or holding labels.csv, the public test set) is all test; otherwise clusters are
  split 70/10/20 into training/validation/test by a hash of the original's name.

`paper` prints the paper's table (Afchar et al. 2018, Tables 2-3): per-class and overall
accuracy at frame level and at video level (the mean of a video's frame scores), at the
paper's threshold 0.5, on the test split. `cross` prints frame and video AUC on each
prepared dataset's test split, DeepfakeBench's form, with its published Meso4 and
MesoIncep rows beside.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger("benchmark")

SPLITS = ("training", "validation", "test")
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
FFPP_FAMILY = {"Deepfakes": "swap", "FaceSwap": "swap", "FaceShifter": "swap",
               "Face2Face": "reenactment", "NeuralTextures": "reenactment"}
COMPRESSIONS = ("c0", "c23", "c40")
VIDEO_FRAMES = 32  # DeepfakeBench samples 32 frames per video

#: DeepfakeBench (Yan et al., "DeepfakeBench: A Comprehensive Benchmark of Deepfake
#: Detection", NeurIPS 2023 Datasets and Benchmarks, arXiv:2307.01426), frame-level AUC of
#: its Meso4 and MesoIncep trained on FF++ c23: the in-domain and cross-dataset table.
#: Transcribed by hand from the paper; check against it before citing.
DEEPFAKEBENCH = {
    "source": "DeepfakeBench (arXiv:2307.01426), frame-level AUC, trained on FF++ c23",
    "rows": {"Meso4 (DeepfakeBench)": {"ffpp_c23": 0.6077, "ffpp_c40": 0.5920,
                                       "celebdf_v2": 0.6091, "dfdc": 0.5560},
             "MesoIncep (DeepfakeBench)": {"ffpp_c23": 0.7583, "ffpp_c40": 0.7278,
                                           "celebdf_v2": 0.6966, "dfdc": 0.6226}},
}


class LayoutError(ValueError):
    """A dataset folder that is not in the layout expected: says what was expected and
    what was found."""


@dataclass
class Video:
    path: Path
    label: str  # 'real' or 'fake'
    group: str  # dataset and method, e.g. ffpp_c23_Deepfakes
    family: str
    split: str
    identity: str  # what must not cross splits


@dataclass
class Found:
    """What an adapter found: the videos, and what it has to say about the rest."""
    dataset: str  # ffpp_c23, celebdf_v2, dfdc
    videos: list
    missing: list  # what the split files or lists name that is not on disk
    notes: list

    def counts(self) -> dict:
        out: dict = {}
        for v in self.videos:
            out.setdefault(v.split, {}).setdefault(v.label, 0)
            out[v.split][v.label] += 1
        return out

    def summary(self) -> str:
        lines = [f"{self.dataset}: {len(self.videos)} videos"]
        for split in SPLITS:
            c = self.counts().get(split, {})
            if c:
                lines.append(f"  {split:<10} real {c.get('real', 0):>5}  fake {c.get('fake', 0):>5}")
        if self.missing:
            kinds: dict[str, list] = {}
            for m in self.missing:
                kind, _, name = m.partition(" ") if " " in m else ("videos", "", m)
                kinds.setdefault(kind, []).append(name or m)
            lines.append("  missing (named by the split files or lists, not on disk; prepared "
                         "for what is there): " + "; ".join(
                             f"{kind} (the whole folder)" if names == ["(all)"] else
                             f"{kind} {len(names)} ({', '.join(names[:4])}"
                             f"{' ...' if len(names) > 4 else ''})" for kind, names in kinds.items()))
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def _listing(folder: Path, limit: int = 8) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError as e:
        return f"cannot list it ({e.strerror})"
    if not names:
        return "an empty folder"
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _need_dir(path: Path, expected: str, root: Path) -> Path:
    if not path.is_dir():
        raise LayoutError(f"{root}: not a {expected} folder: expected {path.relative_to(root)}/; "
                          f"found {_listing(root)}")
    return path


# --------------------------------------------------------------------------------------
# FaceForensics++


def default_ffpp_splits() -> Path:
    env = os.environ.get("MESONET_FFPP_SPLITS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("MESONET_SHARED", here.parent / "shared")) / "reference" / "ffpp_splits"


def read_ffpp_splits(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """{'training': pairs, 'validation': pairs, 'test': pairs} from train/val/test.json."""
    out = {}
    for split, name in zip(SPLITS, ("train", "val", "test")):
        path = Path(folder) / f"{name}.json"
        try:
            pairs = json.loads(path.read_text())
            out[split] = [(str(a), str(b)) for a, b in pairs]
        except FileNotFoundError:
            raise LayoutError(f"{folder}: no {name}.json: give the folder holding FaceForensics++'s "
                              f"official train.json, val.json and test.json (--splits)") from None
        except (ValueError, TypeError) as e:
            raise LayoutError(f"{path}: not an FF++ split file (a JSON list of [target, source] "
                              f"id pairs): {e}") from None
    return out


def ffpp(root, compression: str = "c23", methods=("Deepfakes", "Face2Face"),
         splits=None) -> Found:
    """FF++ in its published layout: original_sequences/youtube/<c>/videos/<id>.mp4 and
    manipulated_sequences/<method>/<c>/videos/<a>_<b>.mp4, on the official split."""
    root = Path(root)
    if compression not in COMPRESSIONS:
        raise ValueError(f"Unknown FF++ compression {compression!r}; known: {', '.join(COMPRESSIONS)}")
    unknown = [m for m in methods if m not in FFPP_METHODS]
    if unknown:
        raise ValueError(f"Unknown FF++ method(s) {', '.join(unknown)}; known: {', '.join(FFPP_METHODS)}")
    pairs = read_ffpp_splits(Path(splits) if splits else default_ffpp_splits())
    split_of_id, split_of_pair = {}, {}
    for split, ps in pairs.items():
        for a, b in ps:
            split_of_id[a] = split_of_id[b] = split
            split_of_pair[f"{a}_{b}"] = split_of_pair[f"{b}_{a}"] = split
    dataset = f"ffpp_{compression}"
    videos, missing, notes = [], [], []
    originals = _need_dir(root / "original_sequences" / "youtube" / compression / "videos",
                          "FaceForensics++", root)
    found_ids = {p.stem: p for p in originals.glob("*.mp4")}
    for vid, split in sorted(split_of_id.items()):
        if vid in found_ids:
            videos.append(Video(found_ids[vid], "real", f"{dataset}_original", "real", split,
                                f"ffpp:{vid}"))
        else:
            missing.append(f"original {vid}")
    strays = sorted(set(found_ids) - set(split_of_id))
    if strays:
        notes.append(f"{len(strays)} original videos in no split file, left out: "
                     f"{', '.join(strays[:8])}")
    for method in methods:
        folder = root / "manipulated_sequences" / method / compression / "videos"
        if not folder.is_dir():
            notes.append(f"{method}: no {folder.relative_to(root)}/ (not downloaded?): left out")
            missing.append(f"{method} (all)")
            continue
        found = {p.stem: p for p in folder.glob("*.mp4")}
        for pair, split in sorted(split_of_pair.items()):
            if pair in found:
                a, b = pair.split("_")
                videos.append(Video(found[pair], "fake", f"{dataset}_{method}", FFPP_FAMILY[method],
                                    split, f"ffpp:{a}+{b}"))
            else:
                missing.append(f"{method} {pair}")
        odd = sorted(set(found) - set(split_of_pair))
        if odd:
            notes.append(f"{method}: {len(odd)} videos in no split pair, left out: {', '.join(odd[:8])}")
    return Found(dataset, videos, missing, notes)


# --------------------------------------------------------------------------------------
# Celeb-DF v2


_CELEB_ID = re.compile(r"id(\d+)")


def _celeb_identities(path: Path) -> set[str]:
    if path.parent.name == "YouTube-real":
        return {f"youtube:{path.stem}"}
    return {f"celeb:{i}" for i in _CELEB_ID.findall(path.stem)}


def celebdf(root) -> Found:
    """Celeb-DF v2: Celeb-real/, YouTube-real/, Celeb-synthesis/ and
    List_of_testing_videos.txt ('1 YouTube-real/00170.mp4': 1 real, 0 synthesized)."""
    root = Path(root)
    for sub in ("Celeb-real", "Celeb-synthesis"):
        _need_dir(root / sub, "Celeb-DF v2", root)
    listing = root / "List_of_testing_videos.txt"
    if not listing.is_file():
        raise LayoutError(f"{root}: no List_of_testing_videos.txt (the official test list); "
                          f"found {_listing(root)}")
    test, missing, notes = {}, [], []
    for n, line in enumerate(listing.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise LayoutError(f"{listing}:{n}: expected '<1 real | 0 fake> <folder>/<video>.mp4', "
                              f"found {line!r}")
        test[parts[1]] = "real" if parts[0] == "1" else "fake"
    on_disk = {f"{sub}/{p.name}": p for sub in ("Celeb-real", "YouTube-real", "Celeb-synthesis")
               for p in sorted((root / sub).glob("*.mp4"))}
    videos = []
    test_ids: set[str] = set()
    for rel, label in test.items():
        if rel not in on_disk:
            missing.append(rel)
            continue
        path = on_disk[rel]
        expected = "fake" if rel.startswith("Celeb-synthesis/") else "real"
        if label != expected:
            notes.append(f"{rel}: listed as {label}, but its folder says {expected}; the list's word is kept")
        ids = _celeb_identities(path)
        test_ids |= ids
        videos.append(Video(path, label, f"celebdf_v2_{path.parent.name}",
                            "swap" if label == "fake" else "real", "test", "+".join(sorted(ids))))
    dropped, rest = 0, []
    for rel, path in on_disk.items():
        if rel in test:
            continue
        ids = _celeb_identities(path)
        if ids & test_ids:  # shares a celebrity with the test split
            dropped += 1
            continue
        rest.append((rel, path, ids))
    # validation: one in ten groups of identities linked by a video (a fake links two)
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for _, _, ids in rest:
        first, *others = sorted(ids)
        for other in others:
            parent[find(other)] = find(first)
    size: dict[str, int] = {}
    for _, _, ids in rest:
        size[find(sorted(ids)[0])] = size.get(find(sorted(ids)[0]), 0) + 1
    for rel, path, ids in rest:
        label = "fake" if rel.startswith("Celeb-synthesis/") else "real"
        key = find(sorted(ids)[0])
        # a group holding a fifth of the videos or more stays in training
        split = "validation" if (int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10 == 0
                                 and size[key] < 0.2 * len(rest)) else "training"
        videos.append(Video(path, label, f"celebdf_v2_{path.parent.name}",
                            "swap" if label == "fake" else "real", split, "+".join(sorted(ids))))
    if dropped:
        notes.append(f"{dropped} videos left out of training: they share an identity with the "
                     f"test split")
    return Found("celebdf_v2", videos, missing, notes)


# --------------------------------------------------------------------------------------
# DFDC


def dfdc(root) -> Found:
    """DFDC parts (dfdc_train_part_N/ with metadata.json: {"x.mp4": {"label": "FAKE",
    "original": "y.mp4", ...}}), or the public test set (a folder with labels.csv:
    filename,label with 1 = fake)."""
    root = Path(root)
    parts = [p.parent for p in sorted(root.rglob("metadata.json"))]
    tests = [p.parent for p in sorted(root.rglob("labels.csv"))]
    if not parts and not tests:
        raise LayoutError(f"{root}: no DFDC part found: expected folders with metadata.json "
                          f"(dfdc_train_part_N/) or the test set's labels.csv; found {_listing(root)}")
    videos, missing, notes = [], [], []
    for part in parts:
        try:
            meta = json.loads((part / "metadata.json").read_text())
        except (OSError, ValueError) as e:
            raise LayoutError(f"{part / 'metadata.json'}: not DFDC metadata: {e}") from None
        all_test = part.name.lower() == "test"
        for name, info in sorted(meta.items()):
            if not isinstance(info, dict) or info.get("label") not in ("REAL", "FAKE"):
                raise LayoutError(f"{part / 'metadata.json'}: entry {name!r} has no label "
                                  f"REAL/FAKE: {info!r}")
            path = part / name
            if not path.is_file():
                missing.append(f"{part.name}/{name}")
                continue
            label = "fake" if info["label"] == "FAKE" else "real"
            cluster = Path(info.get("original") or name).stem
            if all_test:
                split = "test"
            else:
                h = int(hashlib.sha1(cluster.encode()).hexdigest(), 16) % 10
                split = "test" if h < 2 else "validation" if h == 2 else "training"
            videos.append(Video(path, label, "dfdc_" + label, "swap" if label == "fake" else "real",
                                split, f"dfdc:{cluster}"))
    for part in tests:
        with open(part / "labels.csv", newline="") as f:
            for row in csv.DictReader(f):
                path = part / row["filename"]
                if not path.is_file():
                    missing.append(f"{part.name}/{row['filename']}")
                    continue
                label = "fake" if str(row["label"]).strip() in ("1", "1.0") else "real"
                videos.append(Video(path, label, "dfdc_" + label,
                                    "swap" if label == "fake" else "real", "test",
                                    f"dfdc-test:{path.stem}"))
    if tests:
        notes.append("the public test set has no originals named: its videos are identities "
                      "of their own")
    return Found("dfdc", videos, missing, notes)


ADAPTERS = {"ffpp": ffpp, "celebdf": celebdf, "dfdc": dfdc}


def check_no_identity_crosses(videos) -> None:
    """Raise when one identity is in two splits (the adapters make sure it never is)."""
    where: dict[str, set] = {}
    for v in videos:
        for ident in v.identity.replace("ffpp:", "").replace("+", " ").split():
            where.setdefault(ident, set()).add(v.split)
    crossing = {k: s for k, s in where.items() if len(s) > 1}
    if crossing:
        raise ValueError(f"identities in two splits: {sorted(crossing)[:8]}")


# --------------------------------------------------------------------------------------
# Preparing: faces of sampled frames, as the project's prepared corpus


def _setup(frames: int):
    from mesonet.faces import FaceFinder

    return FaceFinder(cnn_rescue=False), frames


def _prepare_one(state, job):
    """One video's crops written under OUTPUT: (rows, error or None)."""
    from PIL import Image

    from mesonet.media import MediaError
    from mesonet.outputs import atomic_path
    from mesonet.training.corpus import landmarks_text
    from mesonet.training.prepare import crops_of

    finder, frames = state
    video, output, source = job
    label = "df" if video.label == "fake" else "real"
    base = {"label": video.label, "group": video.group, "family": video.family,
            "split": video.split, "source": source, "identity": video.identity,
            "near_identical": 0}
    try:
        crops = crops_of(video.path, "video", finder, frames)
    except MediaError as e:
        return [{**base, "crop": "", "landmarks": ""}], e.reason
    rows = []
    folder = output / video.split / label
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{video.group}__{video.path.stem}"
    for frame, crop, marks in crops:
        name = f"{stem}__f{frame:05d}.jpg"
        with atomic_path(folder / name) as tmp:
            Image.fromarray(crop).save(tmp, format="JPEG", quality=90)
        rows.append({**base, "crop": f"{video.split}/{label}/{name}",
                     "landmarks": landmarks_text(marks)})
    return rows or [{**base, "crop": "", "landmarks": ""}], None


def prepare(found: Found, output, frames: int = VIDEO_FRAMES, jobs: int = 1,
            root=None, progress: bool = True) -> dict:
    """Crops of every video found, into the prepared corpus at `output` (resumable: videos
    already in its corpus.csv are skipped). Returns counts: videos, crops, errors, skipped."""
    from mesonet.outputs import atomic_write_text, write_results
    from mesonet.progress import progress as bar
    from mesonet.training.corpus import COLUMNS
    from mesonet.workers import WorkerError, run_each

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    check_no_identity_crosses(found.videos)
    table_path, errors_path = output / "corpus.csv", output / "errors.csv"
    table = []
    if table_path.is_file():
        with open(table_path, newline="", encoding="utf-8") as f:
            table = list(csv.DictReader(f))
    errors = []
    if errors_path.is_file():
        with open(errors_path, newline="", encoding="utf-8") as f:
            errors = list(csv.DictReader(f))
    done = {r["source"] for r in table} | {r["source"] for r in errors}
    root = Path(root) if root else None

    def source_of(v: Video) -> str:
        return (v.path.relative_to(root) if root else v.path).as_posix()

    todo = [(v, output, source_of(v)) for v in found.videos if source_of(v) not in done]
    meta = {"dataset": found.dataset, "frames": frames}
    atomic_write_text(output / "dataset.json", json.dumps(meta) + "\n")
    outcomes = run_each(todo, jobs, _setup, (frames,), _prepare_one,
                        label=lambda job: job[2])
    n = 0
    for (video, _, source), outcome in bar(outcomes, total=len(todo), unit="video",
                                           desc="preparing", enabled=progress and len(todo) > 1):
        if isinstance(outcome, WorkerError):
            outcome = ([], outcome.reason)
        rows, error = outcome
        if error:
            logger.warning("%s: %s", source, error)
            errors.append({"source": source, "split": video.split, "label": video.label,
                           "error": error})
        else:
            table += rows
        n += 1
        if n % 20 == 0 or n == len(todo):  # resumable: what is done is written
            write_results(table_path, table, COLUMNS, {})
            write_results(errors_path, errors, ["source", "split", "label", "error"], {})
    if not todo and not table_path.exists():
        write_results(table_path, table, COLUMNS, {})
    return {"videos": len(found.videos), "new": len(todo), "skipped": len(found.videos) - len(todo),
            "crops": sum(1 for r in table if r["crop"]), "errors": errors,
            "no_face": sum(1 for r in table if not r["crop"])}


# --------------------------------------------------------------------------------------
# Tables


def load_split(corpus, split: str = "test"):
    """(faces uint8, labels 1 = real, video of each face) of one split of a prepared corpus."""
    from mesonet.media import load_face_crop

    corpus = Path(corpus)
    with open(corpus / "corpus.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["crop"] and (split == "all" or r["split"] == split)]
    if not rows:
        raise ValueError(f"{corpus}: no faces in its {split!r} split (prepared with "
                         f"`mesonet benchmark prepare`?)")
    faces = np.stack([load_face_crop(corpus / r["crop"]) for r in rows])
    labels = np.array([r["label"] == "real" for r in rows], np.int8)
    return faces, labels, [r["source"] for r in rows]


def video_scores(scores, labels, videos):
    """Per video: (mean frame P(real), label)."""
    by: dict[str, list] = {}
    for s, y, v in zip(scores, labels, videos):
        by.setdefault(v, [[], y])[0].append(float(s))
    return (np.array([np.mean(s) for s, _ in by.values()]),
            np.array([y for _, y in by.values()], np.int8))


def accuracies(scores, labels, threshold: float = 0.5) -> dict:
    """The paper's accuracies: per class (forged called fake, real called real) and overall."""
    scores, labels = np.asarray(scores), np.asarray(labels).astype(bool)
    called_real = scores > threshold
    out = {"overall": float((called_real == labels).mean()), "n": int(labels.size)}
    out["fake"] = float((~called_real[~labels]).mean()) if (~labels).any() else None
    out["real"] = float(called_real[labels].mean()) if labels.any() else None
    return out


def paper_table(corpus, weights, split: str = "test") -> tuple[str, list]:
    """The paper's table on a prepared dataset: per weights, accuracy per class and
    overall at frame level and video level. (text, rows)."""
    from mesonet import scorers

    faces, labels, videos = load_split(corpus, split)
    rows = []
    for w in weights:
        p = scorers.load_scorer(w).predict(faces)[:, 0]
        vs, vl = video_scores(p, labels, videos)
        rows.append({"weights": str(w), "frame": accuracies(p, labels),
                     "video": accuracies(vs, vl)})
    pct = lambda x: "   -  " if x is None else f"{100 * x:5.1f}%"  # noqa: E731
    width = max([28] + [len(r["weights"]) for r in rows])
    lines = [f"The paper's table (Afchar et al. 2018, Tables 2-3) on {Path(corpus).name}, "
             f"{split} split: {len(faces)} faces of {len(set(videos))} videos; accuracy at "
             f"P(real) > 0.5 = real",
             f"{'weights':<{width}} {'class':<8} {'frame':>7} {'video':>7}"]
    for r in rows:
        for cls in ("fake", "real", "overall"):
            name = r["weights"] if cls == "fake" else ""
            lines.append(f"{name:<{width}} {cls:<8} {pct(r['frame'][cls]):>7} "
                         f"{pct(r['video'][cls]):>7}")
    return "\n".join(lines), rows


def cross_table(corpora, weights, split: str = "test", trained_on: dict | None = None) -> tuple[str, list]:
    """DeepfakeBench's form: frame AUC (and video AUC) per prepared dataset, one row per
    weights, DeepfakeBench's published rows beside. (text, rows)."""
    from mesonet import scorers
    from mesonet.training.calibration import auc

    data = []
    for c in corpora:
        faces, labels, videos = load_split(c, split)
        dataset = json.loads((Path(c) / "dataset.json").read_text()).get("dataset", Path(c).name) \
            if (Path(c) / "dataset.json").is_file() else Path(c).name
        data.append((Path(c).name, dataset, faces, labels, videos))
    rows = []
    for w in weights:
        scorer = scorers.load_scorer(w)
        row = {"weights": str(w), "datasets": {}}
        for name, dataset, faces, labels, videos in data:
            p = scorer.predict(faces)[:, 0]
            vs, vl = video_scores(p, labels, videos)
            row["datasets"][name] = {"dataset": dataset, "frame_auc": auc(p, labels),
                                     "video_auc": auc(vs, vl), "faces": int(len(p)),
                                     "videos": int(len(vs))}
        rows.append(row)
    fmt = lambda x: "  -   " if x is None else f"{x:.4f}"  # noqa: E731
    head = f"{'weights':<30}" + "".join(f" {name[:17]:>17}" for name, *_ in data)
    lines = [f"Frame AUC (video AUC) on each {split} split; P(real) ranks real above forged",
             head]
    for r in rows:
        lines.append(f"{r['weights']:<30}" + "".join(
            f" {fmt(d['frame_auc']):>8} ({fmt(d['video_auc'])})" for d in r["datasets"].values()))
    lines.append(f"{'faces / videos':<30}" + "".join(
        f" {len(faces):>8} / {len(set(videos)):<6}" for _, _, faces, _, videos in data))
    from mesonet import zoo

    lines.append("")
    lines += [f"{r['weights']}: trained on {zoo.trained_on(r['weights'])}" for r in rows]
    lines.append("")
    lines.append(f"Published for comparison: {DEEPFAKEBENCH['source']}")
    for name, values in DEEPFAKEBENCH["rows"].items():
        lines.append(f"{name:<30}" + "".join(
            f" {fmt(values.get(dataset)):>8}         " for _, dataset, *_ in data))
    return "\n".join(lines), rows
