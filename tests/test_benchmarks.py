"""The standard benchmarks' adapters on trees in the datasets' own layouts, built here from
real videos (the FF++ c23 clips of ../shared/train under their FF++ names, fixture videos
elsewhere), and the tables on a known tiny case."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED, need, run_script

SPLITS_DIR = SHARED / "reference" / "ffpp_splits"
FFPP_CLIPS = SHARED / "train" / "videos"


def official_split(pairs_dir: Path) -> dict[str, str]:
    """id or pair -> split, from the official files."""
    out = {}
    for split, name in (("training", "train"), ("validation", "val"), ("test", "test")):
        for a, b in json.loads((pairs_dir / f"{name}.json").read_text()):
            out[a] = out[b] = out[f"{a}_{b}"] = out[f"{b}_{a}"] = split
    return out


@pytest.fixture(scope="module")
def ffpp_tree(tmp_path_factory):
    """FF++ with two compressions and three methods: the clips of the shared corpus (ids
    004, 519, 634 and their swaps, one in each official split) under their FF++ paths."""
    need(FFPP_CLIPS / "real" / "ffpp_c23_icpr")
    root = tmp_path_factory.mktemp("FaceForensics++")
    fakes = {"NeuralTextures": "004_982", "Deepfakes": "519_515", "FaceSwap": "634_660"}
    for c in ("c23", "c40"):
        orig = root / "original_sequences" / "youtube" / c / "videos"
        orig.mkdir(parents=True)
        for vid in ("004", "519", "634"):
            (orig / f"{vid}.mp4").symlink_to(FFPP_CLIPS / "real" / "ffpp_c23_icpr" / f"{vid}.mp4")
        for method, pair in fakes.items():
            folder = root / "manipulated_sequences" / method / c / "videos"
            folder.mkdir(parents=True)
            (folder / f"{pair}.mp4").symlink_to(FFPP_CLIPS / "fake" / "ffpp_c23_icpr" / f"{pair}.mp4")
    (root / "original_sequences" / "youtube" / "c40" / "videos" / "634.mp4").unlink()  # half there
    return root


def test_ffpp_takes_the_official_split_and_says_what_is_missing(ffpp_tree):
    from mesonet.training import benchmarks as b

    found = b.ffpp(ffpp_tree, "c23", ["Deepfakes", "FaceSwap", "NeuralTextures", "Face2Face"],
                   SPLITS_DIR)
    official = official_split(SPLITS_DIR)
    assert len(found.videos) == 6
    for v in found.videos:
        assert v.split == official[v.path.stem], v.path
        assert v.path.parent.parent.name == "c23"
    assert found.counts() == {"training": {"real": 1, "fake": 1},
                              "validation": {"real": 1, "fake": 1},
                              "test": {"real": 1, "fake": 1}}
    b.check_no_identity_crosses(found.videos)
    assert "original 000" in found.missing and "Face2Face (all)" in found.missing
    assert "Face2Face: no manipulated_sequences/Face2Face/c23/videos/" in found.summary()
    # the other compression, a video short: prepared for what is there
    c40 = b.ffpp(ffpp_tree, "c40", ["Deepfakes"], SPLITS_DIR)
    assert sorted(v.path.stem for v in c40.videos) == ["004", "519", "519_515"]
    assert all(v.path.parent.parent.name == "c40" for v in c40.videos)
    assert "original 634" in c40.missing


def test_ffpp_refuses_another_layout_and_bad_split_files(tmp_path, ffpp_tree):
    from mesonet.training import benchmarks as b

    (tmp_path / "videos").mkdir()
    with pytest.raises(b.LayoutError, match=r"not a FaceForensics\+\+ folder: expected "
                                            r"original_sequences/youtube/c23/videos/; found videos/"):
        b.ffpp(tmp_path, splits=SPLITS_DIR)
    bad = tmp_path / "splits"
    bad.mkdir()
    for name in ("train", "val"):
        (bad / f"{name}.json").write_text("[]")
    with pytest.raises(b.LayoutError, match="no test.json"):
        b.ffpp(ffpp_tree, splits=bad)
    (bad / "test.json").write_text("{not json")
    with pytest.raises(b.LayoutError, match="not an FF\\+\\+ split file"):
        b.ffpp(ffpp_tree, splits=bad)
    # split files that name none of these videos: every one reported missing, none taken
    (bad / "test.json").write_text('[["900", "901"]]')
    found = b.ffpp(ffpp_tree, "c23", ["Deepfakes"], bad)
    assert found.videos == [] and sorted(found.missing) == ["Deepfakes 900_901", "Deepfakes 901_900",
                                                            "original 900", "original 901"]
    assert "3 original videos in no split file" in found.summary()


def _celebdf_tree(root: Path, video: Path) -> Path:
    for rel in ("Celeb-real/id0_0000.mp4", "Celeb-real/id0_0001.mp4", "Celeb-real/id1_0000.mp4",
                "Celeb-real/id2_0000.mp4", "Celeb-real/id3_0000.mp4", "YouTube-real/00000.mp4",
                "YouTube-real/00001.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
                "Celeb-synthesis/id2_id3_0000.mp4", "Celeb-synthesis/id1_id2_0001.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(video)
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 YouTube-real/00000.mp4\n"
        "0 Celeb-synthesis/id9_id8_0000.mp4\n")
    return root


def test_celebdf_keeps_test_identities_out_of_training(tmp_path, fixtures):
    from mesonet.training import benchmarks as b

    root = _celebdf_tree(tmp_path / "Celeb-DF-v2", fixtures / "videos" / "short_hamilton_clip.mp4")
    found = b.celebdf(root)
    by = {f"{v.path.parent.name}/{v.path.name}": v for v in found.videos}
    assert {k for k, v in by.items() if v.split == "test"} == {
        "Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4", "YouTube-real/00000.mp4"}
    # id0 and id1 are test identities: their other videos are not trained on
    assert not {"Celeb-real/id0_0001.mp4", "Celeb-real/id1_0000.mp4",
                "Celeb-synthesis/id1_id2_0001.mp4"} & set(by)
    assert {k for k, v in by.items() if v.split != "test"} == {
        "Celeb-real/id2_0000.mp4", "Celeb-real/id3_0000.mp4", "YouTube-real/00001.mp4",
        "Celeb-synthesis/id2_id3_0000.mp4"}
    assert by["Celeb-synthesis/id0_id1_0000.mp4"].label == "fake"
    assert by["YouTube-real/00000.mp4"].label == "real"
    b.check_no_identity_crosses(found.videos)
    assert found.missing == ["Celeb-synthesis/id9_id8_0000.mp4"]
    assert "3 videos left out of training: they share an identity with the test split" \
        in found.summary()
    (root / "List_of_testing_videos.txt").write_text("real Celeb-real/id0_0000.mp4\n")
    with pytest.raises(b.LayoutError, match="List_of_testing_videos.txt:1: expected"):
        b.celebdf(root)


def test_dfdc_keeps_a_fake_with_its_original(tmp_path, fixtures):
    from mesonet.training import benchmarks as b

    part = tmp_path / "dfdc" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    video = fixtures / "videos" / "short_hamilton_clip.mp4"
    meta = {}
    for i in range(12):
        meta[f"orig{i:02d}.mp4"] = {"label": "REAL", "split": "train"}
        meta[f"fake{i:02d}.mp4"] = {"label": "FAKE", "split": "train", "original": f"orig{i:02d}.mp4"}
    for name in meta:
        (part / name).symlink_to(video)
    meta["gone.mp4"] = {"label": "FAKE", "original": "orig00.mp4"}
    (part / "metadata.json").write_text(json.dumps(meta))
    found = b.dfdc(tmp_path / "dfdc")
    assert len(found.videos) == 24 and found.missing == ["dfdc_train_part_0/gone.mp4"]
    split = {v.path.stem: v.split for v in found.videos}
    assert all(split[f"fake{i:02d}"] == split[f"orig{i:02d}"] for i in range(12))
    assert len(set(split.values())) >= 2  # clusters spread over the splits
    b.check_no_identity_crosses(found.videos)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(b.LayoutError, match="no DFDC part found: expected folders with "
                                            "metadata.json"):
        b.dfdc(empty)


def test_known_answers_of_the_tables():
    from mesonet.training import benchmarks as b
    from mesonet.training.calibration import auc

    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1])
    labels = np.array([1, 1, 1, 0, 0, 0])
    acc = b.accuracies(scores, labels)
    assert (acc["real"], acc["fake"], acc["overall"]) == (2 / 3, 2 / 3, 4 / 6)
    videos = ["a", "a", "b", "c", "c", "d"]
    vs, vl = b.video_scores(scores, labels, videos)
    assert np.allclose(vs, [0.85, 0.3, 0.4, 0.1]) and list(vl) == [1, 1, 0, 0]
    assert auc(scores, labels) == pytest.approx(8 / 9)
    assert auc(vs, vl) == pytest.approx(3 / 4)
    assert auc(scores[:3], labels[:3]) is None  # one class: no AUC


@pytest.mark.slow
def test_prepare_then_both_tables_on_the_ffpp_tree(ffpp_tree, tmp_path, reference):
    out = tmp_path / "ffpp-c23"
    args = ["prepare", "ffpp", ffpp_tree, "--methods", "Deepfakes", "FaceSwap", "NeuralTextures",
            "--output", out, "--frames", "4", "--splits", SPLITS_DIR, "--no-progress"]
    proc = run_script("-m", "mesonet", "benchmark", *args)
    assert proc.returncode == 0, proc.stderr
    assert "test       real     1  fake     1" in proc.stdout
    with open(out / "corpus.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    official = official_split(SPLITS_DIR)
    assert {r["split"] for r in rows} == {"training", "validation", "test"}
    for r in rows:
        assert r["split"] == official[Path(r["source"]).stem] and (out / r["crop"]).is_file()
    again = run_script("-m", "mesonet", "benchmark", *args)  # resumes: nothing to do
    assert "(0 new, 6 done before)" in again.stdout
    # an undecodable video is a counted error, named with its reason
    broken = ffpp_tree / "manipulated_sequences" / "FaceSwap" / "c23" / "videos" / "519_515.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(300))
    try:
        proc = run_script("-m", "mesonet", "benchmark", *args)
    finally:
        broken.unlink()
    assert proc.returncode == 0 and "1 could not be read" in proc.stdout
    assert "manipulated_sequences/FaceSwap/c23/videos/519_515.mp4" in (out / "errors.csv").read_text()
    # the tables: the paper's and the cross-dataset one, recomputed here from the scores
    paper = run_script("-m", "mesonet", "benchmark", "paper", out, "--weights", "meso4-df",
                       "--output", tmp_path / "paper.json")
    assert paper.returncode == 0, paper.stderr
    assert "meso4-df                     fake" in paper.stdout
    cross = run_script("-m", "mesonet", "benchmark", "cross", out, "--weights", "meso4-df",
                       "--output", tmp_path / "cross.json")
    assert cross.returncode == 0, cross.stderr
    assert "Meso4 (DeepfakeBench)" in cross.stdout and "0.6077" in cross.stdout
    from mesonet import scorers
    from mesonet.training import benchmarks as b
    from mesonet.training.calibration import auc

    faces, labels, videos = b.load_split(out, "test")
    assert sorted(set(videos)) == ["manipulated_sequences/FaceSwap/c23/videos/634_660.mp4",
                                   "original_sequences/youtube/c23/videos/634.mp4"]
    p = scorers.load_scorer("meso4-df").predict(faces)[:, 0]
    table = json.loads((tmp_path / "paper.json").read_text())["rows"][0]
    assert table["frame"]["overall"] == pytest.approx(((p > 0.5) == labels.astype(bool)).mean())
    cell = json.loads((tmp_path / "cross.json").read_text())["rows"][0]["datasets"]["ffpp-c23"]
    assert cell["frame_auc"] == pytest.approx(auc(p, labels))
    assert cell["faces"] == len(p) and cell["videos"] == 2
