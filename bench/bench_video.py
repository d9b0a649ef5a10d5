"""Seconds per video: our pipeline against the original's algorithm, in one invocation.

    python bench/bench_video.py                       # the shared fixture videos, 30 frames
    python bench/bench_video.py clip.mp4 --frames 32 --skip-baseline
    python bench/bench_video.py clip.mp4 --repeat 3   # fastest of 3 runs each
    python bench/bench_video.py --decode-only         # only the sampled frames' decoding
    MESONET_CORES=1 python bench/bench_video.py ...   # no spare core for the face finder
    MESONET_DECODER=ffmpeg python bench/bench_video.py ...   # the ffmpeg program decodes

Start-up (imports, model and detector loading) is timed once and reported apart (it is
short when the weights' ONNX graph is already in the cache: see scorers.load_scorer);
per-video times are the work on that video alone. Both pipelines get the same
videos and the same sampled frames. Prints a table and the ratio per video, and the
cores ours kept busy (CPU seconds of this process and its ffmpeg, over seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MESONET_SHARED", ROOT.parent / "shared"))
DEFAULT = [SHARED / "fixtures/videos/short_hamilton_clip.mp4",
           SHARED / "fixtures/videos/liveportrait_d0_frontal_face_3s.mp4",
           SHARED / "fixtures/videos_dev/dfdc_abofeumbvv_fake.mp4",
           SHARED / "fixtures/videos_dev/dfdc_abqwwspghj_fake.mp4"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="*", type=Path, default=DEFAULT)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--weights", default="meso4-df")
    p.add_argument("--runtime", choices=["auto", "keras", "onnx"], default="auto",
                   help="inference runtime of our pipeline (default: what the scripts use)")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--decode-only", action="store_true",
                   help="time only the decoding of the sampled frames (media.iter_frames)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each pipeline this many times per video and keep the fastest "
                        "(the machines are noisy)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    missing = [v for v in args.videos if not v.exists()]
    if missing:
        print(f"missing videos: {missing} (set MESONET_SHARED)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import resource

    import numpy as np

    from mesonet import media, pipeline, scorers
    from mesonet.faces import FaceFinder
    from mesonet.media import iter_frames

    def cpu() -> float:  # this process's CPU seconds, and its finished ffmpeg runs'
        own, kids = resource.getrusage(resource.RUSAGE_SELF), \
            resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    decoder = "ffmpeg program" if not media._use_pyav() else "PyAV where it can"
    if args.decode_only:
        print(f"decoding only ({decoder}), fastest of {args.repeat}")
        print(f"{'video':<40} {'frames':>6} {'seconds':>8} {'cores busy':>10}")
        for video in args.videos:
            best = (float("inf"), 0.0)
            for _ in range(args.repeat):
                c, t = cpu(), time.perf_counter()
                n = sum(1 for _ in iter_frames(video, args.frames))
                wall = time.perf_counter() - t
                best = min(best, (wall, (cpu() - c) / wall))
            print(f"{video.name:<40} {n:>6} {best[0]:>8.2f} {best[1]:>10.2f}")
        return 0
    classifier = scorers.load_scorer(args.weights, runtime=args.runtime)
    finder = FaceFinder()
    classifier.predict(np.zeros((1, 256, 256, 3), np.uint8))  # compile once
    startup = time.perf_counter() - t0
    print(f"start-up (imports, model, detector, compilation): {startup:.2f} s")
    print(f"decoding: {decoder}; face finder's spare core: "
          f"{'yes' if finder.spare_core else 'no'}")
    print(f"{'video':<40} {'frames':>6} {'ours s':>8} {'cores':>5} {'faces':>5} "
          f"{'original s':>10} {'faces':>5} {'ratio':>6}")
    baseline_clf = None
    for video in args.videos:
        ours, busy = float("inf"), 0.0
        for _ in range(args.repeat):
            c, t = cpu(), time.perf_counter()
            result = pipeline.analyze(video, classifier, finder, args.frames)
            ours, busy = min((ours, busy), (time.perf_counter() - t,
                                            (cpu() - c) / (time.perf_counter() - t)))
        indices = sorted({f.index for f in iter_frames(video, args.frames)})
        base, n_base = float("nan"), 0
        if not args.skip_baseline:
            import original_pipeline

            if baseline_clf is None:  # the original scored with plain Keras predict
                from mesonet import classifiers

                baseline_clf = classifiers.load_classifier(weights=args.weights, runtime="keras")
            base = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                n_base, _ = original_pipeline.run(video, indices, baseline_clf)
                base = min(base, time.perf_counter() - t)
        print(f"{video.name:<40} {result.n_frames_sampled:>6} {ours:>8.2f} {busy:>5.2f} "
              f"{result.n_faces:>5} {base:>10.2f} {n_base:>5} {base / ours:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
