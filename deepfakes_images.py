"""Score face images and photos with MesoNet: P(real), 0 = deepfake/Face2Face, 1 = real. Kept under the original's name; the code lives in the
mesonet package (`mesonet images` is the same command, with the same options).

    python deepfakes_images.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"deepfakes_images.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python deepfakes_images.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("images", prog="deepfakes_images.py"))
