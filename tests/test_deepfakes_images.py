"""deepfakes_images.py as a user runs it: outputs, labels, and every kind of bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_script


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory, reference):
    """A folder of valid images in unusual formats next to broken files."""
    folder = tmp_path_factory.mktemp("odd")
    real = folder / "real"
    real.mkdir()
    face = Image.open(reference / "test_images/real/real00240.jpg").convert("RGB")
    face.convert("L").save(real / "gray.png")
    face.convert("RGBA").save(real / "rgba.png")
    face.convert("CMYK").save(real / "cmyk.jpg")
    sixteen = (np.asarray(face.convert("L"), np.uint16) * 257)
    Image.fromarray(sixteen).save(real / "sixteen_bit.png")
    assert Image.open(real / "sixteen_bit.png").mode.startswith("I")
    bad = folder / "bad"
    bad.mkdir()
    (bad / "text.jpg").write_text("this is not an image")
    (bad / "empty.jpg").write_bytes(b"")
    data = (reference / "test_images/real/real00772.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(data[: len(data) // 3])
    Image.new("L", (11_000, 11_000)).save(bad / "huge.png")  # 121 megapixels, a small file
    return folder


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sample_images_score_and_report(tmp_path):
    """The README's first command: built-in samples, shipped default weights, no network."""
    out = tmp_path / "r.csv"
    proc = run_script("deepfakes_images.py", "--output", out)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    assert list(rows[0])[:5] == ["path", "path_bytes", "p_real", "prediction", "label"]
    assert {r["label"] for r in rows} == {"fake", "real"}
    from mesonet.zoo import DEFAULT_WEIGHTS

    assert all(r["weights"] == DEFAULT_WEIGHTS for r in rows)
    # each row is the default scorer's P(real) of that file's crop, computed apart here
    from mesonet import scorers
    from mesonet.media import load_face_crop

    scorer = scorers.load_scorer(DEFAULT_WEIGHTS)
    for r in rows:
        expected = scorer.predict(load_face_crop(r["path"])[None])[0, 0]
        assert float(r["p_real"]) == pytest.approx(float(expected), abs=1e-5), r["path"]
    assert "0 = deepfake/Face2Face, 1 = real" in proc.stdout
    assert "Accuracy on fake" in proc.stdout and "Average P(real)" in proc.stdout


def test_readme_shows_what_the_first_command_prints():
    """The README's printed sample output is pinned: both scripts print exactly its lines
    (with the shipped default weights; rerun them and paste when the default changes)."""
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("The first command prints:")[1]
    shown = block.split("```")[1].strip("\n").splitlines()
    images = run_script("deepfakes_images.py", "--no-progress")
    videos = run_script("deepfakes_videos.py", "data/sample_video.mp4", "--no-progress")
    assert images.returncode == 0 and videos.returncode == 0, images.stderr + videos.stderr
    printed = [line for line in (images.stdout + videos.stdout).splitlines() if line.strip()]
    assert printed == [line for line in shown if line.strip()]


def test_unusual_formats_score_and_broken_files_are_reported(odd_images, tmp_path):
    out = tmp_path / "r.json"
    proc = run_script("deepfakes_images.py", odd_images, "--output", out,
                      "--weights", "meso4-df")
    assert proc.returncode == 0, proc.stderr  # some images scored: success
    rows = {r["path"].split("/")[-1]: r for r in json.loads(out.read_text())["results"]}
    assert all(rows[name]["label"] == "real" for name in
               ("gray.png", "rgba.png", "cmyk.jpg", "sixteen_bit.png"))
    # each format scores as its pixels do, decoded here apart: RGBA as the RGB face it was
    # made from, grey as its one channel repeated three times (the original's load_img)
    from mesonet import scorers

    scorer = scorers.load_scorer("meso4-df")
    face = Image.open(odd_images / "real" / "rgba.png").convert("RGB").resize((256, 256),
                                                                             Image.NEAREST)
    grey = np.asarray(Image.open(odd_images / "real" / "gray.png").resize((256, 256),
                                                                         Image.NEAREST))
    expected = scorer.predict(np.stack([np.asarray(face), np.repeat(grey[..., None], 3, -1)]))
    assert rows["rgba.png"]["p_real"] == pytest.approx(float(expected[0, 0]), abs=1e-5)
    assert rows["gray.png"]["p_real"] == pytest.approx(float(expected[1, 0]), abs=1e-5)
    # 16-bit is rescaled, not clipped: it scores like the 8-bit grey version
    assert rows["sixteen_bit.png"]["p_real"] == pytest.approx(rows["gray.png"]["p_real"], abs=0.02)
    reasons = {name: rows[name]["error"] for name in
               ("text.jpg", "empty.jpg", "truncated.jpg", "huge.png")}
    assert "not an image" in reasons["text.jpg"]
    assert "empty file" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "megapixels" in reasons["huge.png"]
    for name in reasons:
        assert f"{name}: " in proc.stderr  # each failure named with its reason


def test_nothing_scored_exits_non_zero(odd_images):
    proc = run_script("deepfakes_images.py", odd_images / "bad", odd_images / "missing.jpg",
                      "--weights", "meso4-df")
    assert proc.returncode == 1
    assert "missing.jpg: no such file or folder" in proc.stderr
    assert "Scored 0 of 5 images" in proc.stdout


@pytest.mark.parametrize("weights, message", [
    ("meso9-xx", "Unknown weights 'meso9-xx'"),
    ("/nonexistent/w.h5", "w.h5 does not exist"),
])
def test_bad_weights_fail_before_any_work(weights, message):
    proc = run_script("deepfakes_images.py", "--weights", weights)
    assert proc.returncode == 2 and message in proc.stderr


def test_weights_of_the_wrong_architecture(reference):
    proc = run_script("deepfakes_images.py", "--model", "meso4", "--weights",
                      reference / "weights/MesoInception_DF.h5")
    assert proc.returncode == 2 and "does not fit meso4" in proc.stderr
    proc = run_script("deepfakes_images.py", "--model", "meso4", "--weights", "mesoinception4-df")
    assert proc.returncode == 2 and "are for mesoinception4, not meso4" in proc.stderr


def test_output_must_be_csv_or_json(tmp_path):
    proc = run_script("deepfakes_images.py", "--output", tmp_path / "r.txt")
    assert proc.returncode == 2 and "must end in .csv or .json" in proc.stderr
