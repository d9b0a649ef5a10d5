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
import importlib.util
import sys

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
}

#: import name -> pip name, for what each extra brings (the base install: None)
EXTRAS = {
    None: {"numpy": "numpy", "h5py": "h5py", "cv2": "opencv-python-headless",
           "imageio": "imageio", "imageio_ffmpeg": "imageio-ffmpeg", "PIL": "Pillow",
           "onnx": "onnx", "onnxruntime": "onnxruntime"},
    "web": {"fastapi": "fastapi", "uvicorn": "uvicorn", "multipart": "python-multipart"},
    "ray": {"ray": "ray[data]"},
    "train": {"keras": "keras", "tensorflow": "tensorflow-cpu", "sklearn": "scikit-learn",
              "albumentations": "albumentations"},
}

SETUP_HINT = ("In a checkout: `bash setup.sh`, then run commands with `.venv/bin/python ...` "
              "(or `source .venv/bin/activate` first)")


def missing(extra: str | None) -> list[str]:
    """The pip names of what `extra` needs and this interpreter lacks."""
    return [pip for module, pip in EXTRAS[extra].items()
            if importlib.util.find_spec(module) is None]


def requirement_error(command: str, extra: str | None) -> str | None:
    """Why `command` cannot run in this interpreter, with what to install; None if it can."""
    for needed in (None, extra) if extra else (None,):
        lacking = missing(needed)
        if lacking:
            what = "MesoNet's packages" if needed is None else f"the '{needed}' extra"
            spec = "mesonet" if needed is None else f"'mesonet[{needed}]'"
            local = "." if needed is None else f"'.[{needed}]'"
            return (f"mesonet {command} needs {what} ({', '.join(lacking)}), which "
                    f"{sys.executable} lacks. Install it with `pip install {spec}` "
                    f"(from a checkout: `pip install -e {local}`). {SETUP_HINT}.")
    return None


def launch(command: str, argv=None, prog: str | None = None) -> int:
    """Run one subcommand's main(argv) as its script would: the library's errors are the
    user's (exit 2), a missing extra is named with its pip command (exit 2)."""
    module_name, _, extra = COMMANDS[command]
    problem = requirement_error(command, extra)
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
