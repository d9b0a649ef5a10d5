"""Shared plumbing of the command-line scripts: logging, labels, result files.

Every output of the project says what its score means and which weights made it;
the wording lives here so that all outputs say it the same way.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from pathlib import Path

# TensorFlow's C++ start-up chatter is not for users; it must be set before TensorFlow loads,
# and every script imports this module first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

P_REAL_MEANING = "P(real): 0 = deepfake/Face2Face, 1 = real"

#: folder names that label the faces inside them (nearest folder wins)
LABEL_FOLDERS = {"df": "fake", "fake": "fake", "deepfake": "fake", "deepfakes": "fake",
                 "f2f": "fake", "forged": "fake", "real": "real"}


DETECTOR_HELP = ("face detector: hog (default, fast), cnn (dlib's CNN; CUDA when dlib has it), "
                 "or original (the original pipeline's search step for step: its exact "
                 "boxes, slowly)")


def add_detector_argument(parser) -> None:
    """--detector, the same in every script."""
    from pipeline import DETECTORS

    parser.add_argument("--detector", choices=DETECTORS, default="hog",
                        help=DETECTOR_HELP)


def setup_logging(verbose: bool = False) -> None:
    """Configure logging once, in a script's main(): messages go to stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")


def label_from_path(path: str | os.PathLike) -> str | None:
    """'fake' or 'real' when the file sits in a folder named so (df/, fake/, real/ ...)."""
    for part in reversed(Path(path).parent.parts):
        label = LABEL_FOLDERS.get(part.lower())
        if label:
            return label
    return None


def prediction_of(p_real: float, threshold: float) -> str:
    """'real' when P(real) is above the threshold, else 'fake' (the released code's > 0.5)."""
    return "real" if p_real > threshold else "fake"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a whole file or nothing: a temporary file beside it, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def csv_text(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buf.getvalue()


def write_results(path: str | os.PathLike, rows: list[dict], columns: list[str],
                  meta: dict) -> None:
    """Write rows to .csv (columns in order) or .json (rows under 'results', with meta)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        atomic_write_text(path, csv_text(rows, columns))
    elif suffix == ".json":
        atomic_write_text(path, json.dumps({**meta, "results": rows}, indent=1) + "\n")
    else:
        raise ValueError(f"Output file {path} must end in .csv or .json")


def check_output_path(path: str | os.PathLike | None) -> None:
    """Fail before any long work when an output file cannot be written."""
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"Output file {path} must end in .csv or .json")
    folder = path.parent if str(path.parent) else Path(".")
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise PermissionError(f"Output file {path}: folder {probe} is not writable")
    if path.is_dir():
        raise IsADirectoryError(f"Output file {path} is a folder")
