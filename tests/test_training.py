"""Training on a tiny real dataset (crops of the shared fixtures), resume and evaluation."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from PIL import Image

import pipeline
from conftest import ROOT, run_script

sys.path.insert(0, str(ROOT / "training"))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, fixtures, finder):
    """Real: faces of the real fixture videos; df: faces of two forged videos."""
    dev = fixtures / "videos_dev"
    if not dev.exists():
        pytest.skip(f"{dev} is absent")
    root = tmp_path_factory.mktemp("tiny")
    sources = {"real": [fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4",
                        dev / "hdtf_menendez_real.mp4"],
               "df": [dev / "dfdc_abqwwspghj_fake.mp4", dev / "sadtalker_art0_fake.mp4"]}
    for label, videos in sources.items():
        for k, video in enumerate(videos):
            result = pipeline.extract_faces(video, finder, 12)
            for i, face in enumerate(result.faces):
                split = "validation" if i % 4 == 3 else "training"
                folder = root / split / label
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(face.crop).save(folder / f"v{k}_{i:02d}.jpg", quality=90)
    (root / "training" / "real" / "broken.jpg").write_bytes(b"not a jpeg")  # skipped, counted
    return root


def history(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_training_lowers_the_loss_writes_its_files_and_resumes(tiny_dataset, tmp_path):
    out = tmp_path / "w" / "tiny.weights.h5"
    args = ["training/df_CNN.py", "--data", tiny_dataset, "--output", out, "--steps", "6",
            "--batch-size", "16", "--no-augment", "--no-progress", "--seed", "1"]
    first = run_script(*args, "--epochs", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    rows = history(tmp_path / "w" / "tiny.history.csv")
    assert len(rows) == 2
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    settings = json.loads((tmp_path / "w" / "tiny.settings.json").read_text())
    assert settings["batch_size"] == 16 and settings["loss"] == "mse"
    assert settings["labels"] == {"df": 0, "real": 1} and settings["skipped_unreadable"] == 1
    assert (tmp_path / "w" / "tiny.curves.png").stat().st_size > 5000
    assert out.exists()
    # an interrupted run picks up after its last finished epoch
    again = run_script(*args, "--epochs", "3")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming" in again.stderr and "after epoch 2" in again.stderr
    rows = history(tmp_path / "w" / "tiny.history.csv")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    # the best weights load through the normal API, architecture read from the file
    from classifiers import load_classifier

    clf = load_classifier(weights=str(out))
    assert clf.model.name == "meso4"
    report = tmp_path / "report.json"
    evaluated = run_script("training/evaluate.py", tiny_dataset / "validation", "--weights", out,
                           "--output", report, "--no-progress")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    frames = json.loads(report.read_text())["frames"]
    assert frames["n"] > 10 and 0 <= frames["auc"] <= 1 and 0 <= frames["eer"] <= 1


@pytest.mark.parametrize("args, message", [
    (["--model", "resnet9"], "Unknown model 'resnet9'"),
    (["--init-weights", "mesoinception4-df"], "are for mesoinception4, not meso4"),
    (["--output", "/proc/nowhere/w.weights.h5"], "cannot be written"),
    (["--keep-collected-fakes"], "goes with --synthesize-fakes"),
])
def test_bad_training_arguments_fail_before_any_work(tiny_dataset, args, message):
    proc = run_script("training/df_CNN.py", "--data", tiny_dataset, *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_single_class_dataset_is_refused(tmp_path, tiny_dataset):
    import shutil

    for split in ("training", "validation"):
        shutil.copytree(tiny_dataset / split / "real", tmp_path / split / "real")
    proc = run_script("training/df_CNN.py", "--data", tmp_path)
    assert proc.returncode == 2 and "no images in its df class folder" in proc.stderr


def test_augmentation_and_synthesis_keep_shapes_and_ranges():
    import keras

    from data import augmentation
    from synthesize import synthesize

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    for method in ("fwa", "sbi"):
        fake = synthesize(crop, method, rng)
        assert fake.shape == crop.shape and fake.dtype == np.uint8
        assert not np.array_equal(fake, crop)
        # the change is confined to the face: the corners are untouched
        assert np.array_equal(fake[:10, :10], crop[:10, :10])
    x = keras.ops.convert_to_tensor(np.repeat(crop[None], 4, 0).astype("float32"))
    out = keras.ops.convert_to_numpy(augmentation(seed=1)(x, training=True))
    assert out.shape == (4, 256, 256, 3) and out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out[0], out[1])  # each image gets its own draw
    same = keras.ops.convert_to_numpy(augmentation(seed=1)(x, training=False))
    np.testing.assert_array_equal(same, x)


def test_synthesized_fakes_alone_or_beside_the_collected_ones():
    from data import SYNTHESIZED_SHARE, Batches

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (400, 256, 256, 3), dtype=np.uint8)
    y = (np.arange(400) % 4 != 0).astype(np.float32)  # 100 collected fakes, 300 real
    alone = Batches(x, y, 100, "sbi", steps=2)
    xb, yb = alone[0]
    assert set(np.unique(yb)) == {0.0, 1.0}
    # every face is a real one; the df faces are forged copies of real faces
    assert not any((xb[j] == x[y == 0]).all(axis=(1, 2, 3)).any() for j in range(100))
    mixed = Batches(x, y, 100, "sbi", steps=2, keep_collected=True)
    xb, yb = mixed[1]
    idx = mixed.order[100:200]
    untouched = (xb == x[idx]).all(axis=(1, 2, 3))
    assert (yb[y[idx] == 0] == 0).all() and untouched[y[idx] == 0].all()  # collected fakes kept
    forged = (y[idx] == 1) & ~untouched
    assert (yb[forged] == 0).all() and (yb[(y[idx] == 1) & untouched] == 1).all()
    assert 0 < forged.sum() < (y[idx] == 1).sum()  # a share of the real faces, not all
    assert abs(forged.sum() / (y[idx] == 1).sum() - SYNTHESIZED_SHARE) < 0.2
