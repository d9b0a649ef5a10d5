"""`mesonet benchmark`: FaceForensics++, Celeb-DF v2 and DFDC in their own layouts, and
the paper's and DeepfakeBench's tables (mesonet/training/benchmarks.py says how).

    mesonet benchmark prepare ffpp ROOT --compression c23 --methods Deepfakes --output ffpp-df-c23
    mesonet benchmark prepare celebdf ROOT --output celebdf
    mesonet benchmark prepare dfdc ROOT --output dfdc
    mesonet benchmark paper ffpp-df-c23 --weights meso4-df mesoinception4-df
    mesonet benchmark paper ffpp-df-c23 --train meso4 mesoinception4 --epochs 30
    mesonet benchmark cross ffpp-c23 celebdf dfdc --weights meso4-df mesoinception4-df
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from mesonet import cli

logger = logging.getLogger("mesonet benchmark")


def build_parser():
    from mesonet.training import benchmarks as b
    from mesonet.workers import parse_jobs, usable_cores

    p = cli.parser(__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="a downloaded dataset into aligned face crops, on its "
                                          "official split")
    prep.add_argument("dataset", choices=sorted(b.ADAPTERS))
    prep.add_argument("root", help="the dataset's folder, as downloaded")
    prep.add_argument("--output", required=True, help="the prepared corpus's folder")
    prep.add_argument("--compression", choices=b.COMPRESSIONS, default="c23", help="FF++ only")
    prep.add_argument("--methods", nargs="+", default=["Deepfakes", "Face2Face"],
                      choices=b.FFPP_METHODS, help="FF++ only (default: the paper's two)")
    prep.add_argument("--splits", help="FF++: the folder of the official train/val/test.json "
                                       "(default: $MESONET_FFPP_SPLITS or ../shared/reference/"
                                       "ffpp_splits)")
    prep.add_argument("--frames", type=int, default=b.VIDEO_FRAMES,
                      help="frames sampled evenly per video (default: %(default)s)")
    prep.add_argument("--jobs", type=parse_jobs, default=usable_cores(),
                      help="videos at once (default: the usable cores)")
    prep.add_argument("--no-progress", action="store_true")
    paper = sub.add_parser("paper", help="the paper's accuracy table on a prepared FF++ dataset")
    paper.add_argument("data", help="a prepared dataset (benchmark prepare)")
    paper.add_argument("--weights", nargs="*", default=[],
                       help="weights to evaluate (the authors': meso4-df mesoinception4-df, "
                            "meso4-f2f mesoinception4-f2f)")
    paper.add_argument("--train", nargs="*", default=[], choices=["meso4", "mesoinception4"],
                       help="first train these with the paper's recipe on the dataset's "
                            "training split (df_CNN.py), then evaluate them too")
    paper.add_argument("--epochs", type=int, default=30, help="with --train (default: %(default)s)")
    paper.add_argument("--split", default="test", choices=["training", "validation", "test", "all"])
    paper.add_argument("--output", help="the table's numbers as JSON")
    cross = sub.add_parser("cross", help="frame and video AUC on each prepared dataset")
    cross.add_argument("data", nargs="+", help="prepared datasets (benchmark prepare)")
    cross.add_argument("--weights", nargs="+", required=True)
    cross.add_argument("--split", default="test", choices=["training", "validation", "test", "all"])
    cross.add_argument("--output", help="the table's numbers as JSON")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging()
    from mesonet.training import benchmarks as b

    if args.action == "prepare":
        adapter = b.ADAPTERS[args.dataset]
        kwargs = ({"compression": args.compression, "methods": args.methods,
                   "splits": args.splits} if args.dataset == "ffpp" else {})
        found = adapter(args.root, **kwargs)
        print(found.summary())
        if not found.videos:
            logger.error("%s: no videos of the dataset found; nothing prepared", args.root)
            return 1
        done = b.prepare(found, args.output, args.frames, args.jobs, root=args.root,
                         progress=not args.no_progress)
        print(f"{done['crops']} face crops in {args.output}/corpus.csv from {done['videos']} "
              f"videos ({done['new']} new, {done['skipped']} done before); "
              f"{done['no_face']} videos without a face; {len(done['errors'])} could not be read"
              + (f" (listed in {args.output}/errors.csv)" if done["errors"] else ""))
        for e in done["errors"][:20]:
            print(f"  unreadable: {e['source']}: {e['error']}", file=sys.stderr)
        return 0
    if args.action == "paper":
        if args.train:
            from mesonet import extras

            extras.require("mesonet benchmark paper --train", "train")
        weights = list(args.weights)
        for model in args.train:
            from mesonet.training import train

            out = Path(args.data) / "runs" / f"{model}.weights.h5"
            code = train.main(["--data", args.data, "--model", model, "--epochs",
                               str(args.epochs), "--output", str(out), "--no-progress"])
            if code:
                return code
            weights.append(str(out))
        if not weights:
            logger.error("nothing to evaluate: give --weights and/or --train")
            return 2
        text, rows = b.paper_table(args.data, weights, args.split)
    else:
        text, rows = b.cross_table(args.data, args.weights, args.split)
    print(text)
    if args.output:
        from mesonet.outputs import atomic_write_text

        atomic_write_text(args.output, json.dumps({"split": args.split, "rows": rows},
                                                  indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
