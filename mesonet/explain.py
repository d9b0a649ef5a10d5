"""Where the network looks: Grad-CAM and the paper's mean activation maps.

    from mesonet.explain import explain
    maps = explain(classifier, faces_uint8)                 # Grad-CAM, hot = looks forged
    maps = explain(classifier, faces_uint8, "activation", layer="block2_conv")

Both return one map per face at crop resolution: float32 (N, 256, 256) in [0, 1].

gradcam     Grad-CAM (Selvaraju et al., 2017) on the last convolution: each feature map
            weighted by the mean gradient of the *forged* logit (minus the network's
            pre-sigmoid output, P(real)'s logit) over it, summed, kept where positive,
            upsampled. Hot means "pushes the score towards forged"; a face with nothing
            that pushes that way gets an all-zero map, which is an answer, not a failure.
            Each map is divided by the largest value over the batch, so maps of one call
            compare with each other.
activation  the paper's visualisation (Afchar et al. 2018, section 5): the mean over
            channels of a layer's ReLU output (default: the first block, where the paper
            saw eyes, nose and mouth light up), each map scaled to its own maximum.

Works on the TensorFlow and JAX backends, for the project's and the authors' weights. A
classifier scoring through ONNX Runtime has no gradients: its Keras model is loaded from
the same weights (classifiers.load_classifier), so the map explains the same network. A
combination's face is explained by the member whose P(real) was taken.
"""

from __future__ import annotations

from mesonet.contract import OperatingPoint

import functools

import numpy as np

METHODS = ("gradcam", "activation")


@functools.lru_cache(maxsize=8)
def _load_keras(architecture: str | None, weights: str):
    """The Keras model of a weights name, loaded once per process (scripts explain batch
    after batch, the service request after request)."""
    from mesonet import classifiers

    return classifiers.load_classifier(architecture, weights, runtime="keras").model


def _keras_model(classifier):
    """The Keras model behind a classifier; for an ONNX Runtime scorer (no gradients), the
    same weights loaded into Keras."""
    model = getattr(classifier, "model", None)
    if model is not None and hasattr(model, "layers"):
        return model
    if getattr(classifier, "weights", None) is None:
        raise ValueError("This classifier has no Keras model and no weights name to load one "
                         "from: explanations need gradients, which ONNX Runtime does not give")
    return _load_keras(model.name if model is not None else None, str(classifier.weights))


def _last_conv_and_head(model):
    """The last convolution layer, and the chain of layers after it to the output."""
    convs = [i for i, layer in enumerate(model.layers) if layer.__class__.__name__ == "Conv2D"]
    if not convs:
        raise ValueError(f"Model {model.name} has no convolution to explain")
    head = model.layers[convs[-1] + 1:]
    for before, layer in zip(model.layers[convs[-1]:], head):
        if layer.input is not before.output and getattr(layer.input, "name", None) != \
                before.output.name:
            raise ValueError(f"Model {model.name}: the layers after {model.layers[convs[-1]].name} "
                             "are not a chain; Grad-CAM needs them to be")
    return model.layers[convs[-1]], head


def _forged_logit(head, a):
    """Minus the pre-sigmoid output for feature maps `a`: the forged class's logit."""
    from keras import ops

    x = a
    for layer in head[:-1]:
        x = layer(x, training=False)
    out = head[-1]
    z = ops.matmul(x, out.kernel) + out.bias  # the output layer without its sigmoid
    return -z[:, 0]


def _gradients(head, a):
    """d(forged logit)/d(feature maps) for a batch, on the backend Keras runs on."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        a = tf.convert_to_tensor(a)
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.reduce_sum(_forged_logit(head, a))
        return tape.gradient(y, a).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: _forged_logit(head, t).sum())(a))
    raise ValueError(f"Explanations need the TensorFlow or JAX backend; Keras runs on {backend}")


def _upsample(maps: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(m.astype(np.float32), (size, size),
                                interpolation=cv2.INTER_LINEAR) for m in maps])


def explain(classifier, faces, method: str = "gradcam", layer: str | None = None,
            batch_size: int = 32) -> np.ndarray:
    """One map per face, float32 (N, 256, 256) in [0, 1]; see the module's docstring.

    faces: uint8 RGB crops (N, 256, 256, 3) (or one, 256 x 256 x 3), as the classifier
    takes them. layer: for 'activation', the layer whose output is averaged (default the
    first convolution)."""
    import keras

    from mesonet.scoring import check_faces

    if method not in METHODS:
        raise ValueError(f"Unknown explanation {method!r}; known: {', '.join(METHODS)}")
    x = check_faces(faces)
    if hasattr(classifier, "deciding_member"):
        # a combination: each face is explained by the member whose P(real) was taken
        maps = np.zeros(x.shape[:3], np.float32)
        decided = classifier.deciding_member(x)
        for i, member in enumerate(classifier.members):
            if (decided == i).any():
                maps[decided == i] = explain(member, x[decided == i], method, layer, batch_size)
        return maps
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    model = _keras_model(classifier)
    size = x.shape[1]
    if method == "activation":
        convs = [lay for lay in model.layers if lay.__class__.__name__ == "Conv2D"]
        target = model.get_layer(layer) if layer else convs[0]
        sub = keras.Model(model.inputs[0], target.output)
        a = np.concatenate([np.asarray(sub(x[i:i + batch_size], training=False))
                            for i in range(0, len(x), batch_size)]) if len(x) else \
            np.zeros((0, 1, 1, 1), np.float32)
        maps = _upsample(a.mean(axis=-1), size)
        peak = maps.reshape(len(maps), -1).max(axis=1) if len(maps) else np.zeros(0)
        return (maps / np.where(peak > 0, peak, 1)[:, None, None]).astype(np.float32)
    conv, head = _last_conv_and_head(model)
    trunk = keras.Model(model.inputs[0], conv.output)
    cams = []
    for i in range(0, len(x), batch_size):
        a = np.asarray(trunk(x[i:i + batch_size], training=False), np.float32)
        g = _gradients(head, a)
        weights = g.mean(axis=(1, 2), keepdims=True)  # one weight per feature map
        cams.append(np.maximum((weights * a).sum(axis=-1), 0))
    if not cams:
        return np.zeros((0, size, size), np.float32)
    maps = _upsample(np.concatenate(cams), size)
    if not np.isfinite(maps).all():
        raise ValueError("Grad-CAM gave non-finite values for these faces")
    peak = float(maps.max())
    return (maps / peak if peak > 0 else maps).astype(np.float32)


def overlay(crop: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The crop with the map laid over it in a colour scale (uint8 RGB)."""
    import matplotlib

    colours = matplotlib.colormaps["inferno"](np.clip(heat, 0, 1))[..., :3]
    out = (1 - alpha) * crop.astype(np.float32) + alpha * 255.0 * colours
    return np.clip(out, 0, 255).astype(np.uint8)


def _verdict_words(p_real: float, op: OperatingPoint) -> str:
    return {"real": "looks real", "fake": "looks forged",
            "inconclusive": "inconclusive"}[op.verdict(p_real)]


def _rule(op: OperatingPoint) -> str:
    return (f"fake <= {op.fake_at_most:.3f}, real > {op.real_above:.3f}"
            if op.real_above > op.fake_at_most else f"threshold {op.fake_at_most:.3f}")


def _save(fig, path) -> None:
    """Lay out, write atomically as PNG, and free a matplotlib figure."""
    import matplotlib.pyplot as plt

    from mesonet.outputs import atomic_path

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def save_face_png(path, crop: np.ndarray, heat: np.ndarray, p_real: float,
                  op: OperatingPoint | None = None, title: str = "") -> None:
    """A PNG for a person: the crop, the map laid over it, and P(real) in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.6), dpi=100)
    axes[0].imshow(crop)
    axes[0].set_title("face", fontsize=9)
    axes[1].imshow(overlay(crop, heat))
    axes[1].set_title("where it looks forged (Grad-CAM)", fontsize=9)
    for ax in axes:
        ax.axis("off")
    op = op or OperatingPoint.plain()
    fig.suptitle(f"{title}P(real) {p_real:.3f}: {_verdict_words(p_real, op)} "
                 f"(0 = forged, 1 = real; {_rule(op)})", fontsize=10)
    _save(fig, path)


def save_contact_sheet(path, crops, heats, p_real, op: OperatingPoint | None = None,
                       k: int = 6, title: str = "") -> None:
    """The k most forged-looking and the k most real-looking faces of a video, each with
    its map, in one PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    order = np.argsort(np.asarray(p_real))
    rows = [("most forged-looking", order[:k]), ("most real-looking", order[::-1][:k])]
    n = max(1, min(k, len(order)))
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.6), dpi=100, squeeze=False)
    for r, (label, picks) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(picks):
                i = picks[c]
                ax.imshow(overlay(crops[i], heats[i]))
                ax.set_title(f"{p_real[i]:.3f}", fontsize=9)
        axes[r][0].text(-0.08, 0.5, label, transform=axes[r][0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=9)
    fig.suptitle(f"{title}P(real) per face (0 = forged, 1 = real; "
                 f"{_rule(op or OperatingPoint.plain())}); hot = looks forged", fontsize=10)
    _save(fig, path)
