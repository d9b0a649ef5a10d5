"""Training on a tiny real dataset (crops of the shared fixtures), resume and evaluation."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mesonet import pipeline
from conftest import ROOT, run_script


pytestmark = pytest.mark.slow  # real training runs and corpus preparation


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
    assert settings["labels"] == {"df": 0, "real": 1} and settings["left_out"]["training"]["unreadable"] == 1
    assert (tmp_path / "w" / "tiny.curves.png").stat().st_size > 5000
    assert out.exists()
    # an interrupted run picks up after its last finished epoch
    again = run_script(*args, "--epochs", "3")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming" in again.stderr and "after epoch 2" in again.stderr
    rows = history(tmp_path / "w" / "tiny.history.csv")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    # the best weights load through the normal API, architecture read from the file
    from mesonet.classifiers import load_classifier

    clf = load_classifier(weights=str(out))
    assert clf.model.name == "meso4"
    report = tmp_path / "report.json"
    evaluated = run_script("training/evaluate.py", tiny_dataset / "validation", "--weights", out,
                           "--output", report, "--no-progress")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    frames = json.loads(report.read_text())["frames"]
    # the report's AUC is the new weights' on every validation face, computed apart here
    from sklearn.metrics import roc_auc_score

    from mesonet.media import load_face_crop

    files = sorted((tiny_dataset / "validation").rglob("*.jpg"))
    y = [1 if f.parent.name == "real" else 0 for f in files]
    p = clf.predict(np.stack([load_face_crop(f) for f in files]))[:, 0]
    assert frames["n"] == len(files)
    assert frames["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-5)


def test_training_killed_midway_resumes_to_the_same_run(tiny_dataset, tmp_path):
    """SIGKILL after epoch 1 of 3, the same command again: the history has each epoch
    once, and history and weights are those of an uninterrupted run, bit for bit (every
    batch and every dropout mask is fixed by (seed, epoch, step), not by what ran before)."""
    import numpy as np

    from conftest import kill_midway

    def args(out):  # more steps than Keras prefetches (10), which once hid a resume bug
        return ["training/df_CNN.py", "--data", tiny_dataset, "--output", out, "--steps", "12",
                "--batch-size", "8", "--no-progress", "--seed", "3", "--epochs", "3"]

    whole = run_script(*args(tmp_path / "whole" / "t.weights.h5"))
    assert whole.returncode == 0, whole.stderr[-2000:]
    out = tmp_path / "part" / "t.weights.h5"
    assert kill_midway(*args(out), ready=lambda: (out.parent / "t.state.keras").exists())
    assert len(history(out.parent / "t.history.csv")) < 3  # killed with epochs left
    again = run_script(*args(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming" in again.stderr
    a, b = history(tmp_path / "whole" / "t.history.csv"), history(out.parent / "t.history.csv")
    assert [r["epoch"] for r in b] == ["0", "1", "2"]
    assert a == b
    import keras

    wa = keras.saving.load_model(tmp_path / "whole" / "t.state.keras", compile=False).get_weights()
    wb = keras.saving.load_model(out.parent / "t.state.keras", compile=False).get_weights()
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(y, x)
    assert not list(out.parent.glob(".*.tmp*"))


DATA_PARALLEL_STEPS = """
import json, sys
import numpy as np
import keras
from mesonet import classifiers
from mesonet.training import train as df_CNN
n = int(sys.argv[1])
keras.utils.set_random_seed(5)
if n > 1:
    df_CNN.data_parallel(n, 16)
model = df_CNN.training_model(classifiers.build("meso4"))
for layer in model._flatten_layers():
    if isinstance(layer, keras.layers.Dropout):
        layer.rate = 0.0  # the comparison is of the arithmetic, not of random masks
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mean_squared_error")
start = model.get_weights()
rng = np.random.default_rng(0)
losses = []
for step in range(3):
    x = rng.integers(0, 256, (16, 256, 256, 3), dtype=np.uint8)
    y = rng.integers(0, 2, (16, 1)).astype("float32")
    losses.append(float(model.train_on_batch(x, y)))
np.savez(sys.argv[2], losses=np.array(losses),
         **{{f"w{{i}}": w for i, w in enumerate(model.get_weights())}},
         **{{f"s{{i}}": w for i, w in enumerate(start)}})
"""


def test_two_virtual_devices_train_as_one(tiny_dataset, tmp_path):
    """Data parallelism on two virtual CPU devices (JAX) against one device.

    The arithmetic: three SGD steps on the same global batches (dropout off) give the
    same losses within 1e-5 relative, and each weight array lands within 1 % of how far the
    steps moved it: the batch's gradient is summed per
    half, then across, and BatchNorm's statistics are over the whole batch either way, so
    only float32 summation order differs. (Through Adam, df_CNN's optimizer, such
    rounding noise in near-zero gradients becomes whole steps of +-lr, and runs on 1 and 2
    devices drift apart by ~1 % in loss within two epochs: measured, and why the
    comparison uses SGD.) Then df_CNN.py --devices 2 trains end to end on both devices."""
    import subprocess

    import numpy as np


    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"d{n}.npz"
        proc = subprocess.run([sys.executable, "-c", DATA_PARALLEL_STEPS.format(root=str(ROOT)),
                               str(n), str(out)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[n] = np.load(out)
    np.testing.assert_allclose(runs[2]["losses"], runs[1]["losses"], rtol=1e-5)
    weights = [k for k in runs[1].files if k.startswith("w")]
    assert len(weights) > 10
    for key in weights:
        # what three steps moved each array, on one device, against how far two devices
        # land from it: float32 summation order moves the result by a small share of the
        # update (BatchNorm over 16 random images amplifies it to ~1e-5 absolute), while a
        # wrong gradient (half the batch, a missing all-reduce) misses by most of it
        start, one, two = runs[1]["s" + key[1:]], runs[1][key], runs[2][key]
        np.testing.assert_array_equal(runs[2]["s" + key[1:]], start)  # same initial weights
        moved = float(np.linalg.norm(one - start))
        assert moved > 0, key
        assert float(np.linalg.norm(two - one)) <= 0.01 * moved, key
    out = tmp_path / "dp" / "t.weights.h5"
    proc = run_script("training/df_CNN.py", "--data", tiny_dataset, "--output", out,
                      "--steps", "4", "--epochs", "2", "--batch-size", "16", "--no-augment",
                      "--no-progress", "--devices", "2", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Data-parallel over 2 devices" in proc.stderr
    rows = history(out.parent / "t.history.csv")
    assert len(rows) == 2 and all(np.isfinite(float(r["loss"])) for r in rows)
    too_many = run_script("training/df_CNN.py", "--data", tiny_dataset, "--devices", "4",
                          "--output", tmp_path / "x.weights.h5", env=env)
    assert too_many.returncode == 2 and "only 2 device(s)" in too_many.stderr


@pytest.mark.parametrize("args, message", [
    (["--model", "resnet9"], "Unknown model 'resnet9'"),
    (["--init-weights", "mesoinception4-df"], "are for mesoinception4, not meso4"),
    (["--output", "/proc/nowhere/w.weights.h5"], "cannot be written"),
    (["--keep-collected-fakes"], "goes with --synthesize-fakes"),
    (["--degrade", "1.5"], "--degrade is a share of the faces, from 0 to 1"),
    (["--degrade", "0.5", "--no-augment"], "cannot go with --no-augment"),
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


def test_augmentation_keeps_shapes_and_ranges_and_draws_per_face(tiny_dataset):
    from mesonet.training.dataset import Augmentation, load_split

    x = load_split(tiny_dataset / "training", progress=False).x[:8]
    out = Augmentation()(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.uint8
    assert not np.array_equal(out, x)
    diffs = [np.abs(out[i].astype(int) - x[i]).mean() for i in range(8)]
    assert len(set(np.round(diffs, 3))) == 8  # each face gets its own draw
    again = Augmentation()(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)  # reproducible from the seed
    still = Augmentation(zoom=0, rotation_deg=0, brightness=(1, 1), channel_shift=0,
                         flip=False)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(still, x)  # an identity draw changes nothing


def test_degradation_changes_the_faces_it_draws_and_no_other(tiny_dataset):
    """--degrade: the paper's draws are untouched, the degraded faces keep their size and
    stay near the face (JPEG, scaling or blur, not noise), and the share follows the
    setting."""
    from mesonet.training.dataset import Augmentation, degrade, load_split

    x = load_split(tiny_dataset / "training", progress=False).x[:8]
    paper = Augmentation()(x, np.random.default_rng(3))
    none = Augmentation(degrade=0.0)(x, np.random.default_rng(3))
    np.testing.assert_array_equal(paper, none)
    every = Augmentation(degrade=1.0)(x, np.random.default_rng(3))
    changed = [not np.array_equal(every[i], paper[i]) for i in range(8)]
    assert all(changed)
    for i in range(8):
        error = np.abs(every[i].astype(int) - paper[i]).mean()
        assert 0 < error < 12, f"face {i}: mean change {error:.1f} levels"
    rng = np.random.default_rng(0)
    outs = [degrade(x[0], rng) for _ in range(30)]  # every kind, several times
    assert all(o.shape == x[0].shape and o.dtype == np.uint8 for o in outs)
    assert len({o.tobytes() for o in outs}) > 20  # mostly its own strength (JPEG: 61 qualities)
    half = Augmentation(degrade=0.5)(np.repeat(x[:1], 64, axis=0), np.random.default_rng(5))
    base = Augmentation()(np.repeat(x[:1], 64, axis=0), np.random.default_rng(5))
    share = np.mean([not np.array_equal(a, b) for a, b in zip(half, base)])
    assert 0.3 < share < 0.7


def test_a_bfloat16_training_step_matches_float32_on_the_same_batch(tiny_dataset):
    """Mixed bfloat16 (float32 weights, bfloat16 compute) against float32: the same loss
    on the same batch and weights within 2 % (bfloat16 keeps 8 bits of mantissa: each
    product is within 0.4 %, and the errors of 28,000 weights mostly cancel), before and
    after one training step. The step runs with dropout off: its random masks are drawn
    in the compute type, so they differ between the two."""
    import keras

    from mesonet import classifiers
    from mesonet.training.dataset import load_split
    from mesonet.training.train import training_model

    split = load_split(tiny_dataset / "training", progress=False)
    x, y = split.x[:32], split.y[:32]
    keras.utils.set_random_seed(3)
    weights = classifiers.build("meso4").get_weights()  # the same start for both
    before, after = {}, {}
    try:
        for policy in ("float32", "mixed_bfloat16"):
            keras.mixed_precision.set_dtype_policy(policy)
            base = classifiers.build("meso4")
            base.set_weights(weights)
            for layer in base.layers:
                if layer.__class__.__name__ == "Dropout":
                    layer.rate = 0.0
            model = training_model(base)
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mean_squared_error")
            conv = base.get_layer("block1_conv")
            assert (conv.compute_dtype, conv.variable_dtype) == (
                "float32" if policy == "float32" else "bfloat16", "float32")
            before[policy] = float(model.evaluate(x, y, verbose=0))
            model.train_on_batch(x, y)
            after[policy] = float(model.evaluate(x, y, verbose=0))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    for loss in (before, after):
        assert abs(loss["mixed_bfloat16"] - loss["float32"]) < 0.02 * loss["float32"]
    for policy in before:  # the step changed the model, the same way in both
        assert after[policy] < before[policy]


def test_batches_weight_groups_and_mix_made_and_collected_fakes():
    from mesonet.training.dataset import Batches, Mix, Split, group_weights

    rng = np.random.default_rng(0)
    n = 400
    x = rng.integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    y = (np.arange(n) % 4 != 0).astype(np.float32)  # 100 collected fakes, 300 real
    groups = np.array(["big"] * 360 + ["small"] * 40)  # 'big' has 9x the faces of 'small'
    split = Split(x, y, [], groups, np.array(["real"] * n), np.full((n, 68, 2), np.nan))
    w = group_weights(groups)
    assert abs(w[groups == "big"].sum() / w[groups == "small"].sum() - 3.0) < 1e-6  # sqrt(9)
    pool = (rng.integers(0, 256, (10, 256, 256, 3), dtype=np.uint8),
            rng.integers(0, 256, (10, 256, 256, 3), dtype=np.uint8))
    for mix, want in ((Mix(100, False, False), (50, 50, 0)), (Mix(100, True, False), (0, 0, 50)),
                      (Mix(100, True, True), (25, 25, 25))):
        assert (mix.reals, mix.fakes, mix.pairs) == want
        xb, yb = Batches(split, 100, mix, pool if mix.pairs else None, steps=2)[0]
        assert xb.shape == (100, 256, 256, 3) and yb.mean() == 0.5
        from_pool = [any((b == p).all() for p in pool[0]) or any((b == p).all() for p in pool[1])
                     for b in xb]
        from_split = [any((b == s).all() for s in x) for b in xb]
        assert sum(from_pool) == 2 * mix.pairs and sum(from_split) == 100 - 2 * mix.pairs
        if mix.pairs:  # pool reals are labelled real, their forgeries df
            reals = [any((b == p).all() for p in pool[0]) for b in xb]
            assert (yb[np.array(reals)] == 1).all()
    with pytest.raises(ValueError, match="no collected fakes"):
        Batches(Split(x[:10], np.ones(10, np.float32), [], groups[:10], groups[:10],
                      np.zeros((10, 68, 2))), 4, Mix(4, False, False))


def test_every_epoch_trains_on_its_own_batches_whole_or_resumed():
    """What fit trains on, step by step, is batches.draw(epoch, step) for each epoch in
    turn, with more steps than Keras's prefetch queue (10): not epoch 0's batches again
    (Keras starts a finite dataset's workers again from item 0 each epoch) and not items
    prefetched past an epoch's end. From initial_epoch on, a resumed fit draws the same."""
    import keras

    from mesonet.training.dataset import Batches, Mix, Split, as_keras_dataset

    n, steps = 200, 12
    x = np.repeat(np.arange(n, dtype=np.uint8), 4 * 4 * 3).reshape(n, 4, 4, 3)  # face j is j
    y = (np.arange(n) % 2).astype(np.float32)
    split = Split(x, y, [], np.array(["g"] * n), np.array(["real"] * n),
                  np.full((n, 68, 2), np.nan))
    seen = []

    def record(t):
        if hasattr(t, "numpy"):  # a step's real batch, not the symbolic build
            seen.append(tuple(t.numpy()[:, 0, 0, 0].tolist()))
        return t

    def fit(initial, epochs):
        batches = Batches(split, 8, Mix(8, False, False), seed=1, steps=steps)
        inputs = keras.Input((4, 4, 3), dtype="uint8")
        h = keras.layers.Lambda(record)(inputs)
        out = keras.layers.Dense(1)(keras.layers.Flatten()(keras.ops.cast(h, "float32")))
        model = keras.Model(inputs, out)
        model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
        data, set_epoch = as_keras_dataset(batches)
        seen.clear()
        model.fit(data, epochs=epochs, initial_epoch=initial, verbose=0, shuffle=False,
                  callbacks=[set_epoch])
        return [tuple(batches.draw(e, i)[0][:, 0, 0, 0].tolist())
                for e in range(initial, epochs) for i in range(steps)]

    want = fit(0, 3)
    assert seen == want and len(set(want)) == 3 * steps  # every step a new batch
    want = fit(2, 3)
    assert seen == want


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, fixtures):
    """A corpus folder in the shared corpora's layout (labels.csv) made of fixture files,
    prepared by training/prepare_corpus.py: crops, landmarks, families."""
    dev = fixtures / "videos_dev"
    if not dev.exists():
        pytest.skip(f"{dev} is absent")
    root = tmp_path_factory.mktemp("tinycorpus")
    corpus, out = root / "corpus", root / "prepared"  # OUTPUT/../corpus is the source
    items = [("real", "photos", "image", "none", fixtures / "faces" / n)
             for n in ("obama.jpg", "biden.jpg", "skimage_astronaut.png", "two_people.jpg")]
    items += [("real", "lp", "video", "none", fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4"),
              ("real", "hdtf", "video", "none", dev / "hdtf_menendez_real.mp4"),
              ("fake", "dfdc_icpr", "video", "face swap (DFDC)", dev / "dfdc_abqwwspghj_fake.mp4"),
              ("fake", "sadtalker", "video", "reenactment (audio-driven talking head)",
               dev / "sadtalker_art0_fake.mp4")]
    rows = ["path,label,group,media,manipulation,notes"]
    for label, group, media, manipulation, source in items:
        target = corpus / label / group / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
        rows.append(f"{label}/{group}/{source.name},{label},{group},{media},{manipulation},")
    (corpus / "labels.csv").write_text("\n".join(rows) + "\n")
    proc = run_script("training/prepare_corpus.py", "--corpus", corpus, "--output", out,
                      "--video-frames", "6", "--workers", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_prepared_corpus_lists_families_and_landmarks_and_resumes(tiny_corpus):
    from mesonet.training.corpus import read_manifest

    rows = [r for r in read_manifest(tiny_corpus / "corpus.csv") if r["crop"]]
    assert {r["family"] for r in rows} == {"real", "swap", "reenactment"}
    assert all(r["landmarks"] is not None and r["landmarks"].shape == (68, 2) for r in rows)
    assert all((tiny_corpus / r["crop"]).is_file() for r in rows)
    assert sum(r["group"] == "lp" for r in rows) == 6  # --video-frames 6
    # a rerun makes nothing again and lists the same crops
    before = {r["crop"]: (tiny_corpus / r["crop"]).stat().st_mtime_ns for r in rows}
    proc = run_script("training/prepare_corpus.py", "--corpus", tiny_corpus.parent / "corpus",
                      "--output", tiny_corpus, "--video-frames", "6")
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = [r for r in read_manifest(tiny_corpus / "corpus.csv") if r["crop"]]
    assert {r["crop"]: (tiny_corpus / r["crop"]).stat().st_mtime_ns for r in again} == before


def test_evaluate_reports_each_family_and_left_out_source(tiny_corpus, tmp_path):
    report, scores = tmp_path / "families.json", tmp_path / "scores.csv"
    proc = run_script("training/evaluate.py", tiny_corpus, "--weights", "meso4-corpus",
                      "--left-out", "dfdc_icpr", "sadtalker", "hdtf", "photos", "lp",
                      "--table", "--output", report, "--scores", scores, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(report.read_text())
    families = result["families"]
    assert set(families) == {"real", "swap", "reenactment"}
    n_real = families["real"]["n"]
    for family in ("swap", "reenactment"):  # its fakes against every real face
        assert families[family]["n_real"] == n_real and families[family]["n_fake"] > 0
    assert result["frames"]["n"] == n_real + families["swap"]["n_fake"] + \
        families["reenactment"]["n_fake"]
    assert result["sources"]["dfdc_icpr"]["n_fake"] == families["swap"]["n_fake"]
    # --scores: every face once, with its group, family and label; the report's AUCs
    # come back from those scores
    from sklearn.metrics import roc_auc_score

    with open(scores, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len({r["crop"] for r in rows}) == result["frames"]["n"]
    y = np.array([int(r["label"]) for r in rows])
    p = np.array([float(r["p_real meso4-corpus"]) for r in rows])
    assert roc_auc_score(y, p) == pytest.approx(result["frames"]["auc"], abs=1e-6)
    swap = np.array([r["family"] in ("swap", "real") for r in rows])
    assert roc_auc_score(y[swap], p[swap]) == pytest.approx(families["swap"]["auc"], abs=1e-6)
    table = proc.stdout
    assert "| weights | all | reenactment | swap | real passed |" in table
    assert f"| `meso4-corpus` | {result['frames']['auc']:.3f} | " \
           f"{families['reenactment']['auc']:.3f} | {families['swap']['auc']:.3f} |" in table


def test_evaluate_leaves_out_near_identical_fakes_unless_asked(tiny_corpus, tmp_path):
    """A DFDC fake flagged near-identical to its original (no swap in that frame) is not
    scored as a forgery by default, as training leaves it out; it is counted, and
    --keep-near-identical scores it."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_corpus, data, symlinks=True)
    with open(data / "corpus.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    swaps = [r for r in rows if r["crop"] and r["group"] == "dfdc_icpr" and r["label"] == "fake"]
    assert len(swaps) >= 3
    for r in swaps[:2]:
        r["near_identical"] = "1"
    with open(data / "corpus.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    reports = {}
    for name, extra in (("default", []), ("kept", ["--keep-near-identical"])):
        out, scores = tmp_path / f"{name}.json", tmp_path / f"{name}.csv"
        proc = run_script("training/evaluate.py", data, "--weights", "meso4-corpus",
                          "--left-out", "dfdc_icpr", "photos", "--output", out,
                          "--scores", scores, "--no-progress", *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        with open(scores, newline="") as f:
            scored = {Path(r["crop"]).name for r in csv.DictReader(f)}
        reports[name] = json.loads(out.read_text()), scored
    (default, scored), (kept, scored_kept) = reports["default"], reports["kept"]
    assert default["near_identical_left_out"] == 2 and kept["near_identical_left_out"] == 0
    assert default["sources"]["dfdc_icpr"]["n_fake"] == kept["sources"]["dfdc_icpr"]["n_fake"] - 2
    flagged = {Path(r["crop"]).name for r in swaps[:2]}
    assert flagged <= scored_kept and not flagged & scored
    assert scored_kept - scored == flagged


def test_self_blended_training_run_writes_its_samples_and_leaves_groups_out(tiny_corpus, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_corpus, data, symlinks=True)
    # both classes in both splits: validation is a copy of the training crops
    shutil.rmtree(data / "validation", ignore_errors=True)
    shutil.copytree(data / "training", data / "validation")
    out = tmp_path / "w" / "sbi.weights.h5"
    proc = run_script("training/df_CNN.py", "--data", data, "--output", out, "--epochs", "1",
                      "--steps", "2", "--batch-size", "8", "--synthesize-fakes", "sbi",
                      "--keep-collected-fakes", "--forge-pool", "16", "--exclude-groups",
                      "sadtalker", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    settings = json.loads((tmp_path / "w" / "sbi.settings.json").read_text())
    assert "sadtalker" not in settings["groups"] and "dfdc_icpr" in settings["groups"]
    assert settings["left_out"]["training"]["excluded_groups"] > 0
    assert settings["left_out"]["training"]["forgeries"] == 16
    samples = np.asarray(Image.open(tmp_path / "w" / "sbi.samples.png"))
    assert samples.shape[0] == 3 * 256 and samples.shape[1] % 256 == 0
    masks = samples[512:]
    assert (masks.reshape(256, -1, 256, 3).max(axis=(0, 2, 3)) > 0).all()  # no empty mask
    # self-blending needs landmarks: a folder without a manifest is refused with the reason
    plain = tmp_path / "plain"
    for split in ("training", "validation"):
        shutil.copytree(data / "training", plain / split)
    proc = run_script("training/df_CNN.py", "--data", plain, "--output", tmp_path / "x.weights.h5",
                      "--synthesize-fakes", "sbi", "--epochs", "1", "--steps", "1")
    assert proc.returncode == 2 and "No real face has landmarks" in proc.stderr
