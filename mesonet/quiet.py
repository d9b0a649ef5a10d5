"""TensorFlow's start-up chatter, filtered out of stderr.

TensorFlow 2.21 writes INFO lines through absl before its logging is set up
("I0000 ... oneDNN custom operations are on", "This TensorFlow binary is optimized ..."),
which TF_CPP_MIN_LOG_LEVEL no longer silences. `filtered_stderr()` catches what the C++
side writes to file descriptor 2 while Keras and TensorFlow load, drops those known INFO
lines and writes everything else back, so a real warning or error is still seen.
Nothing stays changed: the descriptor is restored when the block ends.
TF_CPP_MIN_LOG_LEVEL is read once, when TensorFlow first logs (while it loads): set to 2
(warnings and errors only) for the block unless the user chose a level, and put back
after, so later INFO lines (XLA's at the first prediction) are quiet too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

_CHATTER = re.compile(r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog|"
                      r"To enable the following instructions:|This TensorFlow binary is "
                      r"optimized)")


@contextlib.contextmanager
def filtered_stderr():
    """Within the block, stderr's known INFO chatter is dropped (see the module's text)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (notebooks, pytest capture)
        fd = None
    if fd is None:
        yield
        return
    sys.stderr.flush()
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            if level is None:
                os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
            os.dup2(saved, fd)
            os.close(saved)
            caught.seek(0)
            kept = [ln for ln in caught.read().decode("utf-8", "replace").splitlines(True)
                    if not _CHATTER.match(ln)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
