"""Evaluate MesoNet weights: AUC, what users are told, calibration. Kept under the original's name; the code lives in the
mesonet package (`mesonet evaluate` is the same command, with the same options).

    python training/evaluate.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"training/evaluate.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python training/evaluate.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("evaluate", prog="training/evaluate.py"))
