"""The README's picture of where MesoNet looks: a real and a forged face with their maps.

    python data/make_explain_figure.py REAL FORGED --output data/explain_example.png

REAL and FORGED are images or videos; the first face found in each (its middle sampled
frame for a video) is scored and explained with Grad-CAM (hot = looks forged), and the
two rows are written as one PNG.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from mesonet import cli  # noqa: E402
from mesonet import scorers


def first_face(path, finder):
    from mesonet.pipeline import extract_faces

    result = extract_faces(path, finder, 9)
    if not result.faces:
        raise ValueError(f"{path}: no face found")
    return result.faces[len(result.faces) // 2].crop


def main(argv=None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("real", help="a real image or video")
    p.add_argument("forged", help="a forged image or video")
    cli.add_weights_options(p)
    p.add_argument("--output", default="data/explain_example.png", help="the PNG to write")
    args = p.parse_args(argv)
    cli.setup_logging()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mesonet.explain import explain, overlay
    from mesonet.faces import FaceFinder
    from mesonet.outputs import atomic_path

    finder = FaceFinder()
    crops = np.stack([first_face(args.real, finder), first_face(args.forged, finder)])
    classifier = scorers.load_scorer(args.weights, args.model, args.runtime)
    p_real = classifier.predict(crops)[:, 0]
    maps = explain(classifier, crops)
    fig, axes = plt.subplots(2, 2, figsize=(5.2, 5.6), dpi=110)
    for row, (label, source) in enumerate((("real", args.real), ("forged", args.forged))):
        axes[row][0].imshow(crops[row])
        axes[row][1].imshow(overlay(crops[row], maps[row]))
        axes[row][0].set_title(f"{label}: {Path(source).name}", fontsize=8)
        axes[row][1].set_title(f"P(real) {p_real[row]:.3f}; hot = looks forged", fontsize=8)
        for ax in axes[row]:
            ax.axis("off")
    fig.suptitle(f"Grad-CAM, weights {classifier.weights}", fontsize=9)
    fig.tight_layout()
    with atomic_path(args.output) as tmp:
        fig.savefig(tmp, format="png")
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
