"""MesoNet's three networks as data, and their weights read without Keras.

The Keras builders (`classifiers.meso4()`, ...) are the readable definition; this module
states the same layers as plain records, in the order Keras 3 lists them
(`model.layers`), so that a weights file can be turned into an ONNX graph and scored with
ONNX Runtime in an install without TensorFlow or Keras (scoring.to_onnx). A test holds
the records against the Keras models (tests/test_export.py), so the two cannot drift.

Weights files come in two kinds, both read with h5py alone:
- the authors' Keras 2.1.5 weights-only files: weighted layers named by creation order
  (conv2d_7), paired with ours by type in the original's creation order
  (`LEGACY_CREATION_ORDER`; MesoInception4 has same-shape sibling convolutions, so the
  pairing must be explicit);
- ours (Keras 3 `.weights.h5`, tagged `mesonet_architecture`): `layers/<class>_<k>/vars/i`,
  where k counts layers of one class in `model.layers` order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BN_EPSILON = 1e-3  # Keras 2's default; the original weights' moving statistics assume it


@dataclass(frozen=True)
class Layer:
    """One layer: its Keras name, kind (conv, bn, pool, concat, flatten, dropout, dense,
    leaky), the names of the layers it reads ('face' is the input) and its settings."""
    name: str
    kind: str
    inputs: tuple
    config: dict = field(default_factory=dict)


def _conv(name, inp, filters, kernel, dilation=1):
    return Layer(name, "conv", (inp,), {"filters": filters, "kernel": kernel,
                                        "dilation": dilation, "activation": "relu"})


def _block(block, inp, filters, kernel, pool):
    return [_conv(f"{block}_conv", inp, filters, kernel),
            Layer(f"{block}_bn", "bn", (f"{block}_conv",)),
            Layer(f"{block}_pool", "pool", (f"{block}_bn",), {"size": pool})]


def _head(inp):
    return [Layer("flatten", "flatten", (inp,)), Layer("dropout1", "dropout", ("flatten",)),
            Layer("dense1", "dense", ("dropout1",), {"units": 16, "activation": None}),
            Layer("leaky_relu", "leaky", ("dense1",), {"slope": 0.1}),
            Layer("dropout2", "dropout", ("leaky_relu",)),
            Layer("p_real", "dense", ("dropout2",), {"units": 1, "activation": "sigmoid"})]


def _inception(block, inp, a, b, c, d):
    """The paper's inception module, listed as Keras 3 orders it: the 1x1 convolutions that
    start branches 2-4, then branch 1, then the 3x3 convolutions, then the concatenation."""
    return [_conv(f"{block}_b2_1x1", inp, b, 1), _conv(f"{block}_b3_1x1", inp, c, 1),
            _conv(f"{block}_b4_1x1", inp, d, 1), _conv(f"{block}_b1_1x1", inp, a, 1),
            _conv(f"{block}_b2_3x3", f"{block}_b2_1x1", b, 3),
            _conv(f"{block}_b3_3x3_d2", f"{block}_b3_1x1", c, 3, 2),
            _conv(f"{block}_b4_3x3_d3", f"{block}_b4_1x1", d, 3, 3),
            Layer(f"{block}_concat", "concat", tuple(f"{block}_{n}" for n in (
                "b1_1x1", "b2_3x3", "b3_3x3_d2", "b4_3x3_d3"))),
            Layer(f"{block}_bn", "bn", (f"{block}_concat",)),
            Layer(f"{block}_pool", "pool", (f"{block}_bn",), {"size": 2})]


def _meso1(dl_rate: int = 1):
    return [_conv("block1_conv", "face", 16, 3, dl_rate),
            _conv("block1_conv1x1", "block1_conv", 4, 1),
            Layer("block1_bn", "bn", ("block1_conv1x1",)),
            Layer("block1_pool", "pool", ("block1_bn",), {"size": 8}),
            Layer("flatten", "flatten", ("block1_pool",)),
            Layer("dropout1", "dropout", ("flatten",)),
            Layer("p_real", "dense", ("dropout1",), {"units": 1, "activation": "sigmoid"})]


#: architecture -> its layers in Keras 3's `model.layers` order (the input excluded)
LAYERS = {
    "meso4": (_block("block1", "face", 8, 3, 2) + _block("block2", "block1_pool", 8, 5, 2)
              + _block("block3", "block2_pool", 16, 5, 2)
              + _block("block4", "block3_pool", 16, 5, 4) + _head("block4_pool")),
    "mesoinception4": (_inception("incep1", "face", 1, 4, 4, 2)
                       + _inception("incep2", "incep1_pool", 2, 4, 4, 2)
                       + _block("block3", "incep2_pool", 16, 5, 2)
                       + _block("block4", "block3_pool", 16, 5, 4) + _head("block4_pool")),
    "meso1": _meso1(),
}

_INCEPTION_BRANCHES = ("b1_1x1", "b2_1x1", "b2_3x3", "b3_1x1", "b3_3x3_d2", "b4_1x1", "b4_3x3_d3")
_HEAD = ["dense1", "p_real"]

#: Our weighted layers in the order the original classifiers.py created them (the order
#: that Keras 2's automatic names count in). The legacy mapping pairs them by type.
LEGACY_CREATION_ORDER = {
    "meso4": [f"block{i}_{k}" for i in range(1, 5) for k in ("conv", "bn")] + _HEAD,
    "mesoinception4": [f"incep{i}_{k}" for i in (1, 2) for k in _INCEPTION_BRANCHES + ("bn",)]
    + [f"block{i}_{k}" for i in (3, 4) for k in ("conv", "bn")] + _HEAD,
    "meso1": ["block1_conv", "block1_conv1x1", "block1_bn", "p_real"],
}

#: our kinds -> the class names Keras uses in weights files (Keras 2 and 3 alike)
KERAS_CLASS = {"conv": "conv2d", "bn": "batch_normalization", "dense": "dense"}


def layers_of(architecture: str) -> list[Layer]:
    try:
        return LAYERS[architecture]
    except KeyError:
        raise ValueError(f"Unknown model {architecture!r}; known models: "
                         f"{', '.join(LAYERS)}") from None


def legacy_groups(f) -> dict[str, list]:
    """Weighted layers of a Keras 2 weights-only file (an open h5py.File), by type, in
    creation order: {type: [(number, name, arrays)]}.

    Keras 2 stored layers by graph depth, but its automatic names (conv2d_7) count in
    creation order; sorting by that number recovers the order our builders create layers.
    """
    by_type: dict[str, list] = {}
    for raw in f.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else raw
        group = f[name]
        weight_names = [w.decode() if isinstance(w, bytes) else w
                        for w in group.attrs["weight_names"]]
        if not weight_names:
            continue
        m = re.fullmatch(r"([a-z0-9_]+?)(?:_(\d+))?", name)
        by_type.setdefault(m.group(1), []).append(
            (int(m.group(2) or 0), name, [np.asarray(group[w]) for w in weight_names]))
    return {t: sorted(v) for t, v in by_type.items()}


def expected_shapes(architecture: str) -> dict[str, list[tuple]]:
    """Each weighted layer's array shapes, as Keras holds them."""
    shapes, channels = {}, {"face": 3}
    for layer in layers_of(architecture):
        c = layer.config
        cin = sum(channels[i] for i in layer.inputs) if layer.kind == "concat" else \
            channels.get(layer.inputs[0])
        if layer.kind == "conv":
            shapes[layer.name] = [(c["kernel"], c["kernel"], cin, c["filters"]), (c["filters"],)]
            channels[layer.name] = c["filters"]
        elif layer.kind == "bn":
            shapes[layer.name] = [(cin,)] * 4
            channels[layer.name] = cin
        elif layer.kind == "flatten":
            channels[layer.name] = None  # the dense layer's input size is read from its file
        elif layer.kind == "dense":
            shapes[layer.name] = [(None, c["units"]), (c["units"],)]
            channels[layer.name] = c["units"]
        else:
            channels[layer.name] = cin
    return shapes


def _fits(shapes, arrays) -> bool:
    return len(shapes) == len(arrays) and all(
        len(s) == a.ndim and all(x is None or x == y for x, y in zip(s, a.shape))
        for s, a in zip(shapes, arrays))


def read_weights(architecture: str, path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """The arrays of every weighted layer of `architecture` in a weights file, by our layer
    name, without Keras: conv [kernel HWIO, bias], bn [gamma, beta, mean, variance],
    dense [kernel, bias]. Raises ValueError naming the file when it does not fit."""
    import h5py

    path = Path(path)
    wanted = expected_shapes(architecture)
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs:
                found = _legacy_arrays(architecture, f, path)
            else:
                arch = f.attrs.get("mesonet_architecture")
                arch = arch.decode() if isinstance(arch, bytes) else arch
                if arch and arch != architecture:
                    raise ValueError(f"Weights file {path} holds {arch} weights, not "
                                     f"{architecture}")
                found, counters = {}, {}
                for layer in layers_of(architecture):
                    if layer.name not in wanted:
                        continue
                    cls = KERAS_CLASS[layer.kind]
                    k = counters.get(cls, 0)
                    counters[cls] = k + 1
                    key = f"layers/{cls}" + (f"_{k}" if k else "") + "/vars"
                    if key not in f:
                        raise ValueError(f"Weights file {path} does not fit {architecture}: "
                                         f"it has no {key}")
                    group = f[key]
                    found[layer.name] = [np.asarray(group[str(i)]) for i in range(len(group))]
    except OSError as e:
        raise ValueError(f"Weights file {path} is not a readable HDF5 weights file: {e}") \
            from None
    for name, shapes in wanted.items():
        if not _fits(shapes, found[name]):
            raise ValueError(f"Weights file {path} does not fit {architecture}: layer {name} "
                             f"has shapes {[a.shape for a in found[name]]}, needs {shapes}")
    return found


def _legacy_arrays(architecture, f, path) -> dict[str, list[np.ndarray]]:
    """Pair a Keras 2 file's weighted layers with ours by type, in creation order."""
    ours: dict[str, list[str]] = {}
    kinds = {layer.name: layer.kind for layer in layers_of(architecture)}
    for name in LEGACY_CREATION_ORDER[architecture]:
        ours.setdefault(KERAS_CLASS[kinds[name]], []).append(name)
    theirs = legacy_groups(f)
    if sorted(ours) != sorted(theirs) or any(len(ours[t]) != len(theirs[t]) for t in ours):
        counts = lambda d: {t: len(v) for t, v in sorted(d.items())}  # noqa: E731
        raise ValueError(f"Weights file {path} does not fit {architecture}: it has "
                         f"{counts(theirs)} weighted layers, the model has {counts(ours)}")
    return {name: arrays for t, names in ours.items()
            for name, (_, _, arrays) in zip(names, theirs[t])}
