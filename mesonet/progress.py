"""Progress as pip and tqdm-based tools show it: a bar when stderr is a terminal, and
otherwise (a log file, a CI job) one line every PERIOD seconds, so that a redirected log
holds a few readable lines, not thousands of carriage returns.

    for item in progress(items, unit="file", desc="scoring"):
        ...
    with progress(total=n, unit="img") as bar:
        bar.update(k)

`enabled=False` (the scripts' --no-progress) shows nothing.
"""

from __future__ import annotations

import logging
import sys
import time

logger = logging.getLogger("progress")

PERIOD = 30.0  # seconds between progress lines in a log


class _Lines:
    """tqdm's small interface (iterate, update, close, context manager), printing a line
    to the log every PERIOD seconds and one at the end."""

    def __init__(self, iterable=None, total=None, unit="it", desc=None):
        self.iterable, self.unit, self.desc = iterable, unit, desc or "progress"
        self.total = total if total is not None else (
            len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self.start = 0, time.monotonic()
        self.last = self.start

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        left = (f", about {(self.total - self.n) / rate / 60:.1f} min left"
                if self.total and rate > 0 and self.n < self.total else "")
        return f"{self.desc}: {done}{share}, {rate:.2f} {self.unit}/s{left}"

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now - self.last >= PERIOD:
            self.last = now
            logger.info("%s", self._line())

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def close(self) -> None:
        if self.n and time.monotonic() - self.start >= PERIOD:
            logger.info("%s (done)", self._line())
        self.n = 0  # a second close says nothing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Nothing(_Lines):
    def update(self, k: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress(iterable=None, total=None, unit: str = "it", desc: str | None = None,
             enabled: bool = True):
    """A progress wrapper for `iterable` (or a bar of `total` steps to update)."""
    if not enabled:
        return _Nothing(iterable, total, unit, desc) if iterable is None else iterable
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, unit=unit, desc=desc, file=sys.stderr)
    return _Lines(iterable, total, unit, desc)
