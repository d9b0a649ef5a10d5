"""Writing what the project makes: whole files or nothing, result tables as CSV or JSON.

Every file the project writes (results, crops, weights, graphs, pictures) goes through
`atomic_path`: it is written beside its destination under a temporary name and renamed
into place, so an interruption never leaves half a file where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside `path`; rename it to `path` when the block ends
    without an error, else delete it. `suffix` (default: path's own) keeps writers that
    choose a format by suffix (PIL, matplotlib, Keras) happy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp" + (path.suffix if suffix is None else suffix))
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file is as any other
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a whole text file (UTF-8) or nothing."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


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
    probe = path.parent if str(path.parent) else Path(".")
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise PermissionError(f"Output file {path}: folder {probe} is not writable")
    if path.is_dir():
        raise IsADirectoryError(f"Output file {path} is a folder")
