"""The standard benchmarks' layouts, populated with the few clips of them this project has.

    python training/make_benchmark_trees.py /tmp/benchmarks     # then, as a user would:
    mesonet benchmark prepare ffpp /tmp/benchmarks/FaceForensics++ --methods Deepfakes Face2Face FaceSwap NeuralTextures --output /tmp/ffpp-c23
    mesonet benchmark prepare dfdc /tmp/benchmarks/dfdc --output /tmp/dfdc
    mesonet benchmark cross /tmp/ffpp-c23 /tmp/dfdc --split all --weights ...

The shared corpora (../shared/train, train_extra) hold 8 FaceForensics++ c23 clips under
their FF++ names (originals 004, 519, 634; NeuralTextures 004_982, Deepfakes 519_515,
FaceSwap 634_660, Face2Face 750_743) and 4 DFDC clips (original lynaeydofd; fakes
yhffcuhhjy, brtujopkby, widuwuoiur, whose originals are not there); the fixtures two more
DFDC fakes. They are linked here into FF++'s tree (c23) and one DFDC folder, `test/`,
with the metadata.json their labels give. Nothing is copied.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MESONET_SHARED", ROOT.parent / "shared"))
METHOD = re.compile(r"FF\+\+ (Deepfakes|Face2Face|FaceSwap|NeuralTextures|FaceShifter)")


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", help="where the trees are made (links to ../shared)")
    out = Path(p.parse_args(argv).output)
    ffpp, dfdc = out / "FaceForensics++", out / "dfdc" / "test"
    meta = {}
    n_ffpp = 0
    for corpus in ("train", "train_extra"):
        with open(SHARED / corpus / "labels.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                src = SHARED / corpus / row["path"]
                if row["group"] == "ffpp_c23_icpr":
                    if row["label"] == "real":
                        dest = ffpp / "original_sequences/youtube/c23/videos" / src.name
                    else:
                        method = METHOD.search(row["manipulation"]).group(1)
                        dest = ffpp / "manipulated_sequences" / method / "c23/videos" / src.name
                    n_ffpp += 1
                elif row["group"] == "dfdc_icpr":
                    dest = dfdc / src.name
                    original = re.search(r"original (\w+\.mp4)", row.get("notes", ""))
                    meta[src.name] = {"label": row["label"].upper(),
                                      **({"original": original.group(1)} if original else {})}
                else:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not dest.exists():
                    dest.symlink_to(src)
    for src in sorted((SHARED / "fixtures" / "videos_dev").glob("dfdc_*_fake.mp4")):
        name = src.name.split("_")[1] + ".mp4"
        if not (dfdc / name).exists():
            (dfdc / name).symlink_to(src)
        meta[name] = {"label": "FAKE"}
    (dfdc / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{out}: FaceForensics++ with {n_ffpp} c23 clips, DFDC test/ with {len(meta)} clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
