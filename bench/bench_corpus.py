"""Videos per hour: one process (deepfakes_videos.py) against Ray (mesonet corpus), in one
invocation, on N copies of a fixture clip.

    python bench/bench_corpus.py                    # 24 copies, 30 frames, best of 2
    python bench/bench_corpus.py --copies 48 --repeats 3 --actors 2

Both paths run as a user runs them (fresh processes: imports, model and detector loading
included), interleaved, the best of --repeats kept for each. The Ray path starts a
cluster inside its process (--ray local) with --actors actors of one CPU each. Prints
the seconds, videos per hour, videos per hour per core, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MESONET_SHARED", ROOT.parent / "shared"))
CLIP = SHARED / "fixtures/videos/liveportrait_d0_frontal_face_3s.mp4"


def timed(cmd) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--copies", type=int, default=24)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--actors", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        for i in range(args.copies):
            shutil.copyfile(args.clip, corpus / f"clip{i:04d}{args.clip.suffix}")
        py = sys.executable
        one = [py, "deepfakes_videos.py", corpus, "--frames", str(args.frames), "--no-progress",
               "--output", None]
        ray = [py, "-m", "mesonet", "corpus", corpus, "--frames", str(args.frames), "--no-progress",
               "--ray", "local", "--actors", str(args.actors), "--output", None]
        best = {"one process": float("inf"), "ray": float("inf")}
        for r in range(args.repeats):
            for name, cmd in (("one process", one), ("ray", ray)):
                out = work / f"{name.replace(' ', '_')}{r}"
                cmd = cmd[:-1] + [out / "v.csv" if name == "one process" else out]
                seconds = timed(cmd)
                best[name] = min(best[name], seconds)
                print(f"  run {r + 1} {name}: {seconds:.1f} s", file=sys.stderr)
        cores = os.cpu_count() or 1
        print(f"{args.copies} copies of {args.clip.name}, {args.frames} frames each, "
              f"{cores} cores, best of {args.repeats}")
        for name, seconds in best.items():
            per_hour = args.copies / seconds * 3600
            print(f"{name:<12} {seconds:7.1f} s  {per_hour:7.0f} videos/h  "
                  f"{per_hour / cores:6.0f} videos/h/core")
        print(f"ratio ray / one process: {best['one process'] / best['ray']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
