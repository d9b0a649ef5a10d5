"""The standard benchmarks (FaceForensics++, Celeb-DF v2, DFDC) in their own layouts, and
the paper's and DeepfakeBench's tables. The code lives in the mesonet package (`mesonet
benchmark` is the same command, with the same options).

    python training/benchmark.py --help
"""

import sys

try:
    from mesonet.commands import launch
except ModuleNotFoundError as e:  # an interpreter without the project's packages
    sys.exit(f"training/benchmark.py: {e}. Set up once with `bash setup.sh`, then run "
             f"`.venv/bin/python training/benchmark.py` (or `source .venv/bin/activate` first).")

if __name__ == "__main__":
    sys.exit(launch("benchmark", prog="training/benchmark.py"))
