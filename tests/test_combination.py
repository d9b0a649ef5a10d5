"""Combinations of weights (`NAME.combination.json`): the lower P(real) of real networks,
by name or by file, through the library, the scripts, the explanations and bad files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import run_script

MEMBERS = ["meso4-corpus", "meso4-df"]


@pytest.fixture(scope="module")
def combo_file(tmp_path_factory, reference):
    path = tmp_path_factory.mktemp("combo") / "corpus-and-df.combination.json"
    path.write_text(json.dumps({"members": MEMBERS, "rule": "min",
                                "trained_on": "a test of the rule"}))
    return path


@pytest.fixture(scope="module")
def faces(reference, face):
    from mesonet import media

    names = ["real/real00240.jpg", "real/real00772.jpg", "df/df00204.jpg", "df/df01254.jpg"]
    crops = [np.asarray(media.load_face_crop(reference / "test_images" / n)) for n in names]
    return np.stack(crops + [face[0]])


def test_a_combination_scores_the_lowest_p_real_of_its_members(combo_file, faces):
    from mesonet import classifiers
    from mesonet import scorers
    from mesonet import zoo

    members = [classifiers.load_classifier(weights=m, runtime="keras") for m in MEMBERS]
    scores = np.concatenate([m.predict(faces) for m in members], axis=1)
    # the members disagree on these faces, so the rule matters
    assert np.abs(scores[:, 0] - scores[:, 1]).max() > 0.05
    for combo in (scorers.load_scorer(str(combo_file), runtime="keras"),
                  scorers.load_scorer(str(combo_file), runtime="onnx")):
        assert type(combo).__name__ == "Combination"
        np.testing.assert_allclose(combo.predict(faces)[:, 0], scores.min(axis=1), atol=1e-6)
        np.testing.assert_array_equal(combo.deciding_member(faces), scores.argmin(axis=1))
        assert combo.weights == str(combo_file) and combo.model.name == \
            f"the lower P(real) of {MEMBERS[0]} (meso4) and {MEMBERS[1]} (meso4)"
    record = zoo.resolve(str(combo_file))
    assert record.architecture == zoo.COMBINATION and record.origin == "file"
    assert zoo.trained_on(str(combo_file)) == \
        "the lower P(real) of meso4-corpus and meso4-df: a test of the rule"
    assert zoo.where(str(combo_file)) == (True, str(combo_file))


def test_a_member_may_be_a_weights_file_beside_the_combination(combo_file, faces, tmp_path):
    import shutil

    from mesonet import scorers, zoo

    shutil.copy(zoo.project_weights()["meso4-corpus"], tmp_path / "mine.weights.h5")
    mine = tmp_path / "mine.combination.json"
    mine.write_text(json.dumps({"members": ["mine.weights.h5", "meso4-df"]}))  # relative
    assert zoo.combination(str(mine))["members"] == [str(tmp_path / "mine.weights.h5"),
                                                     "meso4-df"]
    np.testing.assert_allclose(scorers.load_scorer(str(mine), runtime="keras").predict(faces),
                               scorers.load_scorer(str(combo_file), runtime="keras").predict(faces),
                               atol=1e-6)


def test_a_combination_face_is_explained_by_the_member_that_decided(combo_file, faces):
    from mesonet import scorers
    from mesonet.explain import explain

    combo = scorers.load_scorer(str(combo_file), runtime="keras")
    decided = combo.deciding_member(faces)
    maps = explain(combo, faces)
    assert maps.shape == (len(faces), 256, 256) and np.isfinite(maps).all()
    for i, member in enumerate(combo.members):
        if (decided == i).any():
            np.testing.assert_allclose(maps[decided == i], explain(member, faces[decided == i]),
                                       atol=1e-6)


def test_scripts_take_a_combination_and_name_it(combo_file, reference, tmp_path):
    out = tmp_path / "scores.csv"
    proc = run_script("deepfakes_images.py", reference / "test_images", "--weights", combo_file,
                      "--output", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["weights"] for r in rows} == {str(combo_file)}
    combined = {r["path"]: float(r["p_real"]) for r in rows}
    lowest = {}
    for member in MEMBERS:
        member_out = tmp_path / f"{member}.csv"
        assert run_script("deepfakes_images.py", reference / "test_images", "--weights", member,
                          "--output", member_out, "--no-progress").returncode == 0
        with open(member_out, newline="") as f:
            for r in csv.DictReader(f):
                lowest[r["path"]] = min(lowest.get(r["path"], 1.0), float(r["p_real"]))
    assert combined.keys() == lowest.keys() and len(combined) >= 4
    for path, p in combined.items():
        assert p == pytest.approx(lowest[path], abs=1e-5), path


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid"),
    (json.dumps({"rule": "min"}), "is not valid"),
    (json.dumps({"members": ["meso4-df"]}), "two or more"),
    (json.dumps({"members": ["meso4-df", "meso9-nothing"]}), "meso9-nothing"),
])
def test_a_bad_combination_file_is_refused_naming_it(tmp_path, content, message):
    from mesonet import zoo

    bad = tmp_path / "bad.combination.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match=message) as e:
        zoo.resolve(str(bad))
    assert str(bad) in str(e.value)
    proc = run_script("deepfakes_images.py", "--weights", bad)
    assert proc.returncode != 0 and str(bad) in proc.stderr and message in proc.stderr


def test_a_combination_rule_must_be_known():
    from mesonet.scoring import Combination

    with pytest.raises(ValueError, match="unknown rule 'mean'"):
        Combination("x", [object(), object()], "mean")
    with pytest.raises(ValueError, match="at least two members"):
        Combination("x", [object()])


def test_every_shipped_combination_resolves_and_has_its_card():
    from mesonet import zoo

    shipped = zoo.project_combinations()
    assert shipped, "weights/ ships at least one combination (meso4-df-or-gan)"
    for name, path in shipped.items():
        spec = zoo.combination(name)
        assert len(spec["members"]) >= 2 and spec["rule"] == "min" and spec["trained_on"]
        assert name in zoo.available_weights() and zoo.resolve(name).architecture == "combination"
        assert (path.parent / f"{name}.md").is_file()


def test_what_weights_were_trained_on_comes_from_their_record(reference):
    """weights/NAME.record.json, not the card's prose, says what each shipped weights was
    trained on, in words and as source groups, with the file's hash (meso4-df's is the
    authors' file: `reference` skips without ../shared)."""
    import json

    from mesonet import zoo

    for name in ("meso4-gan", "meso4-corpus", "meso4-dfdc-or-gan", "meso4-df"):
        record = json.loads((zoo.PROJECT_WEIGHTS_DIR / f"{name}.record.json").read_text())
        assert zoo.trained_on(name).startswith(record["trained_on"])
        assert record["sha256"] == zoo.resolve(name).sha256
    assert "GAN whole faces" in zoo.trained_on("meso4-gan")
    assert "model card: weights/meso4-gan.md" in zoo.trained_on("meso4-gan")
    gan = zoo.record_of("meso4-gan")["training_groups"]
    assert "stylegan_140k_zoya" in gan and "facecrops_dfdc_deepfakefaces" not in gan
    assert zoo.trained_on("/some/file.weights.h5") == "unknown (a weights file given by path)"
