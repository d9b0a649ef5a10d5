"""The networks, the original weights to the digit, and how weights are found and read."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from mesonet import classifiers
from mesonet import zoo
from mesonet.classifiers import Meso1, Meso4, MesoInception4
from conftest import ORIGINAL_FILES, ROOT, run_script

TEST_IMAGES = ["test_images/df/df00204.jpg", "test_images/df/df01254.jpg",
               "test_images/real/real00240.jpg", "test_images/real/real00772.jpg"]


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_one_list_of_architectures():
    from mesonet.contract import ARCHITECTURES, BASELINE_ARCHITECTURES
    from mesonet.training import baselines

    assert tuple(classifiers.CLASSIFIERS) == tuple(classifiers.BUILDERS) == ARCHITECTURES
    assert tuple(baselines.BASELINES) == BASELINE_ARCHITECTURES


def test_parameter_counts_match_the_paper():
    assert (trainable(Meso4().model), Meso4().model.count_params()) == (27_977, 28_073)
    assert (trainable(MesoInception4().model),
            MesoInception4().model.count_params()) == (28_615, 28_725)
    assert Meso1().model.output_shape == (None, 1)


def test_batchnorm_epsilon_and_sigmoid_head():
    for cls in (Meso4, MesoInception4, Meso1):
        model = cls().model
        eps = [l.epsilon for l in model.layers if l.__class__.__name__ == "BatchNormalization"]
        assert eps and all(e == 1e-3 for e in eps)
        assert model.get_layer("p_real").activation.__name__ == "sigmoid"


def _reference_batch(reference):
    from mesonet.media import load_face_crop

    return np.stack([load_face_crop(reference / p) for p in TEST_IMAGES])


@pytest.mark.parametrize("name", list(ORIGINAL_FILES))
def test_original_weights_reproduce_reference_predictions(reference, name):
    expected = json.loads((reference / "reference_predictions.json").read_text())
    expected = np.array([expected["predictions"][ORIGINAL_FILES[name]][p] for p in TEST_IMAGES])
    x = _reference_batch(reference)
    cls = Meso4 if name.startswith("meso4") else MesoInception4
    clf = cls().load(name)
    fast = clf.predict(x)[:, 0]  # uint8, rescaled in the compiled graph
    floats = clf.predict(x / 255.0)[:, 0]
    plain = clf.model.predict(x.astype(np.float32) / 255.0, batch_size=64, verbose=0)[:, 0]
    np.testing.assert_allclose(fast, expected, atol=1e-4)
    np.testing.assert_allclose(floats, expected, atol=1e-4)
    np.testing.assert_allclose(fast, plain, atol=1e-5)  # no regression against plain Keras


@pytest.mark.slow
@pytest.mark.parametrize("precision, tolerance", [("float16", 1e-3), ("bfloat16", 5e-3)])
def test_reduced_precision_stays_close_to_the_reference(reference, precision, tolerance):
    """Keras mixed precision (the GPU's fast path) on the reference faces: float16 within
    the 1e-3 of issue #5, bfloat16 (a shorter mantissa) within 5e-3; never the same code
    path as float32 (the outputs differ)."""
    expected = json.loads((reference / "reference_predictions.json").read_text())["predictions"]
    x = _reference_batch(reference)
    for name in ("meso4-df", "mesoinception4-df"):
        want = np.array([expected[ORIGINAL_FILES[name]][p] for p in TEST_IMAGES])
        clf = classifiers.load_classifier(weights=name, precision=precision)
        got = clf.predict(x)[:, 0]
        assert got.dtype == np.float32
        assert 0 < np.abs(got - want).max() < tolerance, (name, got - want)
    with pytest.raises(ValueError, match="needs runtime 'keras'"):
        Meso4(runtime="onnx", precision="float16")
    with pytest.raises(ValueError, match="Unknown precision 'int4'"):
        Meso4(precision="int4")


@pytest.mark.slow
def test_deepfakes_images_reproduces_all_16_reference_values(reference, tmp_path):
    expected = json.loads((reference / "reference_predictions.json").read_text())["predictions"]
    for name, key in ORIGINAL_FILES.items():
        out = tmp_path / f"{name}.json"
        proc = run_script("deepfakes_images.py", reference / "test_images", "--weights", name,
                          "--output", out)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(out.read_text())
        assert result["weights"] == name and "0 = deepfake" in result["p_real_meaning"]
        got = {r["path"].split("mesonet/")[-1]: r["p_real"] for r in result["results"]}
        for path in TEST_IMAGES:
            assert got[path] == pytest.approx(expected[key][path], abs=1e-4), (name, path)
        assert f"Weights: {name}" in proc.stdout


def test_legacy_mapping_is_by_creation_order_not_layer_order(reference):
    """MesoInception's sibling 1x1 convolutions share shapes; a positional load would
    swap them silently. The map pairs each of our layers with the original's by name."""
    model = MesoInception4().model
    mapping = classifiers.legacy_name_map(model, reference / "weights/MesoInception_DF.h5")
    assert mapping["incep1_b1_1x1"][0] == "conv2d_1"
    assert mapping["incep1_b2_1x1"][0] == "conv2d_2"
    assert mapping["incep1_b3_1x1"][0] == "conv2d_4"
    assert mapping["incep1_b4_3x3_d3"][0] == "conv2d_7"
    assert mapping["incep2_b1_1x1"][0] == "conv2d_8"
    assert mapping["p_real"][0] == "dense_2"
    # the same-shape siblings really hold different weights
    a, b = mapping["incep1_b2_1x1"][1][0], mapping["incep1_b3_1x1"][1][0]
    assert a.shape == b.shape and not np.allclose(a, b)


def test_wrong_weights_are_refused_with_a_clear_error(reference, tmp_path):
    with pytest.raises(ValueError, match="does not fit meso4"):
        Meso4().load(reference / "weights/MesoInception_DF.h5")
    with pytest.raises(ValueError, match="are for meso4, not mesoinception4"):
        MesoInception4().load("meso4-df")
    saved = Meso4().save(tmp_path / "mine")
    assert saved.name == "mine.weights.h5"
    with pytest.raises(ValueError, match="are for meso4, not mesoinception4"):
        MesoInception4().load(saved)
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="corrupt.h5 is not a readable HDF5"):
        Meso4().load(corrupt)
    with pytest.raises(ValueError, match="Unknown weights 'meso5-df'.*meso4-df"):
        Meso4().load("meso5-df")
    with pytest.raises(FileNotFoundError, match="missing.h5 does not exist"):
        Meso4().load(tmp_path / "missing.h5")


def test_own_weights_round_trip(meso4_df, tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    path = meso4_df.save(tmp_path / "copy.weights.h5", trained_on="a test")
    other = classifiers.load_classifier(weights=str(path))  # architecture read from the file
    assert other.model.name == "meso4"
    np.testing.assert_array_equal(other.predict(x), meso4_df.predict(x))


def test_predict_validates_inputs(meso4_df):
    with pytest.raises(ValueError, match="must be in \\[0, 1\\].*received values up to 255"):
        meso4_df.predict(np.full((1, 256, 256, 3), 255.0, np.float32))  # the original's bug
    with pytest.raises(ValueError, match="shape \\(N, 256, 256, 3\\); received shape"):
        meso4_df.predict(np.zeros((1, 128, 128, 3), np.uint8))
    assert meso4_df.predict(np.zeros((0, 256, 256, 3), np.uint8)).shape == (0, 1)
    x = np.random.default_rng(1).integers(0, 256, (70, 256, 256, 3), dtype=np.uint8)
    p = meso4_df.predict(x)  # more than one compiled batch, the last one padded
    assert p.shape == (70, 1)
    np.testing.assert_allclose(p[65:], meso4_df.predict(x[65:]), atol=1e-6)


def test_fit_and_get_accuracy_run_one_batch():
    clf = Meso4()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 256, 256, 3), dtype=np.uint8)
    y = np.array([0, 1] * 4, np.float32)
    before = clf.model.get_layer("p_real").get_weights()[0].copy()
    loss, acc = clf.fit(x, y)
    assert np.isfinite(loss) and acc * 8 == round(acc * 8)  # a share of the 8 faces
    assert not np.allclose(before, clf.model.get_layer("p_real").get_weights()[0])
    loss2, acc2 = clf.get_accuracy(x, y)
    # without dropout, the batch's squared error and accuracy are those of predict's scores
    p = clf.predict(x)[:, 0]
    assert loss2 == pytest.approx(float(np.mean((p - y) ** 2)), abs=1e-5)
    assert acc2 == pytest.approx(float(np.mean((p > 0.5) == y)))
    # uint8 and the same faces as floats in [0, 1] are one input to fit, get_accuracy
    # and predict alike (uint8 once went unscaled into training: 0-255 against 0-1)
    np.testing.assert_allclose(clf.get_accuracy(x / np.float32(255), y), (loss2, acc2),
                               rtol=1e-5)
    p = clf.predict(x)[:, 0]
    assert np.isclose(loss2, np.mean((p - y) ** 2), rtol=1e-4)


class _Server:
    """A real HTTP server on 127.0.0.1 serving one folder."""

    def __init__(self, folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_from_http_is_verified_and_cached(reference, tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(reference / "weights/Meso4_DF.h5", served)
    server = _Server(served)
    try:
        monkeypatch.delenv("MESONET_WEIGHTS_DIR", raising=False)
        monkeypatch.setenv("MESONET_WEIGHTS_URL", server.url)
        monkeypatch.setenv("MESONET_CACHE_DIR", str(tmp_path / "cache"))
        record = zoo.resolve("meso4-df")
        assert record.path == tmp_path / "cache" / "Meso4_DF.h5"
        assert zoo.sha256_of(record.path) == zoo.ORIGINAL_WEIGHTS["meso4-df"][2] == record.sha256
        assert record.architecture == "meso4" and record.origin == "original"
        x = np.zeros((1, 256, 256, 3), np.uint8)
        np.testing.assert_allclose(Meso4().load("meso4-df").predict(x),
                                   Meso4().load(reference / "weights/Meso4_DF.h5").predict(x))
        # a corrupted download is refused and nothing is kept
        (served / "Meso4_F2F.h5").write_bytes((reference / "weights/Meso4_F2F.h5").read_bytes()[:-10]
                                              + b"0123456789")
        with pytest.raises(ValueError, match="corrupt: SHA-256"):
            zoo.resolve("meso4-f2f")
        assert not (tmp_path / "cache" / "Meso4_F2F.h5").exists()
        assert not list((tmp_path / "cache").glob("*.part"))
        # a missing file is an error naming the address
        with pytest.raises(OSError, match="Could not download weights from .*MesoInception_DF.h5"):
            zoo.resolve("mesoinception4-df")
    finally:
        server.close()


@pytest.mark.slow
def test_the_same_code_runs_on_jax(reference, tmp_path):
    """classifiers.py unchanged on the JAX backend: reference values, fit, and batches
    already on the device scored there, in float32 and float16."""
    pytest.importorskip("jax")
    code = f"""
import json, sys
import numpy as np, keras
from mesonet import classifiers
from mesonet.media import load_face_crop
assert keras.backend.backend() == "jax"
ref = json.load(open({str(reference / 'reference_predictions.json')!r}))["predictions"]
paths = {TEST_IMAGES!r}
x = np.stack([load_face_crop({str(reference)!r} + "/" + p) for p in paths])
worst = 0.0
for name, key in {list(ORIGINAL_FILES.items())!r}:
    clf = classifiers.load_classifier(weights=name, runtime="auto")
    assert clf.runtime == "keras"  # jax.jit, not ONNX Runtime
    got = clf.predict(x)[:, 0]
    worst = max(worst, float(np.abs(got - np.array([ref[key][p] for p in paths])).max()))
loss, acc = classifiers.Meso4().fit(x, np.array([0, 0, 1, 1], np.float32))
# a batch already on the device is scored there (a JAX array in, only scores back)
import jax
clf = classifiers.load_classifier(weights="meso4-df")
on_device = clf.predict(jax.device_put(np.concatenate([x] * 20)))  # 80: two batches, padded
assert on_device.shape == (80, 1) and isinstance(on_device, np.ndarray)
assert float(np.abs(on_device - np.concatenate([clf.predict(x)] * 20)).max()) < 1e-6
half = classifiers.load_classifier(weights="meso4-df", precision="float16")
want = np.array([ref["Meso4_DF"][p] for p in paths])
assert float(np.abs(half.predict(jax.device_put(x))[:, 0] - want).max()) < 1e-3
try:
    clf.predict(jax.device_put(np.zeros((2, 128, 128, 3), np.uint8)))
    raise AssertionError("a wrong shape on the device was accepted")
except ValueError as e:
    assert "received shape (2, 128, 128, 3)" in str(e)
# explanations on JAX: the same maps as on TensorFlow (compared by the caller)
from mesonet.explain import explain
maps = np.concatenate([explain(clf, x), explain(clf, x, "activation")])
np.save(sys.argv[1], maps)
print(worst, loss)
"""
    env = {**__import__("os").environ, "KERAS_BACKEND": "jax"}
    maps_file = tmp_path / "jax_maps.npy"
    out = subprocess.run([sys.executable, "-c", code, str(maps_file)], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    worst, loss = map(float, out.stdout.split()[-2:])
    assert worst < 1e-4 and np.isfinite(loss)
    from mesonet.explain import explain

    x = _reference_batch(reference)
    clf = classifiers.load_classifier(weights="meso4-df", runtime="keras")
    on_tf = np.concatenate([explain(clf, x), explain(clf, x, "activation")])
    np.testing.assert_allclose(np.load(maps_file), on_tf, atol=1e-4)
