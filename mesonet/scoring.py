"""Scoring faces without Keras: the face-array contract, batching, ONNX export and
ONNX Runtime, and the cache of exported graphs.

The ONNX graph is written layer by layer from a MesoNet's weights (MesoNet
has only convolutions, batch normalization, max pooling, dense layers and activations,
so no converter is needed): input uint8 NHWC faces (N, 256, 256, 3), rescaled inside the
graph; output P(real), (N, 1); 0 = deepfake/Face2Face, 1 = real. The batch dimension is
dynamic. Outputs match the Keras model within 1e-5 (tests/test_export.py). Exported
graphs are cached per weights file (`graph_cache_paths`), so that a later process scores
through `OnnxClassifier` without importing Keras or TensorFlow at all.

This module never imports Keras: `to_onnx` reads the layer records of architectures.py
with weights read from a file, or the weights of a Keras model it is given.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from mesonet.architectures import BN_EPSILON, LAYERS
from mesonet.contract import FACE_SIZE, RUNTIMES
from mesonet.workers import CORES_VARIABLE, process_cores

logger = logging.getLogger(__name__)

ONNX_BATCH = 16  # faces per ONNX Runtime call on a CPU (bench/bench_inference.py)


def check_faces(x, xp=np):
    """Validate a batch for prediction: (N, 256, 256, 3) uint8, or float in [0, 1].

    xp: the array module, numpy, or jax.numpy for batches kept on a device."""
    x = xp.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (FACE_SIZE, FACE_SIZE, 3):
        raise ValueError(f"Expected faces of shape (N, {FACE_SIZE}, {FACE_SIZE}, 3); "
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


def _consumers(layers) -> dict[str, list]:
    """For each layer name, the layers that read its output."""
    users: dict[str, list] = {}
    for layer in layers:
        for name in layer.inputs:
            users.setdefault(name, []).append(layer)
    return users


class _Graph:
    """An ONNX graph written layer by layer from MesoNet's layer records
    (architectures.LAYERS) and their weights arrays (see `to_onnx`)."""

    def __init__(self, layers, weights: dict, input_dtype: str):
        from onnx import TensorProto

        self.weights, self.nodes, self.inits = weights, [], []
        self.users = _consumers(layers)
        self.counter = iter(range(10_000))
        x = self.node("Transpose", ["face"], perm=[0, 3, 1, 2])  # NHWC -> NCHW (on bytes)
        # uint8 faces are rescaled by 1/255 inside the graph: folded into the kernels of the
        # convolutions that read the input (exact: they pad with zeros), else a Mul
        self.unscaled = {}
        if input_dtype == "uint8":
            x = self.node("Cast", [x], to=TensorProto.FLOAT)
            self.unscaled[x] = np.float32(1 / 255.0)
        self.values = {"face": x}
        self.pending_bn = {}  # batch normalizations moved after the pooling that follows them

    def const(self, array) -> str:
        from onnx import numpy_helper

        name = f"c{next(self.counter)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(self, op, inputs, **attrs) -> str:
        from onnx import helper

        out = f"t{next(self.counter)}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def value_of(self, name: str, conv: bool = False) -> str:
        value = self.values[name]
        if value in self.unscaled and not conv:
            self.values[name] = value = self.node("Mul", [value, self.const(
                self.unscaled.pop(value))])
        return value

    def batch_norm(self, x, bn) -> str:
        return self.node("BatchNormalization", [x, *bn], epsilon=BN_EPSILON)

    # one method per kind of layer: (layer, input names) -> output name

    def conv(self, layer, ins):
        kernel, bias = self.weights[layer.name]
        kernel = kernel * self.unscaled.get(ins[0], np.float32(1))
        kh, kw = kernel.shape[:2]
        d = layer.config["dilation"]
        pad = d * (kh - 1) // 2
        y = self.node("Conv", [ins[0], self.const(kernel.transpose(3, 2, 0, 1)), self.const(bias)],
                      kernel_shape=[kh, kw], dilations=[d, d], pads=[pad, pad, pad, pad])
        return self.node("Relu", [y]) if layer.config["activation"] == "relu" else y

    def bn(self, layer, ins):
        gamma, beta, mean, var = self.weights[layer.name]
        bn = [self.const(w) for w in (gamma, beta, mean, var)]
        users = self.users.get(layer.name, [])
        if (gamma > 0).all() and len(users) == 1 and users[0].kind == "pool":
            # BN is x * scale + shift per channel; with scale > 0 it commutes with the max
            # pooling that follows, so it runs after it, on 4 to 16 times fewer values. As a
            # BatchNormalization node (not Mul and Add) ONNX Runtime runs it in its blocked
            # layout as a depthwise convolution, without reordering the tensor
            self.pending_bn[layer.name] = bn
            return ins[0]
        return self.batch_norm(ins[0], bn)

    def pool(self, layer, ins):
        k = layer.config["size"]
        y = self.node("MaxPool", [ins[0]], kernel_shape=[k, k], strides=[k, k],
                      auto_pad="SAME_UPPER")
        moved = self.pending_bn.pop(layer.inputs[0], None)
        return self.batch_norm(y, moved) if moved else y

    def concat(self, layer, ins):
        return self.node("Concat", ins, axis=1)

    def flatten(self, layer, ins):  # Keras flattens NHWC: go back before flattening
        return self.node("Flatten", [self.node("Transpose", [ins[0]], perm=[0, 2, 3, 1])], axis=1)

    def dropout(self, layer, ins):
        return ins[0]

    def dense(self, layer, ins):
        kernel, bias = self.weights[layer.name]
        y = self.node("Gemm", [ins[0], self.const(kernel), self.const(bias)])
        return self.node("Sigmoid", [y]) if layer.config["activation"] == "sigmoid" else y

    def leaky(self, layer, ins):
        return self.node("LeakyRelu", [ins[0]], alpha=float(layer.config["slope"]))

    def add(self, layer) -> None:
        ins = [self.value_of(name, conv=layer.kind == "conv") for name in layer.inputs]
        self.values[layer.name] = getattr(self, layer.kind)(layer, ins)


def keras_weights(model) -> dict:
    """The arrays of a Keras MesoNet model's weighted layers, by layer name."""
    return {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}


def to_onnx(model, input_dtype: str = "uint8", weights: dict | None = None):
    """An onnx.ModelProto computing a MesoNet on NHWC input: uint8 in [0, 255] (rescaled
    in the graph) or float32 in [0, 1].

    model: a Keras MesoNet model (its layers' weights are read), or an architecture's name
    ('meso4', ...) with `weights`, the arrays by layer name (architectures.read_weights):
    the second needs no Keras."""
    import onnx
    from onnx import TensorProto, helper

    if input_dtype not in ("uint8", "float32"):
        raise ValueError(f"input_dtype must be uint8 or float32; received {input_dtype!r}")
    if isinstance(model, str):
        architecture = model
        if weights is None:
            raise ValueError("to_onnx needs the weights arrays with an architecture's name")
    else:
        architecture, weights = model.name, keras_weights(model)
    if architecture not in LAYERS:
        raise ValueError(f"Cannot export {architecture!r} to ONNX: only "
                         f"{', '.join(LAYERS)} are described layer by layer")
    layers = LAYERS[architecture]
    g = _Graph(layers, weights, input_dtype)
    for layer in layers:
        g.add(layer)
    g.nodes.append(helper.make_node("Identity", [g.value_of(layers[-1].name)], ["p_real"]))
    graph = helper.make_graph(
        g.nodes, architecture, [helper.make_tensor_value_info(
            "face", TensorProto.UINT8 if input_dtype == "uint8" else TensorProto.FLOAT,
            ["N", FACE_SIZE, FACE_SIZE, 3])],
        [helper.make_tensor_value_info("p_real", TensorProto.FLOAT, ["N", 1])], g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="mesonet")
    proto.doc_string = "P(real): 0 = deepfake/Face2Face, 1 = real. Input uint8 RGB NHWC."
    onnx.checker.check_model(proto)
    return proto


def combination_to_onnx(members: list, rule: str = "min", input_dtype: str = "uint8",
                        name: str = "combination"):
    """One ONNX graph for a combination (Combination's rule inside it): members are
    (architecture, weights arrays) pairs; the graph computes each member's P(real) from
    the same faces and outputs the lowest, so it runs wherever ONNX runs."""
    import onnx
    from onnx import helper

    if rule not in Combination.RULES:
        raise ValueError(f"Unknown combination rule {rule!r}; known: {', '.join(Combination.RULES)}")
    nodes, inits, outputs = [], [], []
    for i, (architecture, weights) in enumerate(members):
        graph = to_onnx(architecture, input_dtype, weights).graph
        rename = {t.name: f"m{i}_{t.name}" for t in graph.initializer}
        rename.update({o: f"m{i}_{o}" for n in graph.node for o in n.output})
        for init in graph.initializer:
            init.name = rename[init.name]
            inits.append(init)
        for node in graph.node:
            node.input[:] = [rename.get(x, x) for x in node.input]  # 'face' stays shared
            node.output[:] = [rename[x] for x in node.output]
            nodes.append(node)
        outputs.append(rename["p_real"])
    nodes.append(helper.make_node("Min", outputs, ["p_real"]))
    first = to_onnx(members[0][0], input_dtype, members[0][1]).graph
    graph = helper.make_graph(nodes, name, list(first.input), list(first.output), inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="mesonet")
    proto.doc_string = (f"P(real), the lowest of {len(members)} MesoNet members': 0 = "
                        "deepfake/Face2Face, 1 = real. Input uint8 RGB NHWC.")
    onnx.checker.check_model(proto)
    return proto


def _session(source, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not threads and os.environ.get(CORES_VARIABLE):  # a pool worker's share of the cores
        threads = process_cores()
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
        if isinstance(model, dict) and dtype not in model:
            raise ValueError(f"this graph takes {' or '.join(model)} faces, not {x.dtype}")
        if dtype not in sessions:  # one graph per input type, built on first use
            if isinstance(model, dict):  # a file, or a graph already serialized
                source = model[dtype] if isinstance(model[dtype], bytes) else str(model[dtype])
            else:
                source = to_onnx(model, dtype).SerializeToString()
            sessions[dtype] = _session(source, threads)
        return sessions[dtype].run(None, {"face": np.ascontiguousarray(x, dtype)})[0]

    return run


# --------------------------------------------------------------------------------------
# Scoring without Keras: graphs exported once, kept in the user cache


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_runtime(runtime: str = "auto") -> str:
    """'onnx' (ONNX Runtime, the fastest on a CPU) or 'keras' (compiled XLA / jax.jit),
    decided here for every caller, without importing TensorFlow.

    'auto' takes ONNX Runtime when it is installed, Keras would run on TensorFlow (the
    default backend) and the machine has no NVIDIA GPU; on JAX (the GPU backend here) or
    with a GPU it keeps the jitted Keras path."""
    import json

    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    backend = os.environ.get("KERAS_BACKEND")
    if backend is None:
        config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
        try:
            backend = json.loads(config.read_text()).get("backend")
        except (OSError, ValueError):
            backend = None
    on_cpu = (backend or "tensorflow") == "tensorflow" and not any(
        Path("/dev").glob("nvidia[0-9]*"))
    return "onnx" if on_cpu and onnx_available() else "keras"


def graph_cache_paths(record) -> dict:
    """Where the ONNX graphs of a weights file (a zoo.WeightsRecord) live in the cache: one
    per input type, named by the SHA-256 of the weights and of this exporter (a change to
    either makes new ones)."""
    import hashlib

    from mesonet.zoo import cache_dir

    exporter = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    stem = f"{record.architecture}-{record.sha256[:24]}-{exporter}"
    return {dtype: cache_dir() / "onnx" / f"{stem}-{dtype}.onnx" for dtype in ("uint8", "float32")}


class OnnxClassifier:
    """Scores faces through cached ONNX graphs with ONNX Runtime; Keras is never loaded.

    The scoring half of `classifiers.Classifier` (`predict`, `weights`, `model.name`,
    `runtime`), made by `scorers.load_scorer`. paths: {'uint8': graph, 'float32': graph},
    each a file or the serialized graph. Training needs the Keras classes.
    """

    runtime = "onnx"
    precision = "float32"
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


class Combination:
    """Several weights scoring the same faces as one: P(real) is the lowest of theirs, so a
    face that any member calls forged is called forged (specialists for different forgery
    families combined; weights/README.md). Made by `scorers.load_scorer` for a
    combination name (`weights/NAME.combination.json`).

    members: the member scorers, each with `predict`, `weights` and `model.name`.
    """

    RULES = ("min",)

    def __init__(self, name: str, members: list, rule: str = "min"):
        from types import SimpleNamespace

        if rule not in self.RULES:
            raise ValueError(f"Combination {name}: unknown rule {rule!r}; known: "
                             f"{', '.join(self.RULES)}")
        if len(members) < 2:
            raise ValueError(f"Combination {name} needs at least two members")
        self.weights, self.members, self.rule = name, list(members), rule
        parts = [f"{m.weights} ({m.model.name})" for m in self.members]
        self.model = SimpleNamespace(name="the lower P(real) of " + " and ".join(parts))
        runtimes = {getattr(m, "runtime", None) for m in self.members}
        self.runtime = runtimes.pop() if len(runtimes) == 1 else "mixed"

    def member_scores(self, x) -> np.ndarray:
        """Each member's P(real), shape (members, N, 1)."""
        x = check_faces(x)
        return np.stack([np.asarray(m.predict(x), np.float32) for m in self.members])

    def predict(self, x) -> np.ndarray:
        """P(real) of each face, shape (N, 1): the lowest member's; 0 = forged, 1 = real."""
        return self.member_scores(x).min(axis=0)

    def deciding_member(self, x) -> np.ndarray:
        """For each face, the index of the member whose P(real) was taken."""
        return self.member_scores(x)[:, :, 0].argmin(axis=0)

    def fit(self, x, y):
        raise NotImplementedError("A combination is not trained: train its members")

    get_accuracy = fit
