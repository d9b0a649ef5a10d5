"""int8 scoring (--precision int8): the quantized graph stays within its stated parity on
the reference faces, is asked for by name, and is never float32 under the int8 name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, run_script


def reference_faces(reference):
    from mesonet.media import load_face_crop

    paths = sorted((reference / "test_images").rglob("*.jpg"))
    return paths, np.stack([load_face_crop(p) for p in paths])


def test_int8_stays_within_its_stated_parity_on_the_reference_faces(reference, fixtures, face):
    from mesonet import scorers

    record = json.loads((ROOT / "weights" / "meso4-df.record.json").read_text())["int8"]
    assert record["parity"]["within_bounds"]  # the bounds of issue 34, on validation faces
    paths, faces = reference_faces(reference)
    faces = np.concatenate([faces, face[0][None]])  # and a real photo's aligned crop
    f32 = scorers.load_scorer("meso4-df")
    i8 = scorers.load_scorer("meso4-df", precision="int8")
    assert i8.precision == "int8" and f32.precision == "float32"
    a, b = f32.predict(faces)[:, 0], i8.predict(faces)[:, 0]
    assert not np.array_equal(a, b)  # really another graph
    assert np.abs(a - b).max() <= record["parity"]["max_abs_delta"]
    # the released code's rule (0.5) calls every face alike; at the weights' operating
    # point (fake at <= 0.051) one of these five faces (df00204: 0.041 -> 0.057) moves to
    # inconclusive: the 1 % of verdicts that may change, measured on 2,000 faces
    from mesonet.contract import OperatingPoint

    plain = OperatingPoint.plain()
    assert [plain.verdict(x) for x in a] == [plain.verdict(x) for x in b]
    # the authors' forged test faces stay below their real ones
    labels = np.array(["real" in p.parent.name for p in paths])
    assert b[:len(paths)][~labels].max() < b[:len(paths)][labels].min()


def test_the_scripts_score_in_int8_when_asked_and_say_so(reference, tmp_path):
    out = {}
    for precision in ("float32", "int8"):
        proc = run_script("deepfakes_videos.py", reference / "test_images", "--weights",
                          "meso4-df", "--precision", precision, "--jobs", "1",
                          "--output", tmp_path / f"{precision}.json", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        out[precision] = json.loads((tmp_path / f"{precision}.json").read_text())
    assert out["int8"]["precision"] == "int8" and out["float32"]["precision"] == "float32"
    rows = {p: {r["video"]: r["mean_p_real"] for r in out[p]["results"]} for p in out}
    assert rows["int8"].keys() == rows["float32"].keys() and rows["int8"] != rows["float32"]
    for name, score in rows["float32"].items():
        assert abs(rows["int8"][name] - score) < 0.25, name


def test_int8_without_a_graph_or_on_keras_is_a_clear_error(reference):
    """(meso4-f2f and meso4-df are the authors' files: `reference` skips without ../shared.)"""
    from mesonet import scorers

    with pytest.raises(ValueError, match="No int8 graph for weights meso4-f2f: make one with "
                                         "`mesonet export --weights meso4-f2f --precision int8"):
        scorers.load_scorer("meso4-f2f", precision="int8")
    with pytest.raises(ValueError, match="int8 scoring runs on ONNX Runtime"):
        scorers.load_scorer("meso4-df", runtime="keras", precision="int8")


@pytest.mark.slow
def test_an_int8_graph_outside_its_bounds_is_warned_of_once_with_workers(reference, tmp_path):
    """meso4-gan's int8 graph changes 1.8 % of verdicts (its record): the command says so
    once, not once more in each of its two worker processes."""
    proc = run_script("deepfakes_videos.py", reference / "test_images", "--weights",
                      "meso4-gan", "--precision", "int8", "--jobs", "2",
                      "--output", tmp_path / "out.csv", "--no-progress", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "worker" in proc.stderr.lower()  # the -v log shows the pool at work
    assert proc.stderr.count("is less faithful than asked") == 1, proc.stderr
