"""Explanations that can fail: a forged region must light up where it was forged."""

from __future__ import annotations


import numpy as np
import pytest






@pytest.fixture(scope="module")
def blend_detector(face):
    """Meso4 trained for 100 steps on one real face against its face-warped forgeries:
    the only difference it can learn lies inside the blend masks. (At 40 steps some seeds
    gave a detector that called the forgeries fake at only 0.2-0.35 and looked outside
    the masks; at 100 every seed tried called them fake below 0.04 and looked inside.)
    100 steps at momentum 0.99 still leave the batch normalizations' moving statistics
    partly at their start, so one pass with momentum 0 sets them to the training faces'
    own before scoring."""
    import keras

    from mesonet import classifiers
    from mesonet.training.synthesize import synthesize

    crop, marks = face
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    clf = classifiers.Meso4(runtime="keras")
    clf.model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    forge = lambda n: np.stack([synthesize(crop, marks, "fwa", rng)[0] for _ in range(n)])  # noqa: E731
    for _ in range(100):
        clf.fit(np.concatenate([np.repeat(crop[None], 8, 0), forge(8)]),
                np.array([1] * 8 + [0] * 8, np.float32))
    bns = [layer for layer in clf.model.layers if layer.__class__.__name__ == "BatchNormalization"]
    for layer in bns:
        layer.momentum = 0.0
    clf.model(np.concatenate([np.repeat(crop[None], 16, 0), forge(16)]) / np.float32(255),
              training=True)
    for layer in bns:
        layer.momentum = 0.99
    clf._forward = None  # scoring compiles again with the new statistics
    return clf


@pytest.mark.slow
def test_the_map_lights_up_the_forged_region(face, blend_detector):
    from mesonet.explain import explain
    from mesonet.training.synthesize import synthesize

    crop, marks = face
    rng = np.random.default_rng(99)
    tested = 0
    for _ in range(6):
        forged, mask = synthesize(crop, marks, "fwa", rng)
        inside = mask[..., 0] > 0.5
        if inside.sum() < 2000:  # a sliver of a mask (face parts): too little to measure
            continue
        p_forged, p_real = blend_detector.predict(np.stack([forged, crop]))[:, 0]
        assert p_forged < 0.5 < p_real  # the detector detects: forgery fake, original real
        heat = explain(blend_detector, forged[None])[0]
        assert heat.shape == (256, 256) and np.isfinite(heat).all()
        assert heat[inside].mean() > heat[~inside].mean()  # hot where it was forged
        tested += 1
    assert tested >= 3


def test_maps_have_the_crop_shape_differ_between_faces_and_fall_back_from_onnx(face, reference):
    from mesonet import classifiers
    from mesonet.explain import explain

    crop, _ = face
    other = np.asarray(__import__("mesonet.media", fromlist=["media"]).load_face_crop(
        reference / "test_images/df/df00204.jpg"))
    x = np.stack([crop, other])
    from mesonet import scorers

    scorers.load_scorer("meso4-df", runtime="onnx")  # exports the graph into the cache
    onnx = scorers.load_scorer("meso4-df", runtime="onnx")
    assert type(onnx).__name__ == "OnnxClassifier"  # no Keras model, no gradients
    keras_clf = classifiers.load_classifier(weights="meso4-df", runtime="keras")
    for method in ("gradcam", "activation"):
        maps = explain(onnx, x, method)  # ONNX Runtime has no gradients: Keras explains it
        assert maps.shape == (2, 256, 256) and maps.dtype == np.float32
        assert np.isfinite(maps).all() and 0 <= maps.min() and maps.max() <= 1
        assert not np.allclose(maps[0], maps[1])
        np.testing.assert_allclose(maps, explain(keras_clf, x, method), atol=1e-5)
    with pytest.raises(ValueError, match="received shape"):
        explain(keras_clf, crop[:100])
    with pytest.raises(ValueError, match="Unknown explanation 'saliency'"):
        explain(keras_clf, x, "saliency")


@pytest.mark.slow
def test_scripts_write_maps_only_when_asked(tmp_path, fixtures):
    from conftest import run_script

    maps = tmp_path / "maps"
    proc = run_script("deepfakes_images.py", "test_images", "--explain", maps, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    pngs = sorted(maps.glob("*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 20_000 for p in pngs)
    video = fixtures / "videos" / "liveportrait_d0_frontal_face_3s.mp4"
    proc = run_script("deepfakes_videos.py", video, "--frames", "6", "--explain", maps,
                      "--no-progress")
    assert proc.returncode == 0, proc.stderr
    sheet = next(maps.glob(f"{video.stem}_*.png"))  # named per input: stem and path hash
    assert len(list((maps / sheet.stem).glob("frame*.png"))) == 6
    assert sheet.stat().st_size > 20_000  # the contact sheet
    plain = tmp_path / "none"
    proc = run_script("deepfakes_images.py", "test_images", "--no-progress")
    assert proc.returncode == 0 and not plain.exists()
