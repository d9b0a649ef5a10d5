"""What each optional part of MesoNet needs, and the message when it is missing.

Every extra of pyproject.toml, by the modules it brings; `require` is called where an
option needs one (--explain, --timeline, --runtime keras), so that a user reads which
extra to install, with the pip command, instead of a traceback. Imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
import sys

#: extra -> {import name: pip name}; None is the base install
EXTRAS = {
    None: {"numpy": "numpy", "h5py": "h5py", "cv2": "opencv-python-headless",
           "imageio": "imageio", "imageio_ffmpeg": "imageio-ffmpeg", "PIL": "Pillow",
           "onnx": "onnx", "onnxruntime": "onnxruntime"},
    "plots": {"matplotlib": "matplotlib"},
    "fast": {"av": "av"},
    "web": {"fastapi": "fastapi", "uvicorn": "uvicorn", "multipart": "python-multipart"},
    "ray": {"ray": "ray[data]"},
    "train": {"keras": "keras", "tensorflow": "tensorflow-cpu", "sklearn": "scikit-learn",
              "albumentations": "albumentations", "matplotlib": "matplotlib"},
}

SETUP_HINT = ("In a checkout, `bash setup.sh` installs everything; then run commands with "
              "`.venv/bin/mesonet ...` or `.venv/bin/python SCRIPT.py ...` (or "
              "`source .venv/bin/activate` first)")


def missing(extra: str | None) -> list[str]:
    """The pip names of what `extra` needs and this interpreter lacks."""
    return [pip for module, pip in EXTRAS[extra].items()
            if importlib.util.find_spec(module) is None]


def problem(what: str, extra: str | None) -> str | None:
    """Why `what` (a command or an option) cannot run here, with what to install; None if
    it can."""
    for needed in (None, extra) if extra else (None,):
        lacking = missing(needed)
        if lacking:
            kind = "MesoNet's packages" if needed is None else f"the '{needed}' extra"
            spec = "mesonet" if needed is None else f"'mesonet[{needed}]'"
            local = "." if needed is None else f"'.[{needed}]'"
            return (f"{what} needs {kind} ({', '.join(lacking)}), which {sys.executable} "
                    f"lacks. Install it with `pip install {spec}` (from a checkout: "
                    f"`pip install -e {local}`). {SETUP_HINT}.")
    return None


def require(what: str, extra: str) -> None:
    """Raise ValueError (a user's error: exit 2 in the scripts) when `extra` is missing."""
    text = problem(what, extra)
    if text:
        raise ValueError(text)
