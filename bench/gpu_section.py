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
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    section = Path(argv[0]).read_text(encoding="utf-8")
    if not section.startswith("## GPU"):
        print(f"{argv[0]}: not a section made by bench/gpu.sh (it starts with '## GPU')",
              file=sys.stderr)
        return 2
    target = ROOT / "BENCHMARKS.md"
    target.write_text(replace_section(target.read_text(encoding="utf-8"), section),
                      encoding="utf-8")
    print(f"GPU section of {target} replaced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
