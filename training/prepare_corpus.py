"""Prepare a corpus of aligned face crops for training. Kept under the original's name; the code lives in the
mesonet package (`mesonet prepare` is the same command, with the same options).

    python training/prepare_corpus.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"training/prepare_corpus.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python training/prepare_corpus.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("prepare", prog="training/prepare_corpus.py"))
