"""The command-line scripts' shared plumbing: options, logging, loading, exit codes.

Each script builds its parser from these helpers, so that an option means the same
everywhere and its choices come from the library's own tables (`CLASSIFIERS`,
`RUNTIMES`, `AGGREGATIONS`, `DETECTORS`, all in contract.py); `run` turns the library's exceptions into a
logged message and exit code 2. Importing this module changes nothing; `setup_logging`,
called first in every main(), quiets TensorFlow's C++ start-up chatter (it must be set
before TensorFlow loads) and sends log messages to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mesonet.contract import (AGGREGATIONS, ARCHITECTURES, DETECTORS, P_REAL_MEANING,
                      RUNTIMES, check_band, check_threshold)
from mesonet.media import FRAME_SUBSAMPLE_COUNT as FRAMES_DEFAULT

logger = logging.getLogger("cli")



def parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose description and epilog are the script's docstring."""
    head, _, rest = doc.partition("\n\n")
    return argparse.ArgumentParser(description=head, epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _threshold(text: str) -> float:
    try:
        return check_threshold(float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _frames(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames must be a whole number; received {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--frames must be at least 1; received {value}")
    return value


def add_weights_options(p: argparse.ArgumentParser, model: bool = True,
                        precision: bool = False) -> None:
    """--weights, --model (unless model=False), --runtime and (with precision) --precision."""
    from mesonet.zoo import DEFAULT_WEIGHTS

    p.add_argument("--weights", default=DEFAULT_WEIGHTS,
                   help="weights name or file (default: %(default)s; `mesonet weights` lists them)")
    if model:
        p.add_argument("--model", choices=ARCHITECTURES,
                       help="architecture (default: the one the weights were made for)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="auto: ONNX Runtime on a CPU when installed (fastest), else compiled "
                        "Keras (default: %(default)s)")
    if precision:
        p.add_argument("--precision", choices=("float32", "int8"), default="float32",
                       help="int8: ONNX Runtime's quantized graph of the weights (shipped "
                            "for the project's weights; `mesonet export --precision int8` "
                            "makes one; its parity with float32 is in "
                            "weights/NAME.record.json) (default: %(default)s)")


def _band(text: str) -> float:
    try:
        return check_band(float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_threshold_option(p: argparse.ArgumentParser) -> None:
    """--threshold and --inconclusive: a fixed rule instead of the weights' own point."""
    p.add_argument("--threshold", type=_threshold,
                   help="call P(real) above it real, at or below it fake, instead of the "
                        "weights' operating point (fitted on sources they never saw; "
                        "weights/NAME.record.json); the released code's rule is 0.5")
    p.add_argument("--inconclusive", type=_band, metavar="HALF_WIDTH",
                   help="with a fixed rule: call a score closer than this to the threshold "
                        "inconclusive (default 0)")


def operating_point_of(args, weights: str, level: str = "frame"):
    """zoo.point_for with the script's --threshold, --inconclusive, --aggregate."""
    from mesonet import zoo

    return zoo.point_for(weights, level, args.threshold, args.inconclusive,
                         getattr(args, "aggregate", "mean"))


def describe_point(op) -> str:
    """One line: where the verdicts fall at this point, and what they mean."""
    what = "videos" if op.level == "video" else "faces"
    real = (f"real above {op.real_above:.3f}" if op.real_above < 1.0 else
            "never real (no threshold kept the forged ones of every unseen source at "
            f"{op.target or 0.05:.1%} or below)")
    head = (f"Verdicts ({what}): fake at P(real) <= {op.fake_at_most:.3f}, {real}"
            + (", inconclusive between" if op.fake_at_most < op.real_above < 1.0 else
               ", inconclusive above" if op.real_above >= 1.0 else ""))
    if not op.calibrated:
        return head + ": a fixed threshold, not calibrated"
    return head + ".\n" + "\n".join(f"  {op.meaning(v)}" for v in ("fake", "real")
                                     if v == "fake" or op.real_above < 1.0)


def add_video_options(p: argparse.ArgumentParser, aggregate: bool = True) -> None:
    """--frames, --detector and (for scoring) --aggregate."""
    p.add_argument("--frames", type=_frames, default=FRAMES_DEFAULT,
                   help="frames sampled evenly per video (default: %(default)s, as the "
                        "original)")
    p.add_argument("--detector", choices=DETECTORS, default="hog",
                   help="face detector: hog (default, fast), cnn (dlib's CNN; CUDA when dlib "
                        "has it), or original (the original pipeline's search step for step: "
                        "its exact boxes, slowly)")
    if aggregate:
        p.add_argument("--aggregate", choices=AGGREGATIONS, default="mean",
                       help="which per-video score decides `prediction`: mean P(real) (the "
                            "paper) or vote, the share of faces above 0.5 (the released "
                            "code) (default: %(default)s)")


def add_jobs_option(p: argparse.ArgumentParser) -> None:
    """--jobs: files processed at once, each in a worker process of its own."""
    from mesonet.workers import parse_jobs, usable_cores

    p.add_argument("--jobs", type=parse_jobs, default=usable_cores(),
                   help="files processed at once, each worker loading the model and the face "
                        "finder once (default: the usable cores, here %(default)s; at most one "
                        "worker per two files; 1: one file at a time in this process). Rows "
                        "and their order do not depend on it")


def add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages")


def setup_logging(verbose: bool = False) -> None:
    """Configure logging once, in a script's main(): messages go to stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run(main, argv=None) -> int:
    """Call main(argv); a ValueError or OSError from the library is logged as the user's
    error (exit 2), with the message that names the file or argument."""
    try:
        return main(argv)
    except (ValueError, OSError) as e:  # named by the command the user typed
        logging.getLogger(os.path.basename(sys.argv[0]) or "mesonet").error("%s", e)
        return 2


def analyze_safely(source, classifier, finder, frames, all_faces: bool = False,
                   keep_crops: bool = False):
    """For batch scripts: pipeline.analyze_or_error, and any other failure (a bug, a
    library's surprise) also an error result with its reason, so the batch goes on. The
    time it took is logged at debug level."""
    import time

    from mesonet.outputs import printable
    from mesonet.pipeline import VideoResult, analyze_or_error

    start = time.perf_counter()
    try:
        return analyze_or_error(source, classifier, finder, frames, all_faces, keep_crops)
    except Exception as e:
        logger.exception("%s: unexpected error", printable(source))
        return VideoResult(str(source), error=f"unexpected error: {type(e).__name__}: {e}")
    finally:
        logger.debug("%s: done in %.3f s", printable(source), time.perf_counter() - start)


def describe_weights(classifier) -> str:
    from mesonet import zoo

    if hasattr(classifier, "members"):  # a combination says what it combines
        return f"{classifier.weights} ({zoo.trained_on(classifier.weights)})"
    return (f"{classifier.weights} ({classifier.model.name}; trained on "
            f"{zoo.trained_on(classifier.weights)})")


__all__ = ["P_REAL_MEANING", "parser", "add_weights_options", "add_threshold_option",
           "add_video_options", "add_common_options", "setup_logging", "run",
           "describe_weights"]
