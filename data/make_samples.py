"""Make the built-in sample data from scikit-image's public-domain astronaut portrait.

    python data/make_samples.py

Writes test_images/real/astronaut.png (the aligned face crop, as pipeline.py makes it),
test_images/df/astronaut_fwa.png (a face-warping-artifact forgery of it, made by
training/synthesize.py) and data/sample_video.mp4 (3 s of slow pan, zoom and tilt over
the portrait). They are committed, so a fresh clone has sample data without ../shared;
this script shows how they were made and remakes them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="Overwrites the committed sample files.").parse_args(argv)
    import cv2
    import imageio_ffmpeg
    import numpy as np
    from PIL import Image
    from skimage import data

    from mesonet import faces
    from mesonet.training.synthesize import synthesize

    portrait = data.astronaut()  # 512 x 512 RGB
    finder = faces.FaceFinder()
    hit = finder.track(portrait)
    if hit is None:
        raise RuntimeError("no face found in skimage.data.astronaut()")
    _, marks, (center, side, rotation) = hit
    crop = faces.aligned_face(portrait, center, side, rotation)
    forged, _ = synthesize(crop, faces.landmarks_in_crop(marks, center, side, rotation), "fwa",
                           np.random.default_rng(0))
    for path, image in [(ROOT / "test_images/real/astronaut.png", crop),
                        (ROOT / "test_images/df/astronaut_fwa.png", forged)]:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, optimize=True)
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)

    size, fps, seconds = 384, 25, 3
    video = ROOT / "data/sample_video.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (size, size), fps=fps, quality=6,
                                         macro_block_size=16, output_params=["-an"])
    writer.send(None)
    for i in range(fps * seconds):
        t = i / (fps * seconds)
        m = cv2.getRotationMatrix2D((256, 200), 6 * np.sin(2 * np.pi * t), 0.8 + 0.1 * t)
        m[:, 2] += [-64 + 20 * t, -8]
        writer.send(np.ascontiguousarray(cv2.warpAffine(portrait, m, (size, size),
                                                        borderMode=cv2.BORDER_REFLECT_101)))
    writer.close()
    print(f"wrote {video.relative_to(ROOT)} ({video.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
