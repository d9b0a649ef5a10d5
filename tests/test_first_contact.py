"""What a newcomer meets in the first hour: outputs that never overwrite each other, and
optional parts that say what to install."""

from __future__ import annotations

import shutil

import pytest

from conftest import run_script


@pytest.mark.slow
def test_same_named_inputs_in_two_folders_get_their_own_outputs(fixtures, tmp_path):
    coll = tmp_path / "coll"
    for sub in ("a", "b"):
        (coll / sub).mkdir(parents=True)
        shutil.copy(fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4", coll / sub / "clip.mp4")
    timelines, maps = tmp_path / "tl", tmp_path / "maps"
    proc = run_script("deepfakes_videos.py", coll, "--frames", "3", "--timeline", timelines,
                      "--explain", maps, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    # --explain loads Keras and TensorFlow: none of their start-up lines reach the user
    for noise in ("I0000", "oneDNN custom operations", "absl::InitializeLog"):
        assert noise not in proc.stderr, proc.stderr
    assert len(list(timelines.glob("clip_*.png"))) == 2  # one timeline per input
    sheets = sorted(maps.glob("clip_*.png"))
    assert len(sheets) == 2
    per_face = [sorted((maps / s.stem).glob("*.png")) for s in sheets]
    assert [len(f) for f in per_face] == [3, 3]  # 6 face maps, none overwritten


def test_photos_are_found_and_aligned_and_crops_score_as_before(fixtures, reference, tmp_path):
    """deepfakes_images.py: a photo without a face is `no_face`; a photo with a face is
    scored on its aligned crop (the video pipeline's); the authors' test crops score as
    the original scored them, found as crops by the rule or forced with --crops."""
    import csv
    import json

    import numpy as np

    from mesonet import faces, media, scorers
    from mesonet.faces import FaceFinder

    out = tmp_path / "r.json"
    proc = run_script("deepfakes_images.py", fixtures / "no_face/skimage_coffee.png",
                      fixtures / "faces/obama.jpg", reference / "test_images", "--weights",
                      "meso4-corpus", "--output", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = {(r["path"].split("/")[-1], r["face"]): r for r in json.loads(out.read_text())["results"]}
    assert rows[("skimage_coffee.png", None)]["prediction"] == "no_face"
    assert rows[("skimage_coffee.png", None)]["p_real"] is None
    # the photo: one face, scored on the crop the finder and the alignment give
    finder, scorer = FaceFinder(), scorers.load_scorer("meso4-corpus")
    image = media.read_image(fixtures / "faces/obama.jpg")
    box = finder.detect_full(image)
    center, side, rotation = faces.find_coordinates(finder.landmarks(image, box)[0])
    crop = faces.aligned_face(image, center, side, rotation)
    assert rows[("obama.jpg", 0)]["p_real"] == pytest.approx(
        float(scorer.predict(crop[None])[0, 0]), abs=1e-5)
    whole = float(scorer.predict(media.load_face_crop(fixtures / "faces/obama.jpg")[None])[0, 0])
    assert abs(rows[("obama.jpg", 0)]["p_real"] - whole) > 1e-2  # not the whole photo
    # the authors' crops: taken as crops by the rule, and scored whole as the original did
    for path in sorted((reference / "test_images").rglob("*.jpg")):
        expected = float(scorer.predict(media.load_face_crop(path)[None])[0, 0])
        assert rows[(path.name, None)]["p_real"] == pytest.approx(expected, abs=1e-5), path
    forced = tmp_path / "crops.csv"
    proc = run_script("deepfakes_images.py", reference / "test_images", "--weights",
                      "meso4-corpus", "--crops", "--output", forced, "--no-progress")
    with open(forced, newline="") as f:
        again = {r["path"].split("/")[-1]: float(r["p_real"]) for r in csv.DictReader(f)}
    assert again == {k[0]: v["p_real"] for k, v in rows.items() if k[0] in again}
    assert np.isfinite(list(again.values())).all() and len(again) == 4
