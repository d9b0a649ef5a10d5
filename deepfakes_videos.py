"""Score videos (and images) with MesoNet end to end: one verdict per video. Kept under the original's name; the code lives in the
mesonet package (`mesonet videos` is the same command, with the same options).

    python deepfakes_videos.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"deepfakes_videos.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python deepfakes_videos.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("videos", prog="deepfakes_videos.py"))
