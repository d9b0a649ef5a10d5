"""The video pipeline on real videos: frames, faces, geometry, scores, verdicts."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest

from mesonet import faces
from mesonet import media
from mesonet import pipeline
from conftest import ROOT, run_script


def test_sampled_frames_are_the_frames_imageio_reads(fixtures):
    """Hamilton is variable-rate (275 decoded frames, 300 at its nominal 29.97 fps): frame
    i must be imageio's (and so the original's) frame i, decoded once."""
    import imageio_ffmpeg

    path = fixtures / "videos/short_hamilton_clip.mp4"
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    every = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader]
    frames = list(media.iter_frames(path, 30))
    assert len(every) == 300 and len(frames) == 30
    assert [f.index for f in frames][:3] == [0, 10, 21] and frames[-1].index == 299
    for f in frames:
        np.testing.assert_array_equal(f.image, every[f.index])
        assert f.time_s == pytest.approx(f.index / 29.97)


def _geometry_errors(reference, name, result):
    ref = json.loads((reference / "reference_face_geometry.json").read_text())[name]
    ours = {f.frame: f for f in result.faces}
    errors = []
    for key, r in ref["frames"].items():
        f = ours.get(int(key))
        if f is None:
            continue
        errors.append((np.hypot(f.center[0] - r["center_yx"][0], f.center[1] - r["center_yx"][1])
                       / r["length"], abs(f.side - r["length"]) / r["length"],
                       abs(f.rotation_deg - r["rotation_deg"])))
    return ref, np.array(errors)


@pytest.mark.parametrize("name, strict", [("liveportrait_d0_frontal_face_3s.mp4", True),
                                          ("short_hamilton_clip.mp4", False)])
def test_face_geometry_agrees_with_the_original_pipeline(reference, fixtures, finder, name, strict):
    ref = json.loads((reference / "reference_face_geometry.json").read_text())[name]
    result = pipeline.extract_faces(fixtures / "videos" / name, finder,
                                    indices=range(0, ref["n_frames"], ref["sampled_every"]))
    ref, err = _geometry_errors(reference, name, result)
    # faces in at least as many sampled frames as the original found
    assert len(result.faces) >= len(ref["frames"])
    within = (err[:, 0] <= 0.05) & (err[:, 1] <= 0.10) & (err[:, 2] <= 3.0)
    if strict:  # one frontal face: every frame within the tolerances
        assert within.all(), err
    else:
        # a dark stage with tilted and turned heads. From frame 130 on, the original's
        # boxes are dlib CNN boxes, 8 of them cut at the edge of its search zone, and at
        # frame 110 its box is wrong (its upscale never ran); the landmark predictor
        # follows the box it is given. The typical frame must still agree; the exact
        # boxes are what detector="original" gives (the test below).
        assert within.mean() >= 0.5, err
        assert np.median(err[:, 0]) <= 0.05 and np.median(err[:, 1]) <= 0.10
        assert np.median(err[:, 2]) <= 3.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["liveportrait_d0_frontal_face_3s.mp4", "short_hamilton_clip.mp4"])
def test_original_detector_reproduces_the_original_boxes_exactly(reference, fixtures, name):
    """detector='original' runs the original FaceFinder's search step for step: same
    frames with a face, the same boxes to the pixel, the same centre, side and rotation.
    Its one fault is fixed: after 3 frames without a face it searched a half-size frame
    and never scaled the box back. There our box is the reference's doubled, and the
    following frames search a different zone until the track meets the original's again,
    after which every frame is identical once more."""
    ref = json.loads((reference / "reference_face_geometry.json").read_text())[name]
    indices = range(0, ref["n_frames"], ref["sampled_every"])
    result = pipeline.extract_faces(fixtures / "videos" / name, faces.FaceFinder("original"),
                                    indices=indices)
    ours = {f.frame: f for f in result.faces}
    assert sorted(ours) == sorted(int(k) for k in ref["frames"])
    misses, accelerated, rejoined = 0, None, None
    for i in indices:
        if i in ref["frames_without_face"]:
            misses += 1
            continue
        r, f = ref["frames"][str(i)], ours[i]
        same = (list(f.box) == r["box_top_right_bottom_left"] and list(f.center) == r["center_yx"]
                and f.side == r["length"] and f.rotation_deg == pytest.approx(r["rotation_deg"], abs=1e-9))
        if misses >= 3 and accelerated is None:  # found on the half-size frame
            accelerated = i
            assert np.abs(np.array(f.box) - 2 * np.array(r["box_top_right_bottom_left"])).max() <= 1
        elif accelerated is None or rejoined is not None:
            assert same, (i, f, r)
        elif same:
            rejoined = i
        misses = 0
    if accelerated is not None:  # the fixed fault changed the track for a while, not for good
        assert rejoined is not None and rejoined > accelerated


def test_real_videos_score_real_with_meso4_df(fixtures, finder, meso4_df):
    for name in ("liveportrait_d0_frontal_face_3s.mp4", "short_hamilton_clip.mp4"):
        result = pipeline.analyze(fixtures / "videos" / name, meso4_df, finder, frames=30)
        assert result.n_faces >= 20
        assert result.score("mean") > 0.5, name
        assert result.verdict("mean") == "real"
        p = np.array([f.p_real for f in result.faces])
        assert result.score("mean") == pytest.approx(float(p.mean()))
        assert result.score("vote") == pytest.approx(float((p > 0.5).mean()))
        assert result.score("vote") >= 0.5, name  # most faces of a real video pass too


def test_aggregations_are_named_and_distinct():
    p = [0.9, 0.6, 0.45, 0.1]
    assert pipeline.aggregate(p, "mean") == pytest.approx(0.5125)
    assert pipeline.aggregate(p, "vote") == pytest.approx(0.5)
    assert pipeline.aggregate([], "mean") is None
    with pytest.raises(ValueError, match="known: mean, vote"):
        pipeline.aggregate(p, "median")


def test_still_image_is_a_one_frame_video_and_no_face_is_not_real(fixtures, finder, meso4_df):
    face = pipeline.analyze(fixtures / "faces/obama.jpg", meso4_df, finder)
    assert face.n_frames_sampled == 1 and face.n_faces == 1
    empty = pipeline.analyze(fixtures / "no_face/skimage_brick.png", meso4_df, finder)
    assert empty.n_faces == 0 and empty.verdict() == "no_face"
    assert empty.summary()["mean_p_real"] is None  # never NaN, never "real"


def test_every_face_is_tracked_with_all_faces(fixtures, finder, meso4_df):
    result = pipeline.analyze(fixtures / "faces/two_people.jpg", meso4_df, finder, all_faces=True)
    assert result.n_faces == 2 and result.tracks() == [0, 1]
    assert result.score("mean") == pytest.approx(min(f.p_real for f in result.faces))
    largest = pipeline.analyze(fixtures / "faces/two_people.jpg", meso4_df, finder)
    assert largest.n_faces == 1


def test_animated_webp_is_read_as_a_video(fixtures, finder):
    path = need_dev(fixtures) / "ghost_orig_real.webp"
    frames = list(media.iter_frames(path, 10))
    assert len(frames) == 10 and frames[0].image.shape == (560, 464, 3)
    assert frames[1].time_s > 0
    assert pipeline.extract_faces(path, finder, 5).n_faces == 5


def need_dev(fixtures):
    folder = fixtures / "videos_dev"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    return folder


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory, fixtures):
    import imageio_ffmpeg

    folder = tmp_path_factory.mktemp("bad_media")
    data = (fixtures / "videos/short_hamilton_clip.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "sine=duration=1", str(folder / "audio_only.mp4")], check=True)
    (folder / "good.mp4").write_bytes((fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4")
                                      .read_bytes())
    return folder


@pytest.mark.parametrize("name, reason", [
    ("truncated.mp4", "truncated"), ("empty.mp4", "empty file"),
    ("notes.mp4", "not a video"), ("audio_only.mp4", "no video stream"),
    ("missing.mp4", "no such file")])
def test_bad_videos_raise_clear_errors(bad_media, name, reason):
    with pytest.raises(media.MediaError, match=reason) as info:
        list(media.iter_frames(bad_media / name))
    assert name in str(info.value)


@pytest.mark.slow
def test_deepfakes_videos_batch_goes_on_and_writes_everything(bad_media, fixtures, tmp_path):
    out, faces, plots = tmp_path / "v.csv", tmp_path / "f.json", tmp_path / "plots"
    proc = run_script("deepfakes_videos.py", bad_media, fixtures / "no_face/skimage_coffee.png",
                      "--weights", "meso4-df", "--frames", "8", "--output", out,
                      "--frames-output", faces, "--timeline", plots, "--inconclusive", "0")
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        rows = {r["video"].split("/")[-1]: r for r in csv.DictReader(f)}
    assert list(next(iter(rows.values())))[:11] == [
        "video", "path_bytes", "kind", "n_frames_sampled", "n_faces", "n_tracks", "mean_p_real",
        "vote_real", "p_real_std", "p_real_iqr", "prediction"]
    assert rows["good.mp4"]["prediction"] == "real" and rows["good.mp4"]["n_faces"] == "8"
    # the row's spread is that of the face scores listed for that file
    good = [f["p_real"] for f in json.loads(faces.read_text())["results"]
            if f["source"].endswith("good.mp4")]
    assert len(good) == 8
    assert float(rows["good.mp4"]["p_real_std"]) == pytest.approx(float(np.std(good)), abs=1e-4)
    assert float(rows["good.mp4"]["mean_p_real"]) == pytest.approx(float(np.mean(good)), abs=1e-4)
    assert rows["skimage_coffee.png"]["prediction"] == "no_face"
    assert rows["skimage_coffee.png"]["mean_p_real"] == ""
    for name in ("truncated.mp4", "empty.mp4", "notes.mp4", "audio_only.mp4"):
        assert rows[name]["prediction"] == "error" and rows[name]["error"]
        assert name in proc.stderr
    per_face = json.loads(faces.read_text())
    assert len(per_face["results"]) == 8 and "0 = deepfake" in per_face["p_real_meaning"]
    drawn = list(plots.glob("good_*.png"))  # named per input: the stem and a hash of the path
    assert len(drawn) == 1 and drawn[0].stat().st_size > 5000
    assert not list(plots.glob("skimage_coffee*"))  # a still image has no timeline
    # resume: the videos already in the output are kept and skipped
    again = run_script("deepfakes_videos.py", bad_media, "--weights", "meso4-df", "--frames",
                       "8", "--output", out, "--resume")
    assert again.returncode == 0
    with open(out, newline="") as f:
        assert len(list(csv.DictReader(f))) == len(rows)


def test_extract_faces_writes_crops_and_manifest_and_resumes(fixtures, tmp_path):
    args = ["extract_faces.py", fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4",
            fixtures / "faces/two_people.jpg", "--frames", "5", "--output", tmp_path,
            "--all-faces"]
    proc = run_script(*args)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["source", "frame", "time_s", "top", "right", "bottom", "left",
                             "center_y", "center_x", "side", "rotation_deg", "track", "path_bytes",
                             "crop_path"]
    assert len(rows) == 7  # 5 frames of one face, 2 people in the photo
    from PIL import Image

    for r in rows:
        assert Image.open(tmp_path / r["crop_path"]).size == (256, 256)
    again = run_script(*args)
    assert "2 already done" in again.stdout
    with open(tmp_path / "manifest.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 7
    other = run_script(*args[:-1], "--detector", "cnn")  # made another way: refused
    assert other.returncode == 2
    assert "other settings" in other.stderr and "detector=hog" in other.stderr
    with open(tmp_path / "manifest.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 7


def test_extract_faces_without_arguments_says_what_to_give(tmp_path):
    proc = run_script(ROOT / "extract_faces.py", cwd=tmp_path)  # no video.mp4 here
    assert proc.returncode == 2
    assert "no input given" in proc.stderr and "python extract_faces.py" in proc.stderr
    assert not list(tmp_path.iterdir())  # no output/ and no .settings.json left behind


def test_videos_with_output_still_print_a_line_per_file_and_count_kinds(fixtures, tmp_path):
    out = tmp_path / "v.csv"
    proc = run_script("deepfakes_videos.py", fixtures / "videos/short_hamilton_clip.mp4",
                      fixtures / "faces/obama.jpg", "--frames", "3", "--output", out,
                      "--no-progress")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines()
             if ln.split() and ln.split()[0] in ("real", "fake", "inconclusive", "no_face")]
    assert len(lines) == 2 and lines[1].endswith("obama.jpg")
    assert "Files: 2 (1 image, 1 video)" in proc.stdout
    with open(out, newline="") as f:
        assert [r["kind"] for r in csv.DictReader(f)] == ["video", "image"]
