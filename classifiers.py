"""MesoNet networks (Afchar et al., WIFS 2018) in Keras 3, with the original API.

Builders return named-layer Functional models (`meso4()`, `meso_inception4()`,
`meso1()`); the wrapper classes `Meso4`, `MesoInception4` and `Meso1` keep the
original `predict / fit / get_accuracy / load` API.

Every model takes 256x256 RGB faces and outputs one sigmoid unit: P(real).
0 = deepfake / Face2Face, 1 = real (the class folders `df` < `real` sort that way).

Inputs to `predict`: uint8 RGB in [0, 255] (rescaled inside the compiled graph)
or float in [0, 1], shape (N, 256, 256, 3).

This module knows nothing about files of images or videos; it does know where
weights live (`resolve_weights`), as `keras.applications` does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import urllib.request
import warnings
from pathlib import Path

import numpy as np

import keras
from keras import layers

logger = logging.getLogger(__name__)

IMGWIDTH = 256
BN_EPSILON = 1e-3  # Keras 2's default; the original weights' moving statistics assume it

# --------------------------------------------------------------------------------------
# Builders


def _conv_bn_pool(x, filters, kernel, pool, block):
    x = layers.Conv2D(filters, kernel, padding="same", activation="relu", name=f"{block}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{block}_bn")(x)
    return layers.MaxPooling2D(pool_size=pool, padding="same", name=f"{block}_pool")(x)


def _head(x):
    x = layers.Flatten(name="flatten")(x)  # 16 x 8 x 8 -> 1024
    x = layers.Dropout(0.5, name="dropout1")(x)
    x = layers.Dense(16, name="dense1")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="leaky_relu")(x)
    x = layers.Dropout(0.5, name="dropout2")(x)
    return layers.Dense(1, activation="sigmoid", name="p_real")(x)


def meso4(name: str = "meso4") -> keras.Model:
    """Meso-4: four conv blocks and a 16-unit head; 27,977 trainable parameters."""
    inputs = keras.Input(shape=(IMGWIDTH, IMGWIDTH, 3), name="face")
    x = _conv_bn_pool(inputs, 8, (3, 3), (2, 2), "block1")  # 256 -> 128
    x = _conv_bn_pool(x, 8, (5, 5), (2, 2), "block2")  # 128 -> 64
    x = _conv_bn_pool(x, 16, (5, 5), (2, 2), "block3")  # 64 -> 32
    x = _conv_bn_pool(x, 16, (5, 5), (4, 4), "block4")  # 32 -> 8
    return keras.Model(inputs, _head(x), name=name)


def _inception(x, a, b, c, d, block):
    """The paper's inception module: 1x1, 1x1+3x3, 1x1+3x3 dilated 2, 1x1+3x3 dilated 3.

    Layers are created in the original's order (x1, x2a, x2b, x3a, x3b, x4a, x4b): the
    legacy weight mapping relies on that creation order, not on the graph's layer order.
    """
    conv = lambda f, k, n, r=1: layers.Conv2D(  # noqa: E731
        f, k, dilation_rate=r, padding="same", activation="relu", name=f"{block}_{n}")
    x1 = conv(a, 1, "b1_1x1")(x)
    x2 = conv(b, 3, "b2_3x3")(conv(b, 1, "b2_1x1")(x))
    x3 = conv(c, 3, "b3_3x3_d2", 2)(conv(c, 1, "b3_1x1")(x))
    x4 = conv(d, 3, "b4_3x3_d3", 3)(conv(d, 1, "b4_1x1")(x))
    return layers.Concatenate(axis=-1, name=f"{block}_concat")([x1, x2, x3, x4])


def meso_inception4(name: str = "mesoinception4") -> keras.Model:
    """MesoInception-4: two inception blocks, two conv blocks; 28,615 trainable parameters."""
    inputs = keras.Input(shape=(IMGWIDTH, IMGWIDTH, 3), name="face")
    x = _inception(inputs, 1, 4, 4, 2, "incep1")  # 11 channels
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="incep1_bn")(x)
    x = layers.MaxPooling2D(2, padding="same", name="incep1_pool")(x)  # 256 -> 128
    x = _inception(x, 2, 4, 4, 2, "incep2")  # 12 channels
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="incep2_bn")(x)
    x = layers.MaxPooling2D(2, padding="same", name="incep2_pool")(x)  # 128 -> 64
    x = _conv_bn_pool(x, 16, (5, 5), (2, 2), "block3")  # 64 -> 32
    x = _conv_bn_pool(x, 16, (5, 5), (4, 4), "block4")  # 32 -> 8
    return keras.Model(inputs, _head(x), name=name)


def meso1(dl_rate: int = 1, name: str = "meso1") -> keras.Model:
    """Meso-1: one (optionally dilated) conv, a 1x1 conv, 8x8 pooling, a sigmoid."""
    inputs = keras.Input(shape=(IMGWIDTH, IMGWIDTH, 3), name="face")
    x = layers.Conv2D(16, 3, dilation_rate=dl_rate, padding="same", activation="relu",
                      name="block1_conv")(inputs)
    x = layers.Conv2D(4, 1, padding="same", activation="relu", name="block1_conv1x1")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="block1_bn")(x)
    x = layers.MaxPooling2D(8, padding="same", name="block1_pool")(x)  # 256 -> 32
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="dropout1")(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="p_real")(x), name=name)


BUILDERS = {"meso4": meso4, "mesoinception4": meso_inception4, "meso1": meso1}


def build(name: str) -> keras.Model:
    """Look a builder up by name ('meso4', 'mesoinception4', 'meso1')."""
    try:
        return BUILDERS[name]()
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; known models: {', '.join(BUILDERS)}") from None


# --------------------------------------------------------------------------------------
# Weights: names, files, downloads

ORIGINAL_URL = "https://raw.githubusercontent.com/DariusAf/MesoNet/master/weights/"

# The authors' weights (Apache-2.0), by name: (architecture, file name, SHA-256, trained on)
ORIGINAL_WEIGHTS = {
    "meso4-df": ("meso4", "Meso4_DF.h5",
                 "036ed30d04ffd9c7506f825b97c86aa64915f5818931da96817b169aad790af5",
                 "the authors' Deepfake face-swap set"),
    "meso4-f2f": ("meso4", "Meso4_F2F.h5",
                  "bcfda015d217b9f8d6557693edbdf9f4e79cfd22672541968dd0e2954462b5d7",
                  "FaceForensics Face2Face re-enactment"),
    "mesoinception4-df": ("mesoinception4", "MesoInception_DF.h5",
                          "234586d40058e76ef8b6f27ca4b63c06e31c2a5a69c0d8ba6f30b1468ab7bafa",
                          "the authors' Deepfake face-swap set"),
    "mesoinception4-f2f": ("mesoinception4", "MesoInception_F2F.h5",
                           "d4533ac8a3197dc35c47405d23d99e888c1d0135e267e03540c7451feaccff3f",
                           "FaceForensics Face2Face re-enactment"),
}

PROJECT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: what the scripts use when no --weights is given: the project's own Meso4, which beats
#: the authors' weights on the project's validation split (weights/meso4-corpus.md);
#: the originals stay one flag away (--weights meso4-df)
DEFAULT_WEIGHTS = "meso4-corpus"


def _cache_dir() -> Path:
    env = os.environ.get("MESONET_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mesonet"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def project_weights() -> dict[str, Path]:
    """Weights the project trained itself and ships in weights/: name -> file."""
    return {p.name[: -len(".weights.h5")]: p
            for p in sorted(PROJECT_WEIGHTS_DIR.glob("*.weights.h5"))}


def available_weights() -> list[str]:
    """Every weights name `resolve_weights` understands."""
    return sorted(project_weights()) + list(ORIGINAL_WEIGHTS)


def trained_on(name: str) -> str:
    """What a weights name was trained on, in words, for every output to say."""
    if name in ORIGINAL_WEIGHTS:
        return ORIGINAL_WEIGHTS[name][3]
    if name in project_weights():
        return (f"this project's mixed corpus of face swaps, GAN faces and splices "
                f"(model card: weights/{name}.md)")
    return "unknown (a weights file given by path)"


def _download(url: str, dest: Path, sha256: str) -> Path:
    """Fetch url to dest atomically, refusing a file whose SHA-256 differs."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading %s to %s", url, dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        got = sha256_of(tmp)
        if got != sha256:
            raise ValueError(f"Downloaded weights {url} are corrupt: SHA-256 {got}, "
                             f"expected {sha256}; nothing was kept")
        os.replace(tmp, dest)
    except OSError as e:
        raise OSError(f"Could not download weights from {url}: {e}. Put {dest.name} in "
                      f"weights/ or in the folder named by MESONET_WEIGHTS_DIR") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """Return a local file for a weights name ('meso4-df', a project name) or a path.

    An original name is looked up in $MESONET_WEIGHTS_DIR, then weights/, then the user
    cache, and finally downloaded from the original repository (override the address with
    $MESONET_WEIGHTS_URL); every original file is checked against its pinned SHA-256.
    """
    key = str(name_or_path)
    if key in ORIGINAL_WEIGHTS:
        _, filename, sha256, _ = ORIGINAL_WEIGHTS[key]
        folders = [os.environ.get("MESONET_WEIGHTS_DIR"), PROJECT_WEIGHTS_DIR, _cache_dir()]
        for folder in filter(None, folders):
            candidate = Path(folder) / filename
            if candidate.is_file():
                got = sha256_of(candidate)
                if got != sha256:
                    raise ValueError(f"Weights file {candidate} does not match {key}: "
                                     f"SHA-256 {got}, expected {sha256}")
                return candidate
        base = os.environ.get("MESONET_WEIGHTS_URL", ORIGINAL_URL)
        return _download(base.rstrip("/") + "/" + filename, _cache_dir() / filename, sha256)
    shipped = project_weights()
    if key in shipped:
        return shipped[key]
    path = Path(key).expanduser()
    if path.is_file():
        return path
    if path.suffix or os.sep in key:
        raise FileNotFoundError(f"Weights file {key} does not exist")
    raise ValueError(f"Unknown weights {key!r}: give a file path or one of "
                     f"{', '.join(available_weights())}")


def architecture_of_weights(name_or_path: str | os.PathLike) -> str | None:
    """The architecture a weights name or file was made for, when it says so."""
    key = str(name_or_path)
    if key in ORIGINAL_WEIGHTS:
        return ORIGINAL_WEIGHTS[key][0]
    import h5py

    try:
        with h5py.File(resolve_weights(key), "r") as f:
            arch = f.attrs.get("mesonet_architecture")
    except OSError:
        return None
    return arch.decode() if isinstance(arch, bytes) else arch


# --------------------------------------------------------------------------------------
# Reading weights files


def _legacy_groups(f) -> dict[str, list]:
    """Weighted layers of a Keras 2 weights-only file, by type, in creation order.

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


_LEGACY_TYPES = {layers.Conv2D: "conv2d", layers.BatchNormalization: "batch_normalization",
                 layers.Dense: "dense"}
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


def legacy_name_map(model: keras.Model, path: str | os.PathLike) -> dict[str, tuple[str, list]]:
    """Map each weighted layer of `model` to (legacy layer name, arrays) from a Keras 2 file."""
    import h5py

    if model.name not in LEGACY_CREATION_ORDER:
        raise ValueError(f"No legacy weight mapping for model {model.name!r}")
    ours: dict[str, list] = {}
    for name in LEGACY_CREATION_ORDER[model.name]:
        layer = model.get_layer(name)
        ours.setdefault(_LEGACY_TYPES[type(layer)], []).append(layer)
    with h5py.File(path, "r") as f:
        theirs = _legacy_groups(f)
    if sorted(ours) != sorted(theirs) or any(len(ours[t]) != len(theirs[t]) for t in ours):
        counts = lambda d: {t: len(v) for t, v in sorted(d.items())}  # noqa: E731
        raise ValueError(f"Weights file {path} does not fit {model.name}: it has "
                         f"{counts(theirs)} weighted layers, the model has {counts(ours)}")
    mapping = {}
    for t, our_layers in ours.items():
        for layer, (_, legacy_name, arrays) in zip(our_layers, theirs[t]):
            expected = [tuple(w.shape) for w in layer.weights]
            got = [a.shape for a in arrays]
            if expected != got:
                raise ValueError(f"Weights file {path} does not fit {model.name}: layer "
                                 f"{legacy_name} has shapes {got}, {layer.name} needs {expected}")
            mapping[layer.name] = (legacy_name, arrays)
    return mapping


def load_weights_file(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a Keras 2 weights-only file (by explicit name mapping) or one of ours."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            legacy = "layer_names" in f.attrs
            arch = f.attrs.get("mesonet_architecture")
    except OSError as e:
        raise ValueError(f"Weights file {path} is not a readable HDF5 weights file: {e}") from None
    if legacy:
        for layer_name, (_, arrays) in legacy_name_map(model, path).items():
            model.get_layer(layer_name).set_weights(arrays)
        return
    arch = arch.decode() if isinstance(arch, bytes) else arch
    if arch and arch != model.name:
        raise ValueError(f"Weights file {path} holds {arch} weights, not {model.name}")
    try:
        with warnings.catch_warnings():  # a compiled model's unbuilt optimizer is not ours to load
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(path)
    except Exception as e:  # Keras raises several types for a mismatched file
        raise ValueError(f"Weights file {path} does not fit {model.name}: {e}") from None


def save_weights_file(model: keras.Model, path: str | os.PathLike, **metadata) -> Path:
    """Save weights atomically as `<path>.weights.h5`, tagged with the architecture."""
    import h5py

    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        path = path.with_name(path.name.removesuffix(".h5") + ".weights.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.removesuffix(".weights.h5") + ".tmp.weights.h5")
    model.save_weights(tmp)
    with h5py.File(tmp, "a") as f:
        f.attrs["mesonet_architecture"] = model.name
        for key, value in metadata.items():
            f.attrs[key] = value
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------
# Fast inference: uint8 or float batches through one compiled, fixed-shape function


def _compile_forward(model: keras.Model):
    """A compiled function: (batch of images) -> P(real), rescaling uint8 inside the graph.

    One trace per input dtype; callers pad batches to a fixed size so shapes never change.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
        def forward(x):
            scale = 1.0 / 255.0 if x.dtype == tf.uint8 else 1.0
            return model(tf.cast(x, tf.float32) * scale, training=False)

        return lambda x: forward(x).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def forward_jax(trainable, non_trainable, x):
            scale = 1.0 / 255.0 if x.dtype == jnp.uint8 else 1.0
            x = x.astype(jnp.float32) * scale
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        def run(x):
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            return np.asarray(forward_jax(trainable, non_trainable, x))

        return run
    return lambda x: keras.ops.convert_to_numpy(model(
        x.astype("float32") / (255.0 if x.dtype == np.uint8 else 1.0), training=False))


RUNTIMES = ("auto", "keras", "onnx")


def resolve_runtime(runtime: str = "auto") -> str:
    """'keras' (compiled XLA / jax.jit) or 'onnx' (ONNX Runtime, the fastest on a CPU).

    'auto' takes ONNX Runtime when it is installed and Keras runs on TensorFlow's CPU
    build; on JAX (the GPU backend here) it keeps the jitted Keras path.
    """
    import importlib.util

    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    if keras.backend.backend() == "tensorflow" and importlib.util.find_spec("onnxruntime"):
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return "onnx"
    return "keras"


def check_faces(x) -> np.ndarray:
    """Validate a batch for prediction: (N, 256, 256, 3) uint8, or float in [0, 1]."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1:] != (IMGWIDTH, IMGWIDTH, 3):
        raise ValueError(f"Expected faces of shape (N, {IMGWIDTH}, {IMGWIDTH}, 3); "
                         f"received shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"Expected uint8 in [0, 255] or float in [0, 1]; received {x.dtype}")
    if x.size and float(x.max()) > 1.0 + 1e-6:
        raise ValueError("Float faces must be in [0, 1] (the networks were trained on x/255); "
                         f"received values up to {float(x.max()):.1f}. Pass uint8 or divide by 255")
    return x.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------
# The original API


class Classifier:
    """Wraps a compiled Keras model with the original MesoNet API."""

    model: keras.Model

    def __init__(self, model: keras.Model, learning_rate: float, runtime: str = "keras"):
        self.model = model
        self.runtime = resolve_runtime(runtime)
        # faces per compiled call; batches are padded to this fixed shape (no retracing).
        # ONNX Runtime on a CPU is fastest on small batches (bench/bench_inference.py).
        self.batch_size = 16 if self.runtime == "onnx" else 64
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                           loss="mean_squared_error", metrics=["accuracy"])
        self.weights = None  # name or path of the weights loaded, for every output to cite
        self._forward = None

    def predict(self, x) -> np.ndarray:
        """P(real) of each face, shape (N, 1); 0 = deepfake/Face2Face, 1 = real.

        x: (N, 256, 256, 3) RGB, uint8 in [0, 255] or float in [0, 1].
        """
        x = check_faces(x)
        n = len(x)
        if n == 0:
            return np.zeros((0, 1), np.float32)
        if self._forward is None:
            if self.runtime == "onnx":
                from export import onnx_forward

                self._forward = onnx_forward(self.model)
            else:
                self._forward = _compile_forward(self.model)
        bs = self.batch_size
        out = []
        for start in range(0, n, bs):
            chunk = x[start:start + bs]
            if len(chunk) < bs:  # pad to the compiled shape; padded rows are dropped below
                pad = np.zeros((bs - len(chunk),) + chunk.shape[1:], chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            out.append(self._forward(chunk)[: min(bs, n - start)])
        return np.concatenate(out).astype(np.float32)

    def fit(self, x, y):
        """One training step on a batch (as the original): returns [loss, accuracy]."""
        self._forward = None
        return self.model.train_on_batch(check_faces(x), np.asarray(y, np.float32))

    def get_accuracy(self, x, y):
        """[loss, accuracy] on a batch, without training."""
        return self.model.test_on_batch(check_faces(x), np.asarray(y, np.float32))

    def load(self, path) -> "Classifier":
        """Load weights by name ('meso4-df', ...) or path: original Keras 2 files or ours."""
        arch = architecture_of_weights(path) if str(path) in ORIGINAL_WEIGHTS else None
        if arch and arch != self.model.name:
            raise ValueError(f"Weights {path!r} are for {arch}, not {self.model.name}")
        load_weights_file(self.model, resolve_weights(path))
        self.weights = str(path)
        self._forward = None
        return self

    def save(self, path, **metadata) -> Path:
        """Save weights (Keras 3 `.weights.h5`, tagged with the architecture)."""
        return save_weights_file(self.model, path, **metadata)


class Meso1(Classifier):
    def __init__(self, learning_rate: float = 0.001, dl_rate: int = 1, runtime: str = "keras"):
        super().__init__(meso1(dl_rate), learning_rate, runtime)


class Meso4(Classifier):
    def __init__(self, learning_rate: float = 0.001, runtime: str = "keras"):
        super().__init__(meso4(), learning_rate, runtime)


class MesoInception4(Classifier):
    def __init__(self, learning_rate: float = 0.001, runtime: str = "keras"):
        super().__init__(meso_inception4(), learning_rate, runtime)


CLASSIFIERS = {"meso4": Meso4, "mesoinception4": MesoInception4, "meso1": Meso1}


def load_classifier(model: str | None = None, weights: str | os.PathLike | None = None,
                    runtime: str = "keras") -> Classifier:
    """A classifier with weights loaded; the architecture follows the weights when known.

    runtime: 'keras' (compiled Keras), 'onnx' (ONNX Runtime) or 'auto' (see resolve_runtime).
    """
    arch = architecture_of_weights(weights) if weights is not None else None
    model = model or arch or "meso4"
    if model not in CLASSIFIERS:
        raise ValueError(f"Unknown model {model!r}; known models: {', '.join(CLASSIFIERS)}")
    if arch and arch != model:
        raise ValueError(f"Weights {weights!r} are for {arch}, not {model}")
    classifier = CLASSIFIERS[model](runtime=runtime)
    if weights is not None:
        classifier.load(weights)
    return classifier
