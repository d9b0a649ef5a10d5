"""Extract aligned 256x256 face crops from videos and photos. Kept under the original's name; the code lives in the
mesonet package (`mesonet extract` is the same command, with the same options).

    python extract_faces.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"extract_faces.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python extract_faces.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("extract", prog="extract_faces.py"))
