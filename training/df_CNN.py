"""Train MesoNet with the paper's recipe (the original's training script). Kept under the original's name; the code lives in the
mesonet package (`mesonet train` is the same command, with the same options).

    python training/df_CNN.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"training/df_CNN.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python training/df_CNN.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("train", prog="training/df_CNN.py"))
