"""What users are told: the shipped operating points, and the shortcut test."""

from __future__ import annotations

import numpy as np


def fixture_faces(fixtures):
    """Real fixture photos' aligned crops and their self-blended forgeries (the same face
    with a blended, slightly altered inner face): pairs that differ only by the forgery."""
    from mesonet import faces, media
    from mesonet.faces import FaceFinder
    from mesonet.training.synthesize import synthesize

    finder, reals, fakes = FaceFinder(), [], []
    for name in ("obama.jpg", "biden.jpg", "skimage_astronaut.png", "obama_small.jpg"):
        image = media.read_image(fixtures / "faces" / name)
        finder.reset()
        _, marks, (center, side, rotation) = finder.track(image)
        crop = faces.aligned_face(image, center, side, rotation)
        landmarks = faces.landmarks_in_crop(marks, center, side, rotation)
        fake, _ = synthesize(crop, landmarks, "sbi", np.random.default_rng(0))
        reals.append(crop)
        fakes.append(fake)
    return np.stack(reals), np.stack(fakes)


def test_blur_moves_a_real_face_and_its_forgery_alike_under_the_default(fixtures):
    """The shortcut test (issue 31): a Gaussian blur of sigma 1 px must not be a cue. For
    each real fixture face and its own forgery, blur moves P(real) under the shipped
    default by amounts within 0.1 of each other (median over the faces); a detector that
    read sharpness instead of forgery traces would lift the real face apart."""
    import cv2

    from mesonet import scorers, zoo

    reals, fakes = fixture_faces(fixtures)
    scorer = scorers.load_scorer(zoo.DEFAULT_WEIGHTS)
    blur = lambda x: np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in x])  # noqa: E731
    shift_real = scorer.predict(blur(reals))[:, 0] - scorer.predict(reals)[:, 0]
    shift_fake = scorer.predict(blur(fakes))[:, 0] - scorer.predict(fakes)[:, 0]
    print(f"blur shift, real {np.round(shift_real, 3)}, forged {np.round(shift_fake, 3)}")
    assert np.abs(shift_real).max() > 0.01  # blur does move the scores: the test measures
    assert float(np.median(np.abs(shift_real - shift_fake))) <= 0.1


def test_every_shipped_weights_has_calibrated_points_for_faces_and_videos():
    """The records hold both points, fitted on unseen sources, with what they mean; the
    default's promise on real faces is the one the README states."""
    from mesonet import zoo

    shipped = [n for n in zoo.available_weights() if zoo.record_of(n) is not None]
    assert zoo.DEFAULT_WEIGHTS in shipped and len(shipped) >= 9
    for name in shipped:
        for level in ("frame", "video"):
            point = zoo.operating_point(name, level)
            assert point.calibrated and point.level == level, (name, level)
            assert point.real_called_fake <= 0.05, (name, level)  # the target, measured
    frame = zoo.operating_point(zoo.DEFAULT_WEIGHTS, "frame")
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"({100 * frame.real_called_fake:.1f} % on average)" in readme
    assert frame.meaning("fake") in readme.replace("\n", " ") or \
        frame.meaning("fake").split(", ")[1] in readme


def test_a_weights_file_without_a_point_falls_back_to_half_with_a_warning(tmp_path, caplog):
    import shutil

    from mesonet import zoo

    mine = tmp_path / "mine.weights.h5"
    shutil.copy(zoo.project_weights()["meso4-dfdc"], mine)
    with caplog.at_level("WARNING"):
        point = zoo.operating_point(str(mine), "frame")
    assert (point.fake_at_most, point.real_above) == (0.5, 0.5) and not point.calibrated
    assert str(mine) in caplog.text and "no calibrated operating point" in caplog.text
