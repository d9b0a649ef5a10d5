"""Where MesoNet weights come from: names, files, downloads, and what each was trained on.

Names: the authors' four files ('meso4-df', 'meso4-f2f', 'mesoinception4-df',
'mesoinception4-f2f'; downloaded once from the original repository and checked against
pinned SHA-256) and the project's own weights in weights/ ('meso4-corpus', ...). Any
other argument is a path to a weights file.

This module is a registry: `resolve(name_or_path)` gives a WeightsRecord (file,
architecture, what it was trained on, hash) and it imports no model, neither Keras nor
TensorFlow, so that a script can find its weights without loading them.

    mesonet weights          # list the names: which are here, which would download
    mesonet weights fetch    # fetch and verify the authors' four files ahead of time
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mesonet.contract import DEFAULT_THRESHOLD
from mesonet.outputs import atomic_path

logger = logging.getLogger(__name__)


ORIGINAL_URL = "https://raw.githubusercontent.com/DariusAf/MesoNet/master/weights/"

# The authors' weights (Apache-2.0), by name: (architecture, file name, SHA-256, trained on)
ORIGINAL_WEIGHTS = {
    "meso4-df": ("meso4", "Meso4_DF.h5",
                 "036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5",
                 "the authors' Deepfake face-swap set"),
    "meso4-f2f": ("meso4", "Meso4_F2F.h5",
                  "bcfda015d217b9f8d6557693edbdf9f4e79cfd22672541968dd0e2954462b5d7",
                  "FaceForensics Face2Face re-enactment"),
    "mesoinception4-df": ("mesoinception4", "MesoInception_DF.h5",
                          "234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa",
                          "the authors' Deepfake face-swap set"),
    "mesoinception4-f2f": ("mesoinception4", "MesoInception_F2F.h5",
                           "d4533ac8a3197dc35c47405d23d99e888c1d0135e267e03540c7451feaccff3f",
                           "FaceForensics Face2Face re-enactment"),
}


def _shipped_weights_dir() -> Path:
    """weights/ of a checkout (the package's parent folder), or the copy a wheel carries
    inside the package (pyproject.toml maps weights/ to mesonet/weights)."""
    here = Path(__file__).resolve().parent
    inside = here / "weights"
    return inside if inside.is_dir() else here.parent / "weights"


PROJECT_WEIGHTS_DIR = _shipped_weights_dir()
#: the `architecture` of a combination's record (scoring.Combination), and its file's ending
COMBINATION = "combination"
COMBINATION_SUFFIX = ".combination.json"

#: what the scripts use when no --weights is given: the project's two Meso4 specialists
#: scored as one (the lower P(real) of meso4-dfdc and meso4-gan), best on the validation
#: split's forgery families on average and better than meso4-corpus on each
#: (weights/meso4-dfdc-or-gan.md); the originals stay one flag away (--weights meso4-df)
DEFAULT_WEIGHTS = "meso4-dfdc-or-gan"


def cache_dir() -> Path:
    env = os.environ.get("MESONET_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mesonet"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def project_weights() -> dict[str, Path]:
    """Weights the project trained itself and ships in weights/: name -> file."""
    return {p.name[: -len(".weights.h5")]: p
            for p in sorted(PROJECT_WEIGHTS_DIR.glob("*.weights.h5"))}


def project_combinations() -> dict[str, Path]:
    """Combinations the project ships in weights/ (NAME.combination.json: members, rule,
    trained_on): name -> file."""
    return {p.name[: -len(COMBINATION_SUFFIX)]: p
            for p in sorted(PROJECT_WEIGHTS_DIR.glob("*" + COMBINATION_SUFFIX))}


def _combination_file(name) -> Path | None:
    key = str(name)
    if key in project_combinations():
        return project_combinations()[key]
    if key.endswith(COMBINATION_SUFFIX) and Path(key).expanduser().is_file():
        return Path(key).expanduser()
    return None


def combination(name) -> dict:
    """A combination's definition, by name (weights/NAME.combination.json) or by the path of
    such a file: {'members': [weights names or files], 'rule': 'min', 'trained_on': words}."""
    import json

    path = _combination_file(name)
    if path is None:
        raise ValueError(f"Unknown combination {str(name)!r}: give a {COMBINATION_SUFFIX} file "
                         f"or one of {', '.join(project_combinations()) or 'none shipped'}")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        members, rule = [str(m) for m in spec["members"]], str(spec.get("rule", "min"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"Combination file {path} is not valid: {e}") from None
    # a member is a weights name, or a weights file (a relative path: from the file's folder)
    members = [m if m in ORIGINAL_WEIGHTS or m in project_weights()
               else str((path.parent / Path(m).expanduser())) for m in members]
    unknown = [m for m in members if m not in ORIGINAL_WEIGHTS and m not in project_weights()
               and not Path(m).is_file()]
    if unknown or len(members) < 2:
        raise ValueError(f"Combination file {path}: 'members' must be two or more weights "
                         f"names ({', '.join(available_weights())}) or files; unknown: "
                         f"{', '.join(unknown) or 'none'}")
    return {"members": members, "rule": rule, "trained_on": str(spec.get("trained_on", ""))}


def available_weights() -> list[str]:
    """Every weights name `resolve` understands."""
    return sorted(project_weights()) + sorted(project_combinations()) + list(ORIGINAL_WEIGHTS)


@dataclass(frozen=True)
class WeightsRecord:
    """What a weights name or path stands for, resolved once.

    name: as given ('meso4-df', 'meso4-corpus', or a path); path: the local file;
    architecture: 'meso4', 'mesoinception4', 'meso1', a baseline's name, or None when the
    file does not say; trained_on: in words, for every output to cite; sha256: the file's
    (pinned for the authors' files); origin: 'original', 'project' or 'file'.
    """
    name: str
    path: Path
    architecture: str | None
    trained_on: str
    sha256: str
    origin: str

    def __str__(self) -> str:
        return self.name


RECORD_SUFFIX = ".record.json"


def record_of(name) -> dict | None:
    """The machine-readable record beside a shipped (or the authors') weights name:
    weights/NAME.record.json with what it was trained on (in words and as source groups),
    its file's SHA-256 and its operating points. None for a weights file given by path."""
    import json

    path = PROJECT_WEIGHTS_DIR / f"{name}{RECORD_SUFFIX}"
    if str(name) not in available_weights() or not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"Weights record {path} is not valid JSON: {e}") from None


INT8_SUFFIX = ".int8.onnx"


def int8_graph(record: WeightsRecord) -> Path:
    """The int8 ONNX graph of a weights (mesonet.quantize): shipped beside the weights
    (weights/NAME.int8.onnx, listed in its record) or made by `mesonet export --precision
    int8` into the user cache; either is tied to the weights file by its SHA-256. A clear
    error when there is none, never the float32 graph in its place."""
    entry = (record_of(record.name) or {}).get("int8")
    if entry and entry.get("weights_sha256") == record.sha256:
        return PROJECT_WEIGHTS_DIR / entry["graph"]
    cached = int8_cache_path(record)
    if cached.is_file():
        return cached
    raise ValueError(f"No int8 graph for weights {record.name}: make one with `mesonet export "
                     f"--weights {record.name} --precision int8 --calibration CORPUS` (CORPUS: "
                     f"a prepared corpus, `mesonet prepare`), or score in float32")


def int8_cache_path(record: WeightsRecord) -> Path:
    return cache_dir() / "onnx" / f"{record.architecture}-{record.sha256[:24]}{INT8_SUFFIX}"


def trained_on(name) -> str:
    """What a weights name was trained on, in words (no weights file is opened or fetched)."""
    name = str(name)
    record = record_of(name)
    if record is not None:
        card = f" (model card: weights/{record['card']})" if record.get("card") else ""
        return record["trained_on"] + card
    if _combination_file(name) is not None:
        spec = combination(name)
        return (f"the lower P(real) of {' and '.join(spec['members'])}"
                f"{': ' + spec['trained_on'] if spec['trained_on'] else ''}")
    return "unknown (a weights file given by path)"


def operating_point(name, level: str = "frame", quiet: bool = False):
    """The weights' operating point for faces ('frame') or videos ('video'), fitted on
    sources they never saw (contract.OperatingPoint, from weights/NAME.record.json); for
    weights without one, the plain 0.5 threshold, with a warning naming them."""
    from mesonet.contract import OperatingPoint

    record = record_of(name)
    point = (record or {}).get("operating_points", {}).get(level)
    if point:
        return OperatingPoint.from_dict({**point, "level": level})
    if not quiet:
        logger.warning("Weights %s have no calibrated operating point for %ss: the plain %s "
                       "threshold is used, and no verdict says how often it is wrong", name,
                       level, DEFAULT_THRESHOLD)
    return OperatingPoint.plain(level=level)


def point_for(name, level: str = "frame", threshold: float | None = None,
              band: float | None = None, aggregate: str = "mean", quiet: bool = False):
    """The point a request's verdicts are given at: the fixed rule of a threshold / band
    when either is given, else the weights' own for faces ('frame') or videos ('video'). A
    video judged by vote gets the plain rule: the weights' video point is fitted on the
    mean P(real)."""
    from mesonet.contract import OperatingPoint

    if threshold is not None or band is not None:
        return OperatingPoint.plain(DEFAULT_THRESHOLD if threshold is None else threshold,
                                    band or 0.0, level)
    if level == "video" and aggregate == "vote":
        if not quiet:
            logger.info("vote: videos are called by the plain %s rule (the weights' video "
                        "point is fitted on their mean P(real))", DEFAULT_THRESHOLD)
        return OperatingPoint.plain(level="video")
    return operating_point(name, level, quiet)


def _download(url: str, dest: Path, sha256: str) -> Path:
    """Fetch url to dest atomically, refusing a file whose SHA-256 differs."""
    logger.info("Downloading %s to %s", url, dest)
    try:
        with atomic_path(dest, suffix=".part") as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
            got = sha256_of(tmp)
            if got != sha256:
                raise ValueError(f"Downloaded weights {url} are corrupt: SHA-256 {got}, "
                                 f"expected {sha256}; nothing was kept")
    except OSError as e:
        raise OSError(f"Could not download weights from {url} (offline?): {e}. Fetch them "
                      f"where the network is reachable (`mesonet weights fetch`), or put "
                      f"{dest.name} into weights/, {cache_dir()} or the folder named by "
                      f"MESONET_WEIGHTS_DIR") from e
    return dest


def _original_candidates(key: str) -> list[Path]:
    filename = ORIGINAL_WEIGHTS[key][1]
    folders = [os.environ.get("MESONET_WEIGHTS_DIR"), PROJECT_WEIGHTS_DIR, cache_dir()]
    return [Path(folder) / filename for folder in folders if folder]


def where(name) -> tuple[bool, str]:
    """(here, in words): whether a weights name's file is on this machine now, and where
    it is, or where it would be downloaded from on first use (nothing is fetched)."""
    name = str(name)
    if name in ORIGINAL_WEIGHTS:
        for candidate in _original_candidates(name):
            if candidate.is_file():
                return True, str(candidate)
        url = os.environ.get("MESONET_WEIGHTS_URL", ORIGINAL_URL).rstrip("/") + "/" + \
            ORIGINAL_WEIGHTS[name][1]
        return False, (f"not here (no {ORIGINAL_WEIGHTS[name][1]} in MESONET_WEIGHTS_DIR, "
                       f"weights/ or {cache_dir()}): downloads on first use from {url}")
    if name in project_weights():
        return True, str(project_weights()[name])
    if _combination_file(name) is not None:
        missing = [m for m in combination(name)["members"] if not where(m)[0]]
        path = _combination_file(name)
        return (not missing, f"{path}; members not here yet: {', '.join(missing)}" if missing
                else str(path))
    return Path(name).is_file(), name


def origin(name) -> str:
    """Where a weights name comes from, in words a stranger may read: never a local path."""
    name = str(name)
    if name in ORIGINAL_WEIGHTS:
        return (f"the authors' {ORIGINAL_WEIGHTS[name][1]} (Apache-2.0), fetched once from "
                f"{ORIGINAL_URL} and checked against its SHA-256")
    if name in project_weights():
        return "shipped with MesoNet"
    if _combination_file(name) is not None:
        return f"shipped with MesoNet: a combination of {', '.join(combination(name)['members'])}"
    return "a weights file of this installation"


def _original_file(key: str) -> Path:
    """An original file from $MESONET_WEIGHTS_DIR, weights/, the cache, or downloaded
    (override the address with $MESONET_WEIGHTS_URL), checked against its pinned SHA-256."""
    _, filename, sha256, _ = ORIGINAL_WEIGHTS[key]
    for candidate in _original_candidates(key):
        if candidate.is_file():
            got = sha256_of(candidate)
            if got != sha256:
                raise ValueError(f"Weights file {candidate} does not match {key}: "
                                 f"SHA-256 {got}, expected {sha256}")
            return candidate
    base = os.environ.get("MESONET_WEIGHTS_URL", ORIGINAL_URL)
    return _download(base.rstrip("/") + "/" + filename, cache_dir() / filename, sha256)


def _architecture_in(path: Path) -> str | None:
    """The architecture a weights file of ours is tagged with (Keras 2 files say none)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            arch = f.attrs.get("mesonet_architecture")
    except OSError as e:
        raise ValueError(f"Weights file {path} is not a readable HDF5 weights file: {e}") \
            from None
    return arch.decode() if isinstance(arch, bytes) else arch


def resolve(name_or_path) -> WeightsRecord:
    """The record of a weights name ('meso4-df', a project name) or path; an original
    file is found locally or downloaded once. A record passes through unchanged."""
    if isinstance(name_or_path, WeightsRecord):
        return name_or_path
    key = str(name_or_path)
    if key in ORIGINAL_WEIGHTS:
        arch, _, sha256, _ = ORIGINAL_WEIGHTS[key]
        return WeightsRecord(key, _original_file(key), arch, trained_on(key), sha256, "original")
    path = _combination_file(key)
    if path is not None:
        combination(key)  # a bad file fails here, naming itself
        return WeightsRecord(key, path, COMBINATION, trained_on(key), sha256_of(path),
                             "project" if key in project_combinations() else "file")
    shipped = project_weights()
    if key in shipped:
        path, origin = shipped[key], "project"
    else:
        path, origin = Path(key).expanduser(), "file"
        if not path.is_file():
            if path.suffix or os.sep in key:
                raise FileNotFoundError(f"Weights file {key} does not exist")
            raise ValueError(f"Unknown weights {key!r}: give a file path or one of "
                             f"{', '.join(available_weights())}")
    return WeightsRecord(key, path, _architecture_in(path), trained_on(key), sha256_of(path),
                         origin)


def check_architecture(record: WeightsRecord, model: str | None) -> None:
    """Raise ValueError when a caller expects architecture `model` and the weights are for
    another (the one place this is checked); None or an untagged file passes."""
    if model and record.architecture not in (None, COMBINATION, model):
        raise ValueError(f"Weights {record.name!r} are for {record.architecture}, not {model}")


def fetch(names=None) -> list[Path]:
    """Fetch (when not here) and verify the authors' weights files; their paths."""
    return [_original_file(name) for name in (names or list(ORIGINAL_WEIGHTS))]
