"""Fused batch normalization (training/fused_bn.py) against Keras's own BatchNormalization,
on the feature maps of a real face: the same outputs, gradients, moving statistics and
training step."""

from __future__ import annotations


import numpy as np
import pytest



keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("fused batch normalization is TensorFlow's kernel", allow_module_level=True)


@pytest.fixture(scope="module")
def batch(face):
    """12 variants of a real aligned face (flips, brightness, shifts), uint8."""
    crop = face[0].astype(np.float32)
    out = []
    for k in range(12):
        x = crop[:, ::-1] if k % 2 else crop
        x = np.roll(x * (0.8 + 0.04 * k), shift=(3 * k, -2 * k), axis=(0, 1))
        out.append(np.clip(x, 0, 255).astype(np.uint8))
    return np.stack(out)


def no_dropout(model):
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return model


def bn_model(shape, dtype="float32"):
    inputs = keras.Input(shape, dtype=dtype)
    bn = keras.layers.BatchNormalization(epsilon=1e-3, name="bn", dtype=dtype)
    return keras.Model(inputs, bn(inputs))


def test_fused_layer_matches_float64_outputs_gradients_and_moving_statistics(batch):
    """Meso4's first maps (conv 3x3 + ReLU of real faces, 256 x 256 x 8, channels from 0.003
    % to 99.9 % zeros): the fused layer's output, its gradients for the input, gamma and
    beta, and the moving mean and variance after the step, against Keras's layer computing
    in float64. Each within 1e-3 of the largest value: the kernel sums 786,432 values a
    channel in float32 (measured: 2.6e-4 on the output, Keras's float32 path 5.7e-5), well
    under bfloat16's rounding (4e-3), in which the training computes. The moving variance
    comes from the biased batch variance, as Keras has it; inference is Keras's own path."""
    import tensorflow as tf

    from mesonet import classifiers
    from mesonet.training.fused_bn import fuse_batch_norm

    keras.utils.set_random_seed(0)
    conv = classifiers.build("meso4").get_layer("block1_conv")
    maps = conv(tf.constant(batch, tf.float32) / 255.0).numpy()
    weights = np.random.default_rng(1).standard_normal(maps.shape)
    exact, plain, fused = (bn_model(maps.shape[1:], d) for d in ("float64", "float32", "float32"))
    gamma = np.linspace(0.5, 1.5, 8)
    for m in (exact, plain, fused):
        m.get_layer("bn").set_weights([gamma, gamma - 1, np.zeros(8), np.ones(8)])
    assert fuse_batch_norm(fused) == 1
    # 11 channels (MesoInception4's concatenation): oneDNN's generic kernel, Keras's path kept
    assert fuse_batch_norm(bn_model((16, 16, 11))) == 0
    results = []
    for m, dtype in ((exact, tf.float64), (fused, tf.float32), (plain, tf.float32)):
        x = tf.constant(maps, dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = m(x, training=True)
            loss = tf.reduce_sum(y * tf.constant(weights, dtype))
        grads = tape.gradient(loss, [x] + m.trainable_variables)
        results.append([np.asarray(v, np.float64) for v in
                        [y] + grads + [w.numpy() for w in m.non_trainable_weights]])
    names = ["output", "input gradient", "gamma gradient", "beta gradient", "moving mean",
             "moving variance"]
    for name, e, f in zip(names, results[0], results[1]):
        assert np.abs(e - f).max() <= 1e-3 * np.abs(e).max(), name
    biased = maps.astype(np.float64).reshape(-1, 8).var(axis=0)
    np.testing.assert_allclose(results[1][5], 0.99 + 0.01 * biased, rtol=1e-5)
    plain.set_weights(fused.get_weights())
    np.testing.assert_array_equal(fused(maps[:2], training=False), plain(maps[:2], training=False))


@pytest.mark.parametrize("model_name", ["meso4", pytest.param("mesoinception4",
                                                               marks=pytest.mark.slow)])
def test_fused_training_step_matches_keras_and_keeps_plain_layers(batch, model_name, tmp_path):
    """df_CNN's training model with fused batch normalization against the same network
    with Keras's layers, same weights, dropout off: the loss in training mode (batch
    statistics) within 1e-3 (measured in float32 against a float64 network: fused 2.2e-4
    for Meso4 and 1.0e-4 for MesoInception4, Keras's 2e-6 and 1e-5: the fused kernel's
    statistics are the less exact, still under bfloat16's rounding), the loss after one SGD
    step within 1 % and lower, the moving statistics within 1e-3; and the saved model holds
    plain BatchNormalization layers."""
    from mesonet import classifiers
    from mesonet.training.train import training_model

    keras.utils.set_random_seed(2)
    start = classifiers.build(model_name).get_weights()
    y = np.array([1.0, 0.0] * 6, np.float32)
    losses, stats, models = {}, {}, {}
    for fuse in (False, True):
        base = no_dropout(classifiers.build(model_name))
        base.set_weights(start)
        model = training_model(base, fuse=fuse)
        model.compile(optimizer=keras.optimizers.SGD(0.002), loss="mean_squared_error")

        def loss():  # on the batch's own statistics, as training sees it
            return float(keras.ops.mean((model(batch, training=True)[:, 0] - y) ** 2))

        inference = float(model.evaluate(batch, y, verbose=0))
        before = loss()
        model.train_on_batch(batch, y)
        losses[fuse] = (before, inference, loss())
        stats[fuse] = [w.numpy() for w in base.non_trainable_weights]
        models[fuse] = model
    assert abs(losses[True][0] - losses[False][0]) <= 1e-3 * losses[False][0]
    assert losses[True][1] == pytest.approx(losses[False][1], rel=1e-6)  # inference path
    assert abs(losses[True][2] - losses[False][2]) <= 0.01 * losses[False][2]
    for fuse in (False, True):
        assert losses[fuse][2] < losses[fuse][0]
    for p, f in zip(stats[False], stats[True]):
        assert np.abs(p - f).max() <= 1e-3 * np.abs(p).max()
    path = tmp_path / "state.keras"
    models[True].save(path)
    loaded = keras.saving.load_model(path)
    kinds = {type(layer) for layer in loaded._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)}
    assert kinds == {keras.layers.BatchNormalization}
    np.testing.assert_allclose(loaded.predict(batch, verbose=0),
                               models[True].predict(batch, verbose=0), atol=1e-6)
