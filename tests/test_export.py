"""ONNX export and the ONNX Runtime path: equal to Keras on the original weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mesonet import classifiers
from mesonet.classifiers import Meso4
from conftest import ORIGINAL_FILES, run_script
from test_classifiers import TEST_IMAGES, _reference_batch

pytest.importorskip("onnxruntime")


# the MesoInception4 pair is the slow half (its Keras model, built and run twice): in the
# full suite only; Meso4's two and the file-only graphs of both networks run in the quick one
@pytest.mark.parametrize("name", [n if n.startswith("meso4") else
                                  pytest.param(n, marks=pytest.mark.slow)
                                  for n in ORIGINAL_FILES])
def test_onnx_runtime_matches_keras_and_the_reference(reference, name):
    expected = json.loads((reference / "reference_predictions.json").read_text())
    expected = np.array([expected["predictions"][ORIGINAL_FILES[name]][p] for p in TEST_IMAGES])
    x = _reference_batch(reference)
    keras_clf = classifiers.load_classifier(weights=name, runtime="keras")
    onnx_clf = classifiers.load_classifier(weights=name, runtime="onnx")
    assert onnx_clf.runtime == "onnx"
    np.testing.assert_allclose(onnx_clf.predict(x)[:, 0], expected, atol=1e-5)
    np.testing.assert_allclose(onnx_clf.predict(x / 255.0), keras_clf.predict(x / 255.0),
                               atol=1e-5)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (70, 256, 256, 3), dtype=np.uint8)
    np.testing.assert_allclose(onnx_clf.predict(noise), keras_clf.predict(noise), atol=1e-5)


def test_auto_runtime_is_onnx_on_a_cpu_and_keras_elsewhere():
    import keras
    import tensorflow as tf

    from mesonet import scoring

    on_cpu = keras.backend.backend() == "tensorflow" and not tf.config.list_physical_devices("GPU")
    # decided once, without TensorFlow (scoring), and TensorFlow's own view agrees
    assert scoring.resolve_runtime("auto") == ("onnx" if on_cpu else "keras")
    assert classifiers.resolve_runtime("auto") == scoring.resolve_runtime("auto")
    assert Meso4().runtime == classifiers.resolve_runtime("auto")  # the original API too
    with pytest.raises(ValueError, match="known: auto, keras, onnx"):
        classifiers.resolve_runtime("tensorrt")


@pytest.mark.slow
def test_export_script_writes_a_model_onnx_runtime_reads(reference, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    proc = run_script("-m", "mesonet", "export", "--weights", "mesoinception4-df", "--output", out)
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = _reference_batch(reference)
    keras_clf = classifiers.load_classifier(weights="mesoinception4-df", runtime="keras")
    np.testing.assert_allclose(session.run(None, {"face": x})[0], keras_clf.predict(x),
                               atol=1e-5)


def test_scoring_starts_without_keras_once_the_graph_is_cached(reference, tmp_path):
    """scorers.load_scorer writes the ONNX graphs from the weights file into the cache on
    first use, without Keras; the next process scores from them; neither imports Keras or
    TensorFlow, and both give the reference values."""
    expected = json.loads((reference / "reference_predictions.json").read_text())
    expected = [expected["predictions"]["MesoInception_DF"][p] for p in TEST_IMAGES]
    code = ("import sys, json, numpy as np\n"
            "from mesonet import scorers\n"
            "from mesonet.media import load_face_crop\n"
            f"x = np.stack([load_face_crop({str(reference)!r} + '/' + p) for p in {TEST_IMAGES!r}])\n"
            "clf = scorers.load_scorer('mesoinception4-df', runtime='onnx')\n"
            "print(json.dumps({'class': type(clf).__name__, 'model': clf.model.name,\n"
            "    'p': clf.predict(x)[:, 0].tolist(), 'p_float': clf.predict(x / 255.0)[:, 0].tolist(),\n"
            "    'tensorflow': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n")
    env = {"MESONET_CACHE_DIR": str(tmp_path)}
    runs = []
    for _ in range(2):
        proc = run_script("-c", code, env=env)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert len(list((tmp_path / "onnx").glob("mesoinception4-*.onnx"))) == 2
    for run in runs:
        assert run == {**run, "class": "OnnxClassifier", "model": "mesoinception4",
                       "tensorflow": False, "keras": False}
    for run in runs:
        np.testing.assert_allclose(run["p"], expected, atol=1e-5)
        np.testing.assert_allclose(run["p_float"], expected, atol=1e-5)


def test_the_keras_free_layer_tables_are_the_keras_models():
    """architectures.LAYERS states each network as Keras builds it: the same layers in the
    same order, reading the same inputs, with the same settings and weight shapes."""
    from mesonet import architectures

    kinds = {"Conv2D": "conv", "BatchNormalization": "bn", "MaxPooling2D": "pool",
             "Concatenate": "concat", "Flatten": "flatten", "Dropout": "dropout",
             "Dense": "dense", "LeakyReLU": "leaky"}
    for name in architectures.LAYERS:
        model = classifiers.build(name)
        table = architectures.layers_of(name)
        assert [layer.name for layer in model.layers[1:]] == [t.name for t in table]
        shapes = architectures.expected_shapes(name)
        for layer, t in zip(model.layers[1:], table):
            inbound = layer.input if isinstance(layer.input, list) else [layer.input]
            assert kinds[type(layer).__name__] == t.kind, layer.name
            assert tuple(x._keras_history.operation.name for x in inbound) == t.inputs
            if t.kind == "conv":
                assert (layer.filters, layer.kernel_size[0], layer.dilation_rate[0],
                        layer.activation.__name__) == (t.config["filters"], t.config["kernel"],
                                                       t.config["dilation"], "relu")
            if t.kind == "pool":
                assert layer.pool_size[0] == t.config["size"]
            if t.kind == "bn":
                assert layer.epsilon == architectures.BN_EPSILON
            if layer.weights:
                assert [tuple(w.shape) for w in layer.weights][1:] == \
                    [tuple(s) for s in shapes[layer.name]][1:]


@pytest.mark.parametrize("name", ["meso4-df", "mesoinception4-f2f", "meso4-dfdc", "meso4-gan"])
def test_weights_read_without_keras_are_the_weights_keras_loads(reference, name):
    """A graph written from the file alone (the base install's path) scores as Keras does."""
    from mesonet import architectures, scoring, zoo

    record = zoo.resolve(name)
    keras_clf = classifiers.load_classifier(weights=name, runtime="keras")
    arrays = architectures.read_weights(record.architecture, record.path)
    for layer in keras_clf.model.layers:
        for got, want in zip(arrays.get(layer.name, []), layer.get_weights()):
            np.testing.assert_array_equal(got, want)
    x = _reference_batch(reference)
    forward = scoring.onnx_forward({"uint8": scoring.to_onnx(record.architecture, "uint8", arrays)
                                    .SerializeToString()})
    np.testing.assert_allclose(forward(x), keras_clf.predict(x), atol=1e-5)


def test_reading_weights_of_another_network_names_the_file(reference):
    from mesonet import architectures, zoo

    path = zoo.resolve("meso4-df").path
    with pytest.raises(ValueError, match=f"{path}.*does not fit mesoinception4"):
        architectures.read_weights("mesoinception4", path)
    with pytest.raises(ValueError, match="holds meso4 weights, not mesoinception4"):
        architectures.read_weights("mesoinception4", zoo.resolve("meso4-dfdc").path)


def test_the_default_combination_exports_as_one_graph(reference, tmp_path):
    """`mesonet export` of a combination: its members and the rule in one graph, scoring
    as the library's combination does (so the default runs wherever ONNX runs)."""
    import onnxruntime as ort

    from mesonet import scorers, zoo

    out = tmp_path / "default.onnx"
    proc = run_script("-m", "mesonet", "export", "--weights", zoo.DEFAULT_WEIGHTS, "--output", out)
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = _reference_batch(reference)
    combo = scorers.load_scorer(zoo.DEFAULT_WEIGHTS)
    np.testing.assert_allclose(session.run(None, {"face": x})[0], combo.predict(x), atol=1e-6)
    assert np.abs(combo.member_scores(x)[0] - combo.member_scores(x)[1]).max() > 0.01
