"""Where MesoNet weights come from: names, files, downloads, and what each was trained on.

Names: the authors' four files ('meso4-df', 'meso4-f2f', 'mesoinception4-df',
'mesoinception4-f2f'; downloaded once from the original repository and checked against
pinned SHA-256) and the project's own weights in weights/ ('meso4-corpus', ...). Any
other argument is a path to a weights file.

This module imports neither Keras nor TensorFlow, so that a script can find its weights
(and, with a cached ONNX graph, score faces: `load_classifier`) without loading them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

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

PROJECT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: what the scripts use when no --weights is given: the project's own Meso4, which beats
#: the authors' weights on the project's validation split (weights/meso4-corpus.md);
#: the originals stay one flag away (--weights meso4-df)
DEFAULT_WEIGHTS = "meso4-corpus"


def _cache_dir() -> Path:
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


def available_weights() -> list[str]:
    """Every weights name `resolve_weights` understands."""
    return sorted(project_weights()) + list(ORIGINAL_WEIGHTS)


def trained_on(name: str) -> str:
    """What a weights name was trained on, in words, for every output to say."""
    if name in ORIGINAL_WEIGHTS:
        return ORIGINAL_WEIGHTS[name][3]
    if name in project_weights():
        return (f"this project's mixed corpus of face swaps, GAN faces and splices "
                f"(model card: weights/{name}.md)")
    return "unknown (a weights file given by path)"


def _download(url: str, dest: Path, sha256: str) -> Path:
    """Fetch url to dest atomically, refusing a file whose SHA-256 differs."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading %s to %s", url, dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        got = sha256_of(tmp)
        if got != sha256:
            raise ValueError(f"Downloaded weights {url} are corrupt: SHA-256 {got}, "
                             f"expected {sha256}; nothing was kept")
        os.replace(tmp, dest)
    except OSError as e:
        raise OSError(f"Could not download weights from {url}: {e}. Put {dest.name} in "
                      f"weights/ or in the folder named by MESONET_WEIGHTS_DIR") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """Return a local file for a weights name ('meso4-df', a project name) or a path.

    An original name is looked up in $MESONET_WEIGHTS_DIR, then weights/, then the user
    cache, and finally downloaded from the original repository (override the address with
    $MESONET_WEIGHTS_URL); every original file is checked against its pinned SHA-256.
    """
    key = str(name_or_path)
    if key in ORIGINAL_WEIGHTS:
        _, filename, sha256, _ = ORIGINAL_WEIGHTS[key]
        folders = [os.environ.get("MESONET_WEIGHTS_DIR"), PROJECT_WEIGHTS_DIR, _cache_dir()]
        for folder in filter(None, folders):
            candidate = Path(folder) / filename
            if candidate.is_file():
                got = sha256_of(candidate)
                if got != sha256:
                    raise ValueError(f"Weights file {candidate} does not match {key}: "
                                     f"SHA-256 {got}, expected {sha256}")
                return candidate
        base = os.environ.get("MESONET_WEIGHTS_URL", ORIGINAL_URL)
        return _download(base.rstrip("/") + "/" + filename, _cache_dir() / filename, sha256)
    shipped = project_weights()
    if key in shipped:
        return shipped[key]
    path = Path(key).expanduser()
    if path.is_file():
        return path
    if path.suffix or os.sep in key:
        raise FileNotFoundError(f"Weights file {key} does not exist")
    raise ValueError(f"Unknown weights {key!r}: give a file path or one of "
                     f"{', '.join(available_weights())}")


def architecture_of_weights(name_or_path: str | os.PathLike) -> str | None:
    """The architecture a weights name or file was made for, when it says so."""
    key = str(name_or_path)
    if key in ORIGINAL_WEIGHTS:
        return ORIGINAL_WEIGHTS[key][0]
    import h5py

    try:
        with h5py.File(resolve_weights(key), "r") as f:
            arch = f.attrs.get("mesonet_architecture")
    except OSError:
        return None
    return arch.decode() if isinstance(arch, bytes) else arch


# --------------------------------------------------------------------------------------
# Loading a classifier for scoring, without Keras when the ONNX graphs are cached


def _cpu_only() -> bool:
    """Whether 'auto' would pick ONNX Runtime, decided without importing TensorFlow:
    Keras on TensorFlow (the default backend) and no NVIDIA GPU on the machine."""
    import json

    backend = os.environ.get("KERAS_BACKEND")
    if backend is None:
        config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
        try:
            backend = json.loads(config.read_text()).get("backend")
        except (OSError, ValueError):
            backend = None
    return (backend or "tensorflow") == "tensorflow" and not any(Path("/dev").glob("nvidia[0-9]*"))


def load_classifier(model: str | None = None, weights: str | os.PathLike | None = None,
                    runtime: str = "auto"):
    """classifiers.load_classifier for scoring, fast to start.

    With runtime 'onnx' (or 'auto' on a CPU) and onnxruntime installed, the weights'
    ONNX graphs are exported once into the user cache; later calls score through them
    (`export.OnnxClassifier`) without importing Keras or TensorFlow, which saves seconds
    at every start. Otherwise, and on the first call, this is classifiers.load_classifier.
    """
    import importlib.util

    onnx_wanted = runtime == "onnx" or (runtime == "auto" and _cpu_only())
    paths = None
    if weights is not None and onnx_wanted and importlib.util.find_spec("onnxruntime"):
        arch = architecture_of_weights(weights) or model
        if arch and (model is None or model == arch):
            from export import OnnxClassifier, graph_cache_paths

            paths = graph_cache_paths(resolve_weights(weights), arch)
            if all(p.is_file() for p in paths.values()):
                logger.debug("Scoring with the cached ONNX graphs %s", paths["uint8"])
                return OnnxClassifier(arch, str(weights), paths)
    import classifiers

    clf = classifiers.load_classifier(model, weights, runtime)
    if paths is not None and clf.runtime == "onnx":
        from export import write_graph_cache

        write_graph_cache(clf.model, paths)
    return clf
