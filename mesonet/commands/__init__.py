"""The `mesonet` command: one entry point, one subcommand per job.

    mesonet images [PATH ...]      score face images and photos     (deepfakes_images.py)
    mesonet videos PATH ...        score videos end to end          (deepfakes_videos.py)
    mesonet extract PATH ...       extract aligned face crops       (extract_faces.py)
    mesonet weights [fetch]        list the weights, fetch the authors' files
    mesonet export                 write weights as an ONNX graph
    mesonet serve                  the web page and HTTP API        (extra: web)
    mesonet corpus                 score a corpus on a Ray cluster  (extra: ray)
    mesonet train | evaluate | prepare    training tools            (extra: train)

`mesonet COMMAND --help` gives each one's options. A subcommand whose extra is not
installed says which, with the pip command, and exits 2 before doing anything.
"""

from __future__ import annotations

import importlib
import sys

from mesonet import extras

#: subcommand -> (module with main(argv), what it does, extra it needs or None)
COMMANDS = {
    "images": ("mesonet.commands.images", "score face images and photos", None),
    "videos": ("mesonet.commands.videos", "score videos (and images) end to end", None),
    "extract": ("mesonet.commands.extract", "extract aligned 256x256 face crops", None),
    "weights": ("mesonet.commands.weights", "list the weights; fetch the authors' files", None),
    "export": ("mesonet.commands.export", "export weights as one ONNX graph", None),
    "serve": ("mesonet.commands.serve", "the web page and HTTP API", "web"),
    "corpus": ("mesonet.commands.corpus", "score a large corpus on a Ray cluster", "ray"),
    "train": ("mesonet.training.train", "train MesoNet with the paper's recipe", "train"),
    "evaluate": ("mesonet.training.evaluate", "AUC, verdict shares, calibration", "train"),
    "prepare": ("mesonet.training.prepare", "prepare a corpus of aligned face crops", "train"),
    "benchmark": ("mesonet.commands.benchmark", "FF++, Celeb-DF, DFDC: prepare, the paper's "
                  "and DeepfakeBench's tables", None),
}

def launch(command: str, argv=None, prog: str | None = None) -> int:
    """Run one subcommand's main(argv) as its script would: the library's errors are the
    user's (exit 2), a missing extra is named with its pip command (exit 2)."""
    module_name, _, extra = COMMANDS[command]
    problem = extras.problem(f"mesonet {command}", extra)
    if problem:
        print(f"{prog or 'mesonet ' + command}: {problem}", file=sys.stderr)
        return 2
    sys.argv[0] = prog or f"mesonet {command}"  # what argparse prints as the usage's name
    module = importlib.import_module(module_name)
    from mesonet import cli

    return cli.run(module.main, argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip().split("\n\n")[1] if argv else __doc__.strip())
        print("\ncommands:")
        for name, (_, what, extra) in COMMANDS.items():
            print(f"  {name:<10} {what}" + (f"  [extra: {extra}]" if extra else ""))
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from mesonet import __version__

        print(f"mesonet {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"mesonet: unknown command {argv[0]!r}; known: {', '.join(COMMANDS)} "
              f"(mesonet --help)", file=sys.stderr)
        return 2
    return launch(argv[0], argv[1:])
