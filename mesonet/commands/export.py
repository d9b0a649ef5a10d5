"""Export MesoNet weights to ONNX, for ONNX Runtime or any other ONNX engine.

    mesonet export --weights meso4-df --output meso4-df.onnx

Input: uint8 NHWC faces (N, 256, 256, 3), RGB, rescaled inside the graph; output
P(real), (N, 1); 0 = deepfake/Face2Face, 1 = real. The batch dimension is dynamic.
The graph is written by scoring.to_onnx; outputs match the Keras model within 1e-5
(tests/test_export.py).
"""

from __future__ import annotations

import logging
import os
import sys

from mesonet import cli

logger = logging.getLogger("export")


def main(argv=None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--weights", required=True, help="weights name or file")
    p.add_argument("--model", choices=cli.ARCHITECTURES,
                   help="architecture, when the weights do not say")
    p.add_argument("--output", required=True, help="the .onnx file to write")
    args = p.parse_args(argv)
    cli.setup_logging()
    from mesonet.classifiers import load_classifier
    from mesonet.outputs import atomic_path
    from mesonet.scoring import to_onnx

    clf = load_classifier(args.model, args.weights, runtime="keras")
    if hasattr(clf, "members"):
        members = ", ".join(str(m.weights) for m in clf.members)
        raise ValueError(f"Weights {args.weights} combine {members}: export each of them; "
                         "the rule (the lowest P(real)) is one line")
    proto = to_onnx(clf.model)
    with atomic_path(args.output) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    print(f"Wrote {args.output} ({os.path.getsize(args.output) // 1024} KiB): "
          f"{clf.model.name} with weights {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
