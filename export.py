"""Export MesoNet to ONNX, and score with ONNX Runtime: the fastest CPU path.

    python export.py --weights meso4-df --output meso4-df.onnx

The graph is written layer by layer from the Keras weights (MesoNet has only
convolutions, batch normalization, max pooling, dense layers and activations, so no
converter is needed): input uint8 NHWC faces (N, 256, 256, 3), rescaled inside the
graph; output P(real), (N, 1); 0 = deepfake/Face2Face, 1 = real. The batch dimension
is dynamic. `Classifier(runtime="onnx")` (and `--runtime onnx` in the scripts, the
default on a CPU when onnxruntime is installed) scores through it; outputs match the
Keras model within 1e-5 (tests/test_export.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

import reporting

logger = logging.getLogger("export")

CROP = 256  # faces are CROP x CROP x 3
ONNX_BATCH = 16  # faces per ONNX Runtime call on a CPU (bench/bench_inference.py)


def check_faces(x, xp=np):
    """Validate a batch for prediction: (N, 256, 256, 3) uint8, or float in [0, 1].

    xp: the array module, numpy, or jax.numpy for batches kept on a device."""
    x = xp.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (CROP, CROP, 3):
        raise ValueError(f"Expected faces of shape (N, {CROP}, {CROP}, 3); "
                         f"received shape {tuple(x.shape)}")
    if x.dtype == xp.uint8:
        return x
    if not xp.issubdtype(x.dtype, xp.floating):
        raise ValueError(f"Expected uint8 in [0, 255] or float in [0, 1]; received {x.dtype}")
    if x.size and float(x.max()) > 1.0 + 1e-6:
        raise ValueError("Float faces must be in [0, 1] (the networks were trained on x/255); "
                         f"received values up to {float(x.max()):.1f}. Pass uint8 or divide by 255")
    return x if x.dtype == xp.float32 else x.astype(xp.float32)


def predict_in_batches(forward, x, batch_size: int, xp=np) -> np.ndarray:
    """forward() over fixed-size batches (the last one padded, its padding dropped).

    With xp=jax.numpy the batches are sliced and padded on x's device; calls are
    dispatched asynchronously, so the device works through them back to back, and only
    the scores come back to the host."""
    n = len(x)
    if n == 0:
        return np.zeros((0, 1), np.float32)
    out = []
    for start in range(0, n, batch_size):
        chunk = x[start:start + batch_size]
        if len(chunk) < batch_size:  # pad to the compiled shape; padded rows are dropped
            pad = xp.zeros((batch_size - len(chunk),) + tuple(chunk.shape[1:]), chunk.dtype)
            chunk = xp.concatenate([chunk, pad])
        out.append(forward(chunk)[: min(batch_size, n - start)])
    return np.concatenate(out).astype(np.float32)


def _next_is_pool(model, layer) -> bool:
    """Whether the only consumer of a layer's output is a max pooling."""
    users = [other for other in model.layers
             if layer.output.name in [t.name for t in (other.input if isinstance(other.input, list)
                                                       else [other.input])]]
    return len(users) == 1 and users[0].__class__.__name__ == "MaxPooling2D"


def to_onnx(model, input_dtype: str = "uint8"):
    """An onnx.ModelProto computing `model` on NHWC input: uint8 in [0, 255] (rescaled
    in the graph) or float32 in [0, 1]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = iter(range(10_000))

    def const(array, name=None):
        name = name or f"c{next(counter)}"
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(op, inputs, **attrs):
        out = f"t{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    if input_dtype not in ("uint8", "float32"):
        raise ValueError(f"input_dtype must be uint8 or float32; received {input_dtype!r}")
    x = node("Transpose", ["face"], perm=[0, 3, 1, 2])  # NHWC -> NCHW (on bytes: cheaper)
    # uint8 faces are rescaled by 1/255 inside the graph: folded into the kernels of the
    # convolutions that read the input (exact: they pad with zeros), else a Mul
    unscaled = {}
    if input_dtype == "uint8":
        x = node("Cast", [x], to=TensorProto.FLOAT)
        unscaled[x] = np.float32(1 / 255.0)
    values = {model.inputs[0].name: x}
    pending_bn = {}  # batch normalizations moved after the pooling that follows them

    def value_of(tensor, conv=False):
        name = values[tensor.name]
        if name in unscaled and not conv:
            values[tensor.name] = name = node("Mul", [name, const(unscaled.pop(name))])
        return name

    def batch_norm(x, bn):
        return node("BatchNormalization", [x, *bn[0]], epsilon=bn[1])

    for layer in model.layers[1:]:
        kind = layer.__class__.__name__
        inbound = layer.input if not isinstance(layer.input, list) else layer.input
        ins = [value_of(t, conv=kind == "Conv2D")
               for t in (inbound if isinstance(inbound, list) else [inbound])]
        if kind == "Conv2D":
            kernel, bias = layer.get_weights()
            kernel = kernel * unscaled.get(ins[0], np.float32(1))
            kh, kw = kernel.shape[:2]
            d = layer.dilation_rate[0]
            pad = d * (kh - 1) // 2
            y = node("Conv", [ins[0], const(kernel.transpose(3, 2, 0, 1)), const(bias)],
                     kernel_shape=[kh, kw], dilations=[d, d], pads=[pad, pad, pad, pad])
            if layer.activation.__name__ == "relu":
                y = node("Relu", [y])
        elif kind == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            bn = ([const(w) for w in (gamma, beta, mean, var)], float(layer.epsilon))
            if (gamma > 0).all() and _next_is_pool(model, layer):
                # BN is x * scale + shift per channel; with scale > 0 it commutes with the max
                # pooling that follows, so it runs after it, on 4 to 16 times fewer values.
                # As a BatchNormalization node (not Mul and Add) ONNX Runtime runs it in its
                # blocked layout as a depthwise convolution, without reordering the tensor
                pending_bn[layer.output.name] = bn
                y = ins[0]
            else:
                y = batch_norm(ins[0], bn)
        elif kind == "MaxPooling2D":
            k = layer.pool_size[0]
            y = node("MaxPool", [ins[0]], kernel_shape=[k, k], strides=[k, k],
                     auto_pad="SAME_UPPER")
            moved = pending_bn.pop(layer.input.name, None)
            if moved:
                y = batch_norm(y, moved)
        elif kind == "Concatenate":
            y = node("Concat", ins, axis=1)
        elif kind == "Flatten":  # Keras flattens NHWC: go back before flattening
            y = node("Flatten", [node("Transpose", [ins[0]], perm=[0, 2, 3, 1])], axis=1)
        elif kind == "Dropout":
            y = ins[0]
        elif kind == "Dense":
            kernel, bias = layer.get_weights()
            y = node("Gemm", [ins[0], const(kernel), const(bias)])
            if layer.activation.__name__ == "sigmoid":
                y = node("Sigmoid", [y])
        elif kind == "LeakyReLU":
            y = node("LeakyRelu", [ins[0]], alpha=float(layer.negative_slope))
        else:
            raise ValueError(f"Cannot export layer {layer.name} of type {kind} to ONNX")
        values[layer.output.name] = y
    nodes.append(helper.make_node("Identity", [value_of(model.outputs[0])], ["p_real"]))
    graph = helper.make_graph(
        nodes, model.name, [helper.make_tensor_value_info(
            "face", TensorProto.UINT8 if input_dtype == "uint8" else TensorProto.FLOAT,
            ["N", 256, 256, 3])],
        [helper.make_tensor_value_info("p_real", TensorProto.FLOAT, ["N", 1])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="mesonet")
    proto.doc_string = "P(real): 0 = deepfake/Face2Face, 1 = real. Input uint8 RGB NHWC."
    onnx.checker.check_model(proto)
    return proto


def _session(source, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnx_forward(model, threads: int | None = None):
    """A function (uint8 or float32 batch) -> P(real) on ONNX Runtime, for Classifier.

    model: a Keras MesoNet model, or a dict {'uint8': path, 'float32': path} of graphs
    already written (the cache of `graph_cache_paths`)."""
    sessions = {}

    def run(x):
        dtype = "uint8" if x.dtype == np.uint8 else "float32"
        if dtype not in sessions:  # one graph per input type, built on first use
            source = (str(model[dtype]) if isinstance(model, dict)
                      else to_onnx(model, dtype).SerializeToString())
            sessions[dtype] = _session(source, threads)
        return sessions[dtype].run(None, {"face": np.ascontiguousarray(x, dtype)})[0]

    return run


# --------------------------------------------------------------------------------------
# Scoring without Keras: graphs exported once, kept in the user cache


def graph_cache_paths(weights_file, architecture: str) -> dict:
    """Where the ONNX graphs of a weights file live in the cache: one per input type,
    named by the SHA-256 of the weights and of this exporter (a change to either makes
    new ones)."""
    import hashlib

    from zoo import _cache_dir, sha256_of

    exporter = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    stem = f"{architecture}-{sha256_of(weights_file)[:24]}-{exporter}"
    return {dtype: _cache_dir() / "onnx" / f"{stem}-{dtype}.onnx" for dtype in ("uint8", "float32")}


def write_graph_cache(model, paths: dict) -> None:
    """Export `model` to the cache paths (atomically; a failure only costs speed later)."""
    try:
        for dtype, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
            tmp.write_bytes(to_onnx(model, dtype).SerializeToString())
            os.replace(tmp, path)
    except OSError as e:
        logger.warning("Could not cache the ONNX graph in %s: %s", paths["uint8"].parent, e)


class OnnxClassifier:
    """Scores faces through cached ONNX graphs with ONNX Runtime; Keras is never loaded.

    The scoring half of `classifiers.Classifier` (`predict`, `weights`, `model.name`,
    `runtime`), made by `zoo.load_classifier` when the graphs of its weights are cached.
    Training needs the Keras classes.
    """

    runtime = "onnx"
    batch_size = ONNX_BATCH

    def __init__(self, architecture: str, weights: str, paths: dict):
        from types import SimpleNamespace

        self.model = SimpleNamespace(name=architecture)
        self.weights = weights
        self._forward = onnx_forward(paths)

    def predict(self, x) -> np.ndarray:
        """P(real) of each face, shape (N, 1); 0 = deepfake/Face2Face, 1 = real."""
        return predict_in_batches(self._forward, check_faces(x), self.batch_size)

    def fit(self, x, y):
        raise NotImplementedError("Training needs Keras: use classifiers.load_classifier")

    get_accuracy = fit


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--weights", required=True, help="weights name or file")
    p.add_argument("--model", help="architecture, when the weights do not say")
    p.add_argument("--output", required=True, help="the .onnx file to write")
    args = p.parse_args(argv)
    reporting.setup_logging()
    from classifiers import load_classifier

    try:
        clf = load_classifier(args.model, args.weights)
        proto = to_onnx(clf.model)
    except (ValueError, OSError) as e:
        logger.error("%s", e)
        return 2
    tmp = Path(args.output).with_suffix(".tmp.onnx")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, args.output)
    print(f"Wrote {args.output} ({os.path.getsize(args.output) // 1024} KiB): "
          f"{clf.model.name} with weights {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
