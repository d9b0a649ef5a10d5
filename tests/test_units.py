"""Small helpers pinned on hand-made inputs: no ../shared, no models."""

from __future__ import annotations


import numpy as np
import pytest




def test_iou_of_boxes():
    from mesonet.faces import iou

    a = (0, 10, 10, 0)  # (top, right, bottom, left): a 10 x 10 square
    assert iou(a, a) == 1.0
    assert iou(a, (0, 20, 10, 10)) == 0.0  # side by side, touching
    assert iou(a, (0, 15, 10, 5)) == pytest.approx(50 / 150)  # half overlapping
    assert iou(a, (2, 8, 8, 2)) == pytest.approx(36 / 100)  # one inside the other


def test_scale_box_maps_back_to_source_pixels_and_clips():
    from mesonet.faces import scale_box

    # a box found on a half-size copy of a zone cut at (y0, x0) = (100, 50)
    assert scale_box((10, 40, 30, 20), 0.5, (100, 50)) == (120, 130, 160, 90)
    assert scale_box((10, 40, 30, 20), 0.5, (100, 50), shape=(150, 120)) == (120, 120, 150, 90)
    assert scale_box((-5, 10, 10, -5), 1.0, shape=(100, 100)) == (0, 10, 10, 0)


def test_tracker_keeps_people_apart_and_follows_them():
    from mesonet.pipeline import Tracker

    t = Tracker()
    left, right = (10, 60, 60, 10), (10, 200, 60, 150)
    assert t.assign([left, right]) == [0, 1]
    # next frame: both moved a little and come in the other order
    assert t.assign([(12, 202, 62, 152), (12, 62, 62, 12)]) == [1, 0]
    # a third person appears far away; one of the two is gone
    assert t.assign([(300, 400, 350, 350), (14, 64, 64, 14)]) == [2, 0]


def test_sample_indices_spread_evenly_with_both_ends():
    from mesonet.media import sample_indices

    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 10) == [0, 1, 2]
    assert sample_indices(10, None) == list(range(10))
    assert sample_indices(10, 1) == [0]
    assert sample_indices(0, 5) == []


@pytest.mark.parametrize("head, kind", [
    (b"\xff\xd8\xff\xe0" + bytes(28), "image"),
    (b"\x89PNG\r\n\x1a\n" + bytes(24), "image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(16), "image"),
    (b"\x00\x00\x00\x18ftypisom" + bytes(20), "video"),
    (b"\x00\x00\x00\x18ftypM4A " + bytes(20), None),  # audio only
    (b"\x1a\x45\xdf\xa3" + bytes(28), "video"),
    (b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(16), "video"),
    (b"just some text, not a picture", None),
])
def test_sniff_decides_by_content(head, kind):
    from mesonet.service import sniff

    assert sniff(head) == kind


def test_auc_eer_and_ap_on_hand_made_scores():
    from mesonet.training.evaluate import metrics

    y = [1, 1, 1, 1, 0, 0, 0, 0]  # 1 = real
    perfect = metrics(y, [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["accuracy"] == 1.0
    assert perfect["average_precision_fake"] == 1.0
    inverted = metrics(y, [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    assert inverted["auc"] == 0.0 and inverted["eer"] == 1.0 and inverted["accuracy"] == 0.0
    # one real face scored below one fake: 15 of 16 (real, fake) pairs in order
    one_off = metrics(y, [0.9, 0.8, 0.7, 0.35, 0.4, 0.3, 0.2, 0.1])
    assert one_off["auc"] == pytest.approx(15 / 16)
    assert one_off["eer"] == pytest.approx(0.25)  # 1 of 4 real rejected, 1 of 4 fakes passed
    assert one_off["accuracy_real"] == 0.75 and one_off["accuracy_fake"] == 1.0
    assert "auc" not in metrics([1, 1], [0.2, 0.9])  # one class: no AUC, not a made-up one


def test_threshold_rule_and_labels_are_one_contract():
    from mesonet.contract import check_threshold, label_from_path, prediction_of

    assert prediction_of(0.5000001) == "real" and prediction_of(0.5) == "fake"
    assert prediction_of(0.3, threshold=0.2) == "real"
    assert label_from_path("x/deepfake/a.mp4") == "fake" and label_from_path("x/df/a.jpg") == "fake"
    assert label_from_path("fake/real/a.jpg") == "real"  # the nearest folder wins
    assert label_from_path("x/other/a.jpg") is None
    with pytest.raises(ValueError, match="received 1.5"):
        check_threshold(1.5)


def test_crop_folders_use_the_same_label_table(tmp_path):
    from mesonet.training.dataset import list_split

    for folder in ("deepfake", "real"):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "x.npy", np.zeros(1))  # not an image suffix: ignored
        (tmp_path / folder / "a.jpg").write_bytes(b"")
    files, labels = list_split(tmp_path)
    assert [f.parent.name for f in files] == ["deepfake", "real"] and list(labels) == [0, 1]


def test_inconclusive_band_and_the_spread_of_a_video():
    from mesonet.contract import check_band, prediction_of
    from mesonet.pipeline import Face, VideoResult

    assert prediction_of(0.534, 0.5, band=0.05) == "inconclusive"
    assert prediction_of(0.459, 0.5, band=0.05) == "inconclusive"
    assert prediction_of(0.56, 0.5, band=0.05) == "real" and prediction_of(0.44, 0.5, 0.05) == "fake"
    with pytest.raises(ValueError, match="received 0.6"):
        check_band(0.6)
    video = VideoResult("v.mp4", faces=[Face(i, i / 25, (0, 10, 10, 0), (5, 5), 10, 0.0,
                                             p_real=p) for i, p in enumerate([0.2, 0.4, 0.6, 0.8])])
    std, iqr = video.spread()
    assert std == pytest.approx(np.std([0.2, 0.4, 0.6, 0.8])) and iqr == pytest.approx(0.3)
    from mesonet.contract import OperatingPoint

    assert video.verdict("mean") == "fake"  # the plain rule: mean 0.5 is not above 0.5
    assert video.verdict("mean", OperatingPoint.plain(0.5, 0.1)) == "inconclusive"
    assert video.verdict("mean", OperatingPoint(0.45, 0.9)) == "inconclusive"
    assert video.verdict("vote", OperatingPoint(0.5, 0.9)) == "fake"  # 2 of 4 above 0.5
    summary = video.summary("mean", OperatingPoint.plain(0.5, 0.1))
    assert summary["prediction"] == "inconclusive" and summary["p_real_iqr"] == pytest.approx(0.3)
    assert VideoResult("empty.mp4").spread() == (None, None)


def test_progress_in_a_log_is_lines_not_carriage_returns(caplog, monkeypatch):
    """Where stderr is not a terminal (a log, CI), progress is a periodic line."""
    from mesonet import progress as p

    monkeypatch.setattr(p, "PERIOD", 0.0)  # a line at every step, to see them
    with caplog.at_level("INFO", logger="progress"):
        assert list(p.progress(range(3), unit="file", desc="scoring")) == [0, 1, 2]
    lines = [r.getMessage() for r in caplog.records]
    assert [ln.split(",")[0] for ln in lines] == ["scoring: 1/3 file (33 %)",
                                                  "scoring: 2/3 file (67 %)",
                                                  "scoring: 3/3 file (100 %)",
                                                  "scoring: 3/3 file (100 %)"]
    assert "min left" in lines[0] and lines[-1].endswith("(done)")
    assert not any("\r" in ln for ln in lines)
    items = [1, 2]
    assert p.progress(items, enabled=False) is items  # --no-progress: nothing at all


def test_a_script_writes_no_bar_into_a_redirected_log():
    from conftest import run_script

    proc = run_script("deepfakes_images.py", "test_images", "--weights", "meso4-corpus")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "img/s]" not in proc.stderr
    assert proc.stdout.count("test_images/") == 2


def test_the_service_answers_carry_the_scripts_row_columns():
    """The API's response models hold every column of the scripts' per-video and per-face
    rows (pipeline.VIDEO_COLUMNS, FACE_COLUMNS): one layout, stated once, checked here."""
    from mesonet.pipeline import FACE_COLUMNS, VIDEO_COLUMNS, VideoResult
    from mesonet.service import Analysis, FaceResult, render

    # path_bytes is the file name's bytes, for files the scripts write; the API names the
    # upload in `filename` instead
    assert set(FACE_COLUMNS) - {"source"} <= set(FaceResult.model_fields)
    assert set(VIDEO_COLUMNS) - {"path_bytes"} <= set(Analysis.model_fields)
    model = {"name": "meso4-df", "trained_on": "x", "note": "",
             "here": True, "where": "meso4-df"}
    from mesonet.contract import OperatingPoint

    model = {**model, "operating_points": {}}
    answer = render(VideoResult("clip.mp4", error="unreadable"), "video", "meso4-df", "mean",
                    OperatingPoint.plain(level="video"), model)
    parsed = Analysis(**{**answer, "filename": "clip.mp4"})
    assert parsed.prediction == "error" and parsed.n_faces == 0
