"""Writing what the project makes: whole files or nothing, result tables as CSV or JSON.

Every file the project writes (results, crops, weights, graphs, pictures) goes through
`atomic_path`: it is written beside its destination under a temporary name and renamed
into place, so an interruption never leaves half a file where a finished one is expected.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path


# --------------------------------------------------------------------------------------
# File names: any name a file system holds round-trips through our outputs


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(path) -> str:
    """A file name as text that any output (and a terminal) can hold: bytes that are not
    valid UTF-8 (which Python carries as lone surrogates) are written as \\xNN escapes,
    control characters (newlines, tabs) as \\n, \\t, \\xNN."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are not undecodable bytes
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def path_bytes(path) -> str | None:
    """The name's bytes in hex when `printable` had to escape it, else None: with it, the
    exact name can be rebuilt from any output."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return None if printable(text) == text else os.fsencode(text).hex()


def name_fields(path, key: str) -> dict:
    """{key: printable name, 'path_bytes': hex or None}: how every output names a file."""
    return {key: printable(path), "path_bytes": path_bytes(path)}


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(path, max_len: int = 80, always_hash: bool = False) -> str:
    """A file-name stem for what we write about `path`: its own stem when that is plain and
    short, else a cleaned, shortened stem and a hash of the full path (so that odd, long or
    undecodable names, and names that start with a dash, still give distinct, valid files)."""
    stem = Path(printable(path)).stem
    if not always_hash and _UNSAFE.search(stem) is None and len(stem) <= max_len \
            and not stem.startswith(("-", ".")):
        return stem
    digest = hashlib.sha1(os.fsencode(os.path.abspath(path))).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', stem).lstrip('-.')[:max_len]}_{digest}"


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


def remove_stale(path: str | os.PathLike, recursive: bool = False) -> int:
    """Delete what a killed writer left: the temporary files `atomic_path` makes beside
    `path` (a file), or anywhere under it (a folder, with recursive). How many went."""
    path = Path(path)
    if recursive:
        stale = list(path.rglob(".*.tmp*")) if path.is_dir() else []
    else:
        stale = list(path.parent.glob(f".{path.name}.*.tmp*")) if path.parent.is_dir() else []
    for p in stale:
        if p.is_file():
            p.unlink()
    return len(stale)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a whole text file (UTF-8) or nothing."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def csv_text(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _text(row.get(k))) for k in columns})
    return buf.getvalue()


def _text(value):
    return printable(value) if isinstance(value, str) else value


def write_results(path: str | os.PathLike, rows: list[dict], columns: list[str],
                  meta: dict) -> None:
    """Write rows to .csv (columns in order) or .json (rows under 'results', with meta)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        atomic_write_text(path, csv_text(rows, columns))
    elif suffix == ".json":
        # every column in every row (null where empty), as in the CSV
        rows = [{k: _text(v) for k, v in {**dict.fromkeys(columns), **row}.items()}
                for row in rows]
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
