"""MesoNet networks (Afchar et al., WIFS 2018) in Keras 3, with the original API.

Builders return named-layer Functional models (`meso4()`, `meso_inception4()`,
`meso1()`); the wrapper classes `Meso4`, `MesoInception4` and `Meso1` keep the
original `predict / fit / get_accuracy / load` API.

Every model takes 256x256 RGB faces and outputs one sigmoid unit: P(real).
0 = deepfake / Face2Face, 1 = real (the class folders `df` < `real` sort that way).

Inputs to `predict`: uint8 RGB in [0, 255] (rescaled inside the compiled graph)
or float in [0, 1], shape (N, 256, 256, 3).

This module knows nothing about files of images or videos; weights names resolve
through the registry (`zoo.resolve`), and scoring without Keras (the face-array
contract, batching, ONNX Runtime) lives in `scoring`.

    from mesonet.classifiers import Meso4, load_classifier
    clf = load_classifier(weights="meso4-df")       # or Meso4().load("meso4-df")
    p_real = clf.predict(faces_uint8)               # (N, 1)
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from mesonet.quiet import filtered_stderr

with filtered_stderr():  # TensorFlow's INFO lines at load, not its warnings
    import keras
    from keras import layers

from mesonet import zoo
from mesonet.architectures import BN_EPSILON, LEGACY_CREATION_ORDER, legacy_groups
from mesonet.contract import FACE_SIZE as IMGWIDTH  # the original's name for it
from mesonet import scoring
from mesonet.scoring import ONNX_BATCH, check_faces, onnx_forward, predict_in_batches

logger = logging.getLogger(__name__)


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
    # the output stays float32 when the network computes in bfloat16 (mixed precision)
    return layers.Dense(1, activation="sigmoid", name="p_real", dtype="float32")(x)


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
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="p_real",
                                            dtype="float32")(x), name=name)


BUILDERS = {"meso4": meso4, "mesoinception4": meso_inception4, "meso1": meso1}


def build(name: str) -> keras.Model:
    """Look a builder up by name ('meso4', 'mesoinception4', 'meso1')."""
    try:
        return BUILDERS[name]()
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; known models: {', '.join(BUILDERS)}") from None


GPU_BATCH = 1024  # faces per compiled call on a GPU (bench/bench_inference.py --batch-size)


# --------------------------------------------------------------------------------------
# Reading weights files


_LEGACY_TYPES = {layers.Conv2D: "conv2d", layers.BatchNormalization: "batch_normalization",
                 layers.Dense: "dense"}


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
        theirs = legacy_groups(f)
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

    from mesonet.outputs import atomic_path

    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        path = path.with_name(path.name.removesuffix(".h5") + ".weights.h5")
    with atomic_path(path, suffix=".weights.h5") as tmp:  # Keras wants that suffix
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["mesonet_architecture"] = model.name
            for key, value in metadata.items():
                f.attrs[key] = value
    return path


# --------------------------------------------------------------------------------------
# Fast inference: uint8 or float batches through one compiled, fixed-shape function


PRECISIONS = ("float32", "float16", "bfloat16")


def _inference_model(model: keras.Model, precision: str) -> keras.Model:
    """`model` itself, or a copy of it computing in float16/bfloat16 (Keras mixed
    precision: the weights stay float32, the convolutions run in the reduced type)."""
    if precision == "float32":
        return model
    policy = f"mixed_{precision}"
    copy = keras.models.clone_model(model, clone_function=lambda layer: layer.__class__.from_config(
        {**layer.get_config(), "dtype": policy}))
    copy.set_weights(model.get_weights())
    return copy


def _compile_forward(model: keras.Model, precision: str = "float32"):
    """A compiled function: (batch of images) -> P(real), rescaling uint8 inside the graph.

    One trace per input dtype; callers pad batches to a fixed size so shapes never change.
    On JAX it returns a device array (so that device-resident batches stay on the device);
    elsewhere a numpy array.
    """
    source, model = model, _inference_model(model, precision)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
        def forward(x):
            scale = 1.0 / 255.0 if x.dtype == tf.uint8 else 1.0
            return tf.cast(model(tf.cast(x, tf.float32) * scale, training=False), tf.float32)

        return lambda x: forward(x).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def forward_jax(trainable, non_trainable, x):
            scale = 1.0 / 255.0 if x.dtype == jnp.uint8 else 1.0
            x = x.astype(jnp.float32) * scale
            y = model.stateless_call(trainable, non_trainable, x, training=False)[0]
            return y.astype(jnp.float32)

        def run(x):  # the weights of `source` as they are now, also after fit or load
            return forward_jax([v.value for v in source.trainable_variables],
                               [v.value for v in source.non_trainable_variables], x)

        return run
    return lambda x: keras.ops.convert_to_numpy(model(
        x.astype("float32") / (255.0 if x.dtype == np.uint8 else 1.0), training=False))


def _on_accelerator() -> bool:
    """Whether the Keras backend computes on a GPU."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def _array_module(x):
    """numpy, or jax.numpy for a JAX array (possibly on a GPU), to be scored where it lies."""
    if type(x).__module__.startswith("jax") and hasattr(x, "devices"):
        import jax.numpy as jnp

        return jnp
    return np


def resolve_runtime(runtime: str = "auto") -> str:
    """'keras' or 'onnx': scoring.resolve_runtime, where the choice is made for everyone."""
    return scoring.resolve_runtime(runtime)


# --------------------------------------------------------------------------------------
# The original API


def _unit_scale(x) -> np.ndarray:
    """Faces checked as for predict, as float32 in [0, 1]."""
    x = check_faces(x)
    return x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x


class Classifier:
    """Wraps a compiled Keras model with the original MesoNet API."""

    model: keras.Model

    def __init__(self, model: keras.Model, learning_rate: float, runtime: str = "auto",
                 precision: str = "float32"):
        self.model = model
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
        # reduced precision is Keras's: 'auto' then means the compiled Keras path
        self.runtime = "keras" if runtime == "auto" and precision != "float32" \
            else resolve_runtime(runtime)
        if precision != "float32" and self.runtime == "onnx":
            raise ValueError(f"precision {precision!r} needs runtime 'keras'; ONNX Runtime "
                             "on a CPU computes in float32")
        self.precision = precision  # what the compiled inference computes in
        # faces per compiled call; batches are padded to this fixed shape (no retracing).
        # ONNX Runtime on a CPU is fastest on small batches (bench/bench_inference.py);
        # a GPU needs large ones to be busy.
        self.batch_size = (ONNX_BATCH if self.runtime == "onnx"
                           else GPU_BATCH if _on_accelerator() else 64)
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                           loss="mean_squared_error", metrics=["accuracy"])
        self.weights = None  # name or path of the weights loaded, for every output to cite
        self._forward = None

    def predict(self, x) -> np.ndarray:
        """P(real) of each face, shape (N, 1); 0 = deepfake/Face2Face, 1 = real.

        x: (N, 256, 256, 3) RGB, uint8 in [0, 255] or float in [0, 1]: a numpy array, or
        on the JAX backend a JAX array, which is scored where it lies (on the GPU) without
        a copy to the host; only the N scores come back.
        """
        xp = _array_module(x)
        if xp is not np and (keras.backend.backend() != "jax" or self.runtime != "keras"):
            raise ValueError("JAX arrays are scored on the JAX backend with runtime 'keras'; "
                             "pass a numpy array")
        x = check_faces(x, xp)
        if self._forward is None:
            if self.runtime == "onnx":
                self._forward = onnx_forward(self.model)
            else:
                self._forward = _compile_forward(self.model, self.precision)
        return predict_in_batches(self._forward, x, self.batch_size, xp)

    def fit(self, x, y):
        """One training step on a batch (as the original): returns [loss, accuracy].

        x as for predict: uint8 faces are divided by 255 here, as predict's graph does, so
        the network trains on the scale it scores (the original fed generator batches
        already rescaled by 1/255)."""
        self._forward = None
        return self.model.train_on_batch(_unit_scale(x), np.asarray(y, np.float32))

    def get_accuracy(self, x, y):
        """[loss, accuracy] on a batch, without training; x as for fit."""
        return self.model.test_on_batch(_unit_scale(x), np.asarray(y, np.float32))

    def load(self, weights) -> "Classifier":
        """Load weights by name ('meso4-df', ...), path or zoo.WeightsRecord: the
        authors' Keras 2 files or ours."""
        record = zoo.resolve(weights)
        if record.architecture == zoo.COMBINATION:
            raise ValueError(f"Weights {record.name!r} combine several networks: score them "
                             f"with mesonet.scorers.load_scorer")
        zoo.check_architecture(record, self.model.name)
        load_weights_file(self.model, record.path)
        self.weights = record.name
        self._forward = None
        return self

    def save(self, path, **metadata) -> Path:
        """Save weights (Keras 3 `.weights.h5`, tagged with the architecture)."""
        return save_weights_file(self.model, path, **metadata)


class Meso1(Classifier):
    def __init__(self, learning_rate: float = 0.001, dl_rate: int = 1, runtime: str = "auto",
                 precision: str = "float32"):
        super().__init__(meso1(dl_rate), learning_rate, runtime, precision)


class Meso4(Classifier):
    def __init__(self, learning_rate: float = 0.001, runtime: str = "auto",
                 precision: str = "float32"):
        super().__init__(meso4(), learning_rate, runtime, precision)


class MesoInception4(Classifier):
    def __init__(self, learning_rate: float = 0.001, runtime: str = "auto",
                 precision: str = "float32"):
        super().__init__(meso_inception4(), learning_rate, runtime, precision)


CLASSIFIERS = {"meso4": Meso4, "mesoinception4": MesoInception4, "meso1": Meso1}  # as ARCHITECTURES


def load_classifier(model: str | None = None, weights=None, runtime: str = "auto",
                    precision: str = "float32") -> Classifier:
    """A Keras classifier with weights loaded (the original API: predict, fit, ...); the
    architecture follows the weights when known. To score any weights, combinations
    included, with or without Keras: mesonet.scorers.load_scorer.

    weights: a name ('meso4-df', 'meso4-corpus', ...), a path, or a zoo.WeightsRecord.
    runtime: 'auto' (ONNX Runtime on a CPU, the jitted Keras path on a GPU; see
    scoring.resolve_runtime), 'keras' or 'onnx'. precision: what compiled Keras inference
    computes in: 'float32', or 'float16' / 'bfloat16' (for a GPU; on the reference faces
    within 1e-3 / 5e-3 of the reference values, tests/test_classifiers.py).
    """
    record = zoo.resolve(weights) if weights is not None else None
    if record is not None and record.architecture == zoo.COMBINATION:
        raise ValueError(f"Weights {record.name!r} combine several networks: score them "
                         f"with mesonet.scorers.load_scorer")
    model = model or (record.architecture if record is not None else None) or "meso4"
    if model not in CLASSIFIERS:
        raise ValueError(f"Unknown model {model!r}; known models: {', '.join(CLASSIFIERS)}")
    classifier = CLASSIFIERS[model](runtime=runtime, precision=precision)
    if record is not None:
        classifier.load(record)
    return classifier
