"""Install size and cold start: the base install (`pip install .`, ONNX Runtime, no
TensorFlow) against the full one (`bash setup.sh`: the train and web extras), in one
invocation.

    python bench/bench_install.py [--full .venv] [--repeat 3]

Makes a fresh venv with `pip install .` (and face_recognition with --no-deps, as the README
says) in a temporary folder, measures both venvs' sizes
on disk, then times `mesonet images test_images/` (the README's first command on the
samples, cold: a new process each time) in each, interleaved, best of --repeat. Prints
both and the ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and not p.is_symlink()) / 1e6


def cold_start(mesonet: Path, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(mesonet), "images", str(ROOT / "test_images"), "--no-progress"],
                   cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", default=str(ROOT / ".venv"), help="the full venv (setup.sh's)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    full = Path(args.full)
    with tempfile.TemporaryDirectory(prefix="mesonet-base-") as tmp:
        import shutil

        shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' leftovers
        base = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(base)], check=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run([str(base / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)],
                       check=True, env=env)
        subprocess.run([str(base / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                        "face_recognition==1.3.0"], check=True, env=env)  # as the README says
        sizes = {"base (pip install .)": size_mb(base), "full (bash setup.sh)": size_mb(full)}
        times = {"base": [], "full": []}
        for _ in range(args.repeat):  # interleaved: the machine's load hits both alike
            times["base"].append(cold_start(base / "bin" / "mesonet", Path(tmp)))
            times["full"].append(cold_start(full / "bin" / "mesonet", Path(tmp)))
        print(f"venv size: base {sizes['base (pip install .)']:.0f} MB, full "
              f"{sizes['full (bash setup.sh)']:.0f} MB, ratio "
              f"{sizes['base (pip install .)'] / sizes['full (bash setup.sh)']:.2f}")
        best = {k: min(v) for k, v in times.items()}
        print(f"cold start of `mesonet images test_images/` (best of {args.repeat}): base "
              f"{best['base']:.2f} s, full {best['full']:.2f} s, ratio "
              f"{best['full'] / best['base']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
