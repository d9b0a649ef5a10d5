"""ONNX export and the ONNX Runtime path: equal to Keras on the original weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

import classifiers
from classifiers import Meso4
from conftest import ORIGINAL_FILES, run_script
from test_classifiers import TEST_IMAGES, _reference_batch

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("name", list(ORIGINAL_FILES))
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

    import scoring

    on_cpu = keras.backend.backend() == "tensorflow" and not tf.config.list_physical_devices("GPU")
    assert classifiers.resolve_runtime("auto") == ("onnx" if on_cpu else "keras")
    # the scripts' decision, made without importing TensorFlow, agrees
    assert scoring.onnx_wanted("auto") == (classifiers.resolve_runtime("auto") == "onnx")
    assert Meso4().runtime == classifiers.resolve_runtime("auto")  # the original API too
    with pytest.raises(ValueError, match="known: auto, keras, onnx"):
        classifiers.resolve_runtime("tensorrt")


@pytest.mark.slow
def test_export_script_writes_a_model_onnx_runtime_reads(reference, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    proc = run_script("export.py", "--weights", "mesoinception4-df", "--output", out)
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = _reference_batch(reference)
    keras_clf = classifiers.load_classifier(weights="mesoinception4-df", runtime="keras")
    np.testing.assert_allclose(session.run(None, {"face": x})[0], keras_clf.predict(x),
                               atol=1e-5)


def test_scoring_starts_without_keras_once_the_graph_is_cached(reference, tmp_path):
    """cli.load_scorer exports the ONNX graphs into the cache on first use; the next
    process scores from them without importing Keras or TensorFlow, with the same values."""
    expected = json.loads((reference / "reference_predictions.json").read_text())
    expected = [expected["predictions"]["MesoInception_DF"][p] for p in TEST_IMAGES]
    code = ("import sys, json, numpy as np, cli\n"
            "from media import load_face_crop\n"
            f"x = np.stack([load_face_crop({str(reference)!r} + '/' + p) for p in {TEST_IMAGES!r}])\n"
            "clf = cli.load_scorer('mesoinception4-df', runtime='onnx')\n"
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
    assert first["class"] == "MesoInception4" and first["keras"]
    assert len(list((tmp_path / "onnx").glob("mesoinception4-*.onnx"))) == 2
    assert second == {**second, "class": "OnnxClassifier", "model": "mesoinception4",
                      "tensorflow": False, "keras": False}
    for run in runs:
        np.testing.assert_allclose(run["p"], expected, atol=1e-5)
        np.testing.assert_allclose(run["p_float"], expected, atol=1e-5)
