"""Put the section bench/gpu.sh wrote into BENCHMARKS.md, in place of its GPU section.

    python bench/gpu_section.py OUT/gpu-section.md

The GPU section is everything from the line '## GPU' to the next '## ' heading (or the
end); it is added at the end when there is none.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def replace_section(text: str, section: str, heading: str = "## GPU") -> str:
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    new = section.rstrip("\n") + "\n\n"
    if start is None:
        return text.rstrip("\n") + "\n\n" + new
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return "".join(lines[:start]) + new + "".join(lines[end:])


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("section", help="the gpu-section.md bench/gpu.sh wrote")
    args = p.parse_args(argv)
    try:
        section = Path(args.section).read_text(encoding="utf-8")
    except OSError as e:
        p.error(f"cannot read {args.section}: {e.strerror}")
    if not section.startswith("## GPU"):
        p.error(f"{args.section}: not a section made by bench/gpu.sh (it starts with '## GPU')")
    target = ROOT / "BENCHMARKS.md"
    target.write_text(replace_section(target.read_text(encoding="utf-8"), section),
                      encoding="utf-8")
    print(f"GPU section of {target} replaced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
