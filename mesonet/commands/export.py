"""Export MesoNet weights to ONNX, for ONNX Runtime or any other ONNX engine.

    mesonet export --weights meso4-df --output meso4-df.onnx

Input: uint8 NHWC faces (N, 256, 256, 3), RGB, rescaled inside the graph; output
P(real), (N, 1); 0 = deepfake/Face2Face, 1 = real. The batch dimension is dynamic.
The graph is written from the weights file without Keras (scoring.to_onnx); outputs
match the Keras model within 1e-5 (tests/test_export.py). A combination (the default
weights) becomes one graph: its members and the rule (the lowest P(real)) inside it.
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
    from mesonet import zoo
    from mesonet.architectures import LAYERS, read_weights
    from mesonet.outputs import atomic_path
    from mesonet.scoring import combination_to_onnx, to_onnx

    def arrays_of(record, model=None):
        zoo.check_architecture(record, model)
        arch = record.architecture or model
        if arch not in LAYERS:
            raise ValueError(f"Weights {record.name} are for {arch or 'an unknown network'}: "
                             f"give --model ({', '.join(LAYERS)})")
        return arch, read_weights(arch, record.path)

    record = zoo.resolve(args.weights)
    if record.architecture == zoo.COMBINATION:
        spec = zoo.combination(record.name)
        members = [arrays_of(zoo.resolve(m), args.model) for m in spec["members"]]
        proto = combination_to_onnx(members, spec["rule"], name=record.name)
        what = f"the lower P(real) of {', '.join(spec['members'])} in one graph"
    else:
        arch, weights = arrays_of(record, args.model)
        proto = to_onnx(arch, "uint8", weights)
        what = arch
    with atomic_path(args.output) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    print(f"Wrote {args.output} ({os.path.getsize(args.output) // 1024} KiB): {what}, "
          f"weights {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
