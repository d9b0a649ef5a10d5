"""List MesoNet's weights (what each was trained on, whether its file is here), or fetch
the authors' four files ahead of time, for offline use.

    mesonet weights
    mesonet weights fetch [NAME ...]
"""

from __future__ import annotations

import logging
import sys

from mesonet import zoo

logger = logging.getLogger("mesonet weights")


def main(argv=None) -> int:
    """List the weights names (what each was trained on, whether its file is here), or
    `fetch [NAME ...]` the authors' files ahead of time."""
    import argparse

    p = argparse.ArgumentParser(description="MesoNet weights: list them, or fetch the "
                                            "authors' files ahead of time.")
    sub = p.add_subparsers(dest="command")
    f = sub.add_parser("fetch", help="download and verify the authors' weights (all four "
                                     "by default) into the cache, for offline use")
    f.add_argument("names", nargs="*", metavar="NAME",
                   help=f"any of {', '.join(zoo.ORIGINAL_WEIGHTS)} (default: all)")
    args = p.parse_args(argv)
    unknown = [n for n in getattr(args, "names", []) if n not in zoo.ORIGINAL_WEIGHTS]
    if unknown:
        p.error(f"unknown weights {', '.join(unknown)}; the authors' are "
                f"{', '.join(zoo.ORIGINAL_WEIGHTS)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if args.command == "fetch":
        try:
            for name, path in zip(args.names or zoo.ORIGINAL_WEIGHTS, zoo.fetch(args.names)):
                print(f"{name:<20} verified (SHA-256) at {path}")
        except (OSError, ValueError) as e:
            logger.error("%s", e)
            return 2
        return 0
    for name in zoo.available_weights():
        here, text = zoo.where(name)
        mark = "  (the default)" if name == zoo.DEFAULT_WEIGHTS else ""
        print(f"{name:<20} {'here' if here else 'not here':<9} {zoo.trained_on(name)}{mark}\n"
              f"{'':<30} {text}")
    return 0

