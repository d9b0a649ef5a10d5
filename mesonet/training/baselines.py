"""Baselines from the seed studies, trained and scored like MesoNet (sigmoid = P(real)).

cnn3         the 3-block CNN of the "140k real and fake faces" study (32/64/128 filters)
densenet121  keras.applications DenseNet121 with a sigmoid head
xception     keras.applications Xception with a sigmoid head

The applications start from random weights, or from a local weights file (`include_top=
False` ImageNet weights, for instance): nothing is downloaded. Inputs are [0, 1] like
MesoNet's; the applications get their own preprocessing (to [-1, 1]) inside the model.
"""

from __future__ import annotations

import keras
from keras import layers

from mesonet.contract import FACE_SIZE

SHAPE = (FACE_SIZE, FACE_SIZE, 3)


def cnn3(name: str = "cnn3") -> keras.Model:
    inputs = keras.Input(shape=SHAPE, name="face")
    x = inputs
    for i, filters in enumerate((32, 64, 128), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)  # 256 -> 128 -> 64 -> 32
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(128, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="p_real")(x), name=name)


def _application(app, name: str, weights_file: str | None) -> keras.Model:
    inputs = keras.Input(shape=SHAPE, name="face")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed_unit")(inputs)
    backbone = app(include_top=False, weights=None, input_shape=SHAPE, pooling="avg")
    if weights_file:
        backbone.load_weights(weights_file)
    x = layers.Dropout(0.3, name="dropout")(backbone(x))
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="p_real")(x), name=name)


BASELINES = {
    "cnn3": lambda weights_file=None: cnn3(),
    "densenet121": lambda weights_file=None: _application(
        keras.applications.DenseNet121, "densenet121", weights_file),
    "xception": lambda weights_file=None: _application(
        keras.applications.Xception, "xception", weights_file),
}


def build(name: str, weights_file: str | None = None) -> keras.Model:
    try:
        return BASELINES[name](weights_file)
    except KeyError:
        raise ValueError(f"Unknown baseline {name!r}; known: {', '.join(BASELINES)}") from None
