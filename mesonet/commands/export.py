"""Export MesoNet weights to ONNX, for ONNX Runtime or any other ONNX engine.

    mesonet export --weights meso4-df --output meso4-df.onnx
    mesonet export --weights meso4-dfdc --precision int8 --calibration data/

With --precision int8 the graph is quantized with ONNX Runtime's static quantization
(weights int8 per channel, activations uint8), its ranges calibrated on faces of the
prepared corpus's training split (--calibration), and its parity with float32 measured
on faces of its validation split and printed (mesonet.quantize). Without --output it goes
to the user cache, where `--precision int8` in the scripts finds it; with --record (the
project's own weights) beside the weights, its parity in their record.

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
    p.add_argument("--output", help="the .onnx file to write (required in float32; in int8 "
                                    "default: the user cache, where the scripts find it)")
    p.add_argument("--precision", choices=("float32", "int8"), default="float32")
    p.add_argument("--calibration", metavar="CORPUS",
                   help="int8: a prepared corpus (corpus.csv): ranges from its training "
                        "split, parity on its validation split")
    p.add_argument("--parity-faces", type=int, default=2000,
                   help="int8: validation faces the parity is measured on (default: %(default)s)")
    p.add_argument("--record", action="store_true",
                   help="int8: write the graph beside the project's weights "
                        "(weights/NAME.int8.onnx) and its parity into NAME.record.json")
    args = p.parse_args(argv)
    if args.precision == "float32" and not args.output:
        p.error("--output is required (the .onnx file to write)")
    if args.precision == "int8" and not args.calibration:
        p.error("--precision int8 needs --calibration CORPUS (a prepared corpus: "
                "`mesonet prepare`)")
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
    if args.precision == "int8":
        return export_int8(record, args, arrays_of)
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


def export_int8(record, args, arrays_of) -> int:
    import json

    from mesonet import quantize, scoring, zoo
    from mesonet.outputs import atomic_path, atomic_write_text

    if record.architecture == zoo.COMBINATION:
        raise ValueError(f"{record.name} is a combination: export each member in int8 "
                         f"({', '.join(zoo.combination(record.name)['members'])}); the "
                         f"scripts then combine them")
    arch, weights = arrays_of(record, args.model)
    graph = scoring.to_onnx(arch, "uint8", weights).SerializeToString()
    calibration, _ = quantize.corpus_faces(args.calibration, "training",
                                           quantize.CALIBRATION_FACES)
    int8 = quantize.quantize(graph, calibration)
    faces, labels = quantize.corpus_faces(args.calibration, "validation", args.parity_faces,
                                          seed=1)
    op = zoo.operating_point(record.name, "frame", quiet=True)
    f32 = scoring.OnnxClassifier(arch, record.name, {"uint8": graph})
    i8 = scoring.OnnxClassifier(arch, record.name, {"uint8": int8})
    parity = quantize.parity(f32.predict(faces), i8.predict(faces), labels, op)
    if args.record:
        if zoo.record_of(record.name) is None:
            raise ValueError(f"--record is for the project's weights; {record.name} has no "
                             f"record in {zoo.PROJECT_WEIGHTS_DIR}")
        output = zoo.PROJECT_WEIGHTS_DIR / f"{record.name}{zoo.INT8_SUFFIX}"
    else:
        output = args.output or zoo.int8_cache_path(record)
    with atomic_path(output) as tmp:
        tmp.write_bytes(int8)
    summary = {"graph": os.path.basename(output), "weights_sha256": record.sha256,
               "calibrated_on": f"{len(calibration)} faces of the training split of "
                                f"{os.path.basename(os.path.abspath(args.calibration))} "
                                f"(half real, half forged, spread over its source groups)",
               "parity_on": f"{parity['faces']} faces of its validation split, at the "
                            f"weights' face operating point",
               "parity": parity}
    if args.record:
        path = zoo.PROJECT_WEIGHTS_DIR / f"{record.name}{zoo.RECORD_SUFFIX}"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["int8"] = summary
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    print(f"Wrote {output} ({os.path.getsize(output) // 1024} KiB): {arch} in int8, weights "
          f"{record.name}")
    print(json.dumps(summary, indent=1))
    if not parity["within_bounds"]:
        logger.warning("int8 is outside the bounds (AUC within %.3f, at most %.0f%% of "
                       "verdicts changed) on these faces", quantize.MAX_AUC_DIFFERENCE,
                       100 * quantize.MAX_VERDICTS_CHANGED)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
