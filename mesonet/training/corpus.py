"""The prepared corpus's manifest: forgery families, source groups, left-out sources.

`training/prepare_corpus.py` writes OUTPUT/corpus.csv, one row per crop:
crop (path under OUTPUT), label (real/fake), group (the source, as the corpus MANIFEST
names it), family, split, source, identity, near_identical (a DFDC fake whose swap is
missing in its frame) and landmarks (the 68 dlib landmarks in the crop's pixels, x y
pairs, space-separated). Training and evaluation read it to weight groups, leave sources
out, report per family, and give self-blending its face hulls.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

#: forgery families, from the corpus MANIFEST's `manipulation` column
FAMILIES = ("real", "swap", "gan", "splice", "reenactment")

#: source groups left out of training together, so that their AUC measures generalisation
#: (DeepfakeBench's cross-dataset spirit); each holds real and forged faces of one source.
#: The fixture videos (../shared/fixtures) are never in the corpus: always left out.
LEFT_OUT_SOURCES = {
    "dfdc": ("facecrops_dfdc_deepfakefaces", "dfdc_icpr"),
    "ffpp-dfd": ("ffpp_c23_icpr", "ffpp_deepfakes_honggu", "dfd_c40_actors_mudouble"),
    # one GAN generator and the real photos it was matched with (the "Hard" set)
    "stylegan2": ("stylegan2_tpdne_hardfake_tharun", "unsplash_hardfake_tharun"),
}
CROSS_SOURCE = tuple(LEFT_OUT_SOURCES)  # --exclude-groups cross-source: all of them

COLUMNS = ["crop", "label", "group", "family", "split", "source", "identity",
           "near_identical", "landmarks"]


def family_of(label: str, manipulation: str) -> str:
    """'real', or the forgery family of a MANIFEST `manipulation` text."""
    if label == "real":
        return "real"
    text = manipulation.lower()
    for family, words in (("gan", ("gan",)), ("splice", ("splice", "photoshop")),
                          ("reenactment", ("reenactment", "face2face", "neuraltextures")),
                          ("swap", ("swap", "deepfake"))):
        if any(w in text for w in words):
            return family
    return "swap"


def expand_groups(names) -> set[str]:
    """Group names from --exclude-groups: source groups, names of LEFT_OUT_SOURCES, or
    'cross-source' (all of those)."""
    out = set()
    for name in names or ():
        if name == "cross-source":
            out.update(g for s in CROSS_SOURCE for g in LEFT_OUT_SOURCES[s])
        elif name in LEFT_OUT_SOURCES:
            out.update(LEFT_OUT_SOURCES[name])
        else:
            out.add(name)
    return out


def landmarks_text(points) -> str:
    return " ".join(f"{v:.1f}" for v in np.asarray(points, np.float32).ravel())


def parse_landmarks(text: str) -> np.ndarray | None:
    """(68, 2) float32 (x, y), or None for an empty or malformed field."""
    try:
        values = np.array(text.split(), np.float32)
    except ValueError:
        return None
    if values.size != 136 or not np.isfinite(values).all():
        return None
    return values.reshape(68, 2)


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """The rows of a corpus.csv, with `landmarks` parsed (None where missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Corpus manifest {path} does not exist: run "
                                "training/prepare_corpus.py first")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = {"crop", "label", "group"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(f"Corpus manifest {path} lacks the columns {sorted(missing)}")
    for row in rows:
        row["landmarks"] = parse_landmarks(row.get("landmarks") or "")
        row["near_identical"] = row.get("near_identical") == "1"
        row.setdefault("family", "real" if row["label"] == "real" else "swap")
    return rows


def crop_key(path) -> Path:
    """A crop's path as the key manifests are looked up by: resolved, or made absolute
    when it cannot be (a symbolic-link loop is reported by the decoder, not here)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def manifest_of(folder: str | os.PathLike) -> Path | None:
    """The corpus.csv that describes a prepared folder (DATA or DATA/<split>), if any."""
    folder = Path(folder)
    for candidate in (folder / "corpus.csv", folder.parent / "corpus.csv"):
        if candidate.is_file():
            return candidate
    return None
