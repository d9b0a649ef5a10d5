"""Videos per hour for a folder, by number of worker processes, in one invocation.

    python bench/bench_folder.py                        # --jobs 1 and 2, the shared fixtures
    python bench/bench_folder.py --jobs 1 2 4 8 16 --repeat 2

A folder of 16 videos is made from the shared fixture videos (links, under names of their
own); `deepfakes_videos.py FOLDER --jobs N` is run as a user runs it, the settings
interleaved round by round, and the fastest round of each kept (the machines are noisy).
Prints per setting: seconds, videos per hour, the ratio to the first setting, the cores
kept busy (CPU seconds of all its processes, ffmpeg's included, over seconds), the peak
memory of the largest process (the command or one of its workers), and whether the rows
are those of the first setting.
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
SHARED = Path(os.environ.get("MESONET_SHARED", ROOT.parent / "shared"))
SOURCES = sorted((SHARED / "fixtures" / "videos").glob("*.mp4")) + \
    sorted((SHARED / "fixtures" / "videos_dev").glob("*.mp4"))

# the command run under a small parent that reports the peak memory of its children
MEASURE = ("import resource, subprocess, sys\n"
           "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
           "sys.stderr.write(p.stderr.decode(errors='replace')[-2000:] if p.returncode else '')\n"
           "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
           "print(u.ru_utime + u.ru_stime, u.ru_maxrss)\n"
           "sys.exit(p.returncode)\n")


def make_folder(folder: Path, n: int) -> list[Path]:
    if not SOURCES:
        raise SystemExit(f"no fixture videos under {SHARED / 'fixtures'} (set MESONET_SHARED)")
    out = []
    for i in range(n):
        src = SOURCES[i % len(SOURCES)]
        link = folder / f"{i:02d}_{src.name}"
        link.symlink_to(src)
        out.append(link)
    return out


def run(folder: Path, jobs: int, frames: int, output: Path) -> tuple[float, float, float]:
    """(seconds, CPU seconds of all its processes, peak MB of the largest process)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable,
                           str(ROOT / "deepfakes_videos.py"), str(folder), "--frames",
                           str(frames), "--jobs", str(jobs), "--no-progress", "--output",
                           str(output)], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"--jobs {jobs} failed:\n{proc.stderr}")
    cpu, peak = proc.stdout.split()[-2:]
    return seconds, float(cpu), int(peak) / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--repeat", type=int, default=2, help="rounds; the fastest is kept")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        make_folder(folder, args.videos)
        best = {j: (float("inf"), 0.0, 0.0) for j in args.jobs}
        for _ in range(args.repeat):
            for jobs in args.jobs:
                seconds, cpu, peak = run(folder, jobs, args.frames,
                                         Path(tmp) / f"rows{jobs}.csv")
                if seconds < best[jobs][0]:
                    best[jobs] = (seconds, cpu, max(best[jobs][2], peak))
        first = args.jobs[0]
        rows = {j: (Path(tmp) / f"rows{j}.csv").read_text() for j in args.jobs}
        print(f"{args.videos} videos ({len(SOURCES)} fixture videos repeated), {args.frames} "
              f"frames each, {os.cpu_count()} cores, best of {args.repeat} interleaved rounds")
        print(f"{'jobs':>5} {'seconds':>8} {'videos/h':>9} {'ratio':>6} {'cores busy':>10} "
              f"{'peak MB':>8} rows")
        for jobs in args.jobs:
            seconds, cpu, peak = best[jobs]
            same = "same" if rows[jobs] == rows[first] else "DIFFERENT"
            print(f"{jobs:>5} {seconds:>8.1f} {args.videos * 3600 / seconds:>9.0f} "
                  f"{best[first][0] / seconds:>6.2f} {cpu / seconds:>10.2f} {peak:>8.0f} {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
