"""Bad input never stops a batch: every entry point over a corpus of broken files.

The corpus is made by tests/malformed.py from the fixtures (over 1,000 files; a sample of
each class in the quick run). Every entry point runs over it: the image and video
scripts, face extraction, evaluation, training's data loading and the HTTP API. Checked:
no crash, one row per file with a reason that names a cause, good files score as they do
alone, peak memory bounded, every file done within a time limit. The counts are printed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, post, run_script, serve
from malformed import IMAGE_SUFFIXES, make_corpus, media_files


SAMPLE = 60  # files in the quick run: every class, the good files and odd names whole
MAX_SECONDS_PER_FILE = 20.0
MAX_PEAK_RSS_MB = 4000  # TensorFlow, the detector and one decoded frame, with room
NOISE = ("libpostproc", "libavutil", "ffmpeg version", "configuration:", "built with", "===")
OK_STATUS = {200, 400, 413, 415, 422}


def corpus(tmp_path_factory, fixtures, sample):
    folder = tmp_path_factory.mktemp("malformed") / "corpus"
    return folder, make_corpus(folder, fixtures, sample)


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory, fixtures):
    return corpus(tmp_path_factory, fixtures, SAMPLE)


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def check_reason(name: str, reason: str) -> None:
    """A reason names a cause: not empty, not ffmpeg's banner, not a bare errno text."""
    assert reason and reason.strip(), f"{name}: an error row without a reason"
    assert not any(n in reason for n in NOISE), f"{name}: noise for a reason: {reason!r}"
    assert reason.strip().lower() not in ("invalid argument", "cannot read video"), (name, reason)
    assert "unexpected error" not in reason, f"{name}: not handled: {reason}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def printable_names(folder: Path, entries) -> set[str]:
    from mesonet.outputs import printable

    return {printable(folder / e.name) for e in entries}


def batch_rows(args, table: Path, key: str, expected: set[str], per_face: bool = False) -> list[dict]:
    """Run a batch script over the corpus: no crash, one row per file (with per_face: one
    per face found in a photo, at least one per file), named as expected, each error with
    a reason; its rows."""
    proc = run_script(*args, "--no-progress", timeout=1800)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rows = read_rows(table)
    assert {r[key] for r in rows} == expected
    assert len(rows) >= len(expected) if per_face else len(rows) == len(expected)
    for r in rows:
        if r["error"]:
            check_reason(r[key], r["error"])
    return rows


def check_every_entry_point(folder: Path, entries, work: Path, api_sample: int | None) -> dict:
    """Run them all over the corpus in `folder`, two at a time (they are independent
    processes: the suite's other worker is often idle by then); the counts, for the
    report."""
    from concurrent.futures import ThreadPoolExecutor

    listed = media_files(entries)
    images = [e for e in listed if Path(e.name).suffix.lower() in IMAGE_SUFFIXES]
    report = {"files": len(entries), "listed": len(listed)}
    good_scores = _score_good_files_alone(folder, entries, work)
    import time

    def timed(name, check, *args):
        start = time.perf_counter()
        out = check(*args)
        out.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
        return out

    with ThreadPoolExecutor(2) as pool:  # the longest first
        checks = [pool.submit(timed, "videos", _check_videos, folder, listed, work, good_scores),
                  pool.submit(timed, "api", _check_api, folder, listed, work, api_sample,
                              good_scores),
                  pool.submit(timed, "extract", _check_extract, folder, listed, work),
                  pool.submit(timed, "images", _check_images, folder, images, work),
                  pool.submit(timed, "evaluate", _check_evaluate, folder, images, work)]
        report["seconds"] = {}
        for future in checks:
            result = future.result()
            report["seconds"].update(result.pop("seconds"))
            report.update(result)
    report["peak_rss_mb"] = round(peak_rss_mb())
    assert report["peak_rss_mb"] < MAX_PEAK_RSS_MB
    report["crashes"] = 0
    return report


def _score_good_files_alone(folder, entries, work) -> dict:
    """The good files, scored alone in a clean folder: the corpus run must score them the
    same."""
    clean = work / "clean"
    clean.mkdir()
    for e in entries:
        if e.kind == "good":
            shutil.copyfile(folder / e.name, clean / e.name)
    alone = run_script("deepfakes_videos.py", clean, "--frames", "4", "--output",
                       work / "clean.csv", "--no-progress")
    assert alone.returncode == 0, alone.stderr
    good_scores = {Path(r["video"]).name: r["mean_p_real"] for r in read_rows(work / "clean.csv")}
    assert all(good_scores.values()), good_scores  # every good file has a face
    return good_scores


def _check_videos(folder, listed, work, good_scores):
    from mesonet.outputs import printable

    report = {}
    # videos (every media file), with per-file times from the debug log
    videos = run_script("deepfakes_videos.py", folder, "--frames", "4", "--output",
                        work / "videos.csv", "--no-progress", "-v", timeout=1800)
    assert videos.returncode in (0, 1), videos.stderr[-3000:]
    assert "Traceback" not in videos.stderr, videos.stderr[-3000:]
    rows = read_rows(work / "videos.csv")
    actual = {printable(folder / e.name): folder / e.name for e in listed}
    assert len(rows) == len(listed)
    assert {r["video"] for r in rows} == printable_names(folder, listed)
    for r in rows:
        assert r["prediction"] in ("real", "fake", "inconclusive", "no_face", "error"), r
        if r["prediction"] == "error":
            check_reason(r["video"], r["error"])
        if r["path_bytes"]:  # an escaped name: its bytes give back the exact name
            assert bytes.fromhex(r["path_bytes"]) == os.fsencode(actual[r["video"]])
    by_name = {Path(r["video"]).name: r for r in rows}
    for name, score in good_scores.items():
        assert by_name[name]["mean_p_real"] == score, name
    times = [float(t) for t in re.findall(r"done in ([0-9.]+) s$", videos.stderr, re.M)]
    assert len(times) == len(listed)
    report["videos"] = {"rows": len(rows), "errors": sum(r["prediction"] == "error" for r in rows),
                        "slowest_s": round(max(times), 3), "total_s": round(sum(times), 1)}
    assert max(times) < MAX_SECONDS_PER_FILE
    report["errors_by_reason"] = dict(Counter(r["error"] for r in rows if r["error"])
                                      .most_common())

    return report


def _check_images(folder, images, work):
    report = {}
    # images: the CSV is written even with names that are not UTF-8
    rows = batch_rows(["deepfakes_images.py", folder, "--output", work / "images.csv"],
                      work / "images.csv", "path", printable_names(folder, images), per_face=True)
    # each row is a scored face, a photo without a face, or an error with its reason
    assert all(bool(r["p_real"]) + bool(r["error"]) + (r["prediction"] == "no_face") == 1
               for r in rows)
    report["images"] = {"rows": len(rows), "errors": sum(bool(r["error"]) for r in rows),
                        "no_face": sum(r["prediction"] == "no_face" for r in rows)}

    return report


def _check_extract(folder, listed, work):
    report = {}
    # extraction: one sources.csv row per file, crops only of files that have faces
    crops = work / "crops"
    rows = batch_rows(["extract_faces.py", folder, "--frames", "4", "--output", crops],
                      crops / "sources.csv", "source", printable_names(folder, listed))
    manifest = read_rows(crops / "manifest.csv")
    assert {r["source"] for r in manifest} == {r["source"] for r in rows if int(r["n_faces"])}
    report["extract"] = {"rows": len(rows), "errors": sum(bool(r["error"]) for r in rows),
                         "crops": len(manifest)}

    return report


def _check_evaluate(folder, images, work):
    report = {}
    # evaluation and training's loader, on a labelled folder of the image files
    labelled = work / "labelled"
    for i, e in enumerate(images):
        sub = labelled / ("real" if i % 2 else "df")
        sub.mkdir(parents=True, exist_ok=True)
        src = folder / e.name
        if src.is_symlink() or not src.is_file() or e.kind == "unreadable":
            (sub / e.name).symlink_to(src.readlink() if src.is_symlink() else src)
        else:
            shutil.copyfile(src, sub / e.name)
    ev = run_script("training/evaluate.py", labelled, "--weights", "meso4-corpus", "--output",
                    work / "eval.json", "--no-progress", timeout=1800)
    assert ev.returncode == 0, ev.stderr[-3000:]
    result = json.loads((work / "eval.json").read_text())  # one weights: their report
    scored, failed = result["frames"]["n"], len(result["failed"])
    assert scored + failed == len(images) and scored > 0
    for f in result["failed"]:
        check_reason(f["path"], f["error"])
    from mesonet.training.dataset import load_split

    split = load_split(labelled, progress=False)
    assert len(split.x) == scored and split.counts["unreadable"] == failed
    report["evaluate"] = {"scored": scored, "failed": failed}

    return report


def _check_api(folder, listed, work, api_sample, good_scores):
    from mesonet.outputs import printable

    report = {}
    # the HTTP API: every upload answered with a reason, never a server error
    regular = [e for e in listed if (folder / e.name).is_file() and e.kind != "unreadable"
               and not (folder / e.name).is_symlink()]
    if api_sample is not None:
        regular = [e for e in regular if e.kind in ("good", "odd_name")] + \
            [e for e in regular if e.kind not in ("good", "odd_name")][::max(1, len(regular)
                                                                           // api_sample)]
    statuses = Counter()
    from mesonet.zoo import DEFAULT_WEIGHTS  # what the good files were scored alone with

    with serve("--weights", DEFAULT_WEIGHTS, "--workers", "1", "--queue", "4",
               "--temp-dir", work) as url:
        for e in regular:
            status, answer, _ = post(url, printable(e.name), (folder / e.name).read_bytes(),
                                     {"frames": "4"})
            statuses[status] += 1
            assert status in OK_STATUS, (e.name, status, answer)
            if status != 200:
                check_reason(e.name, answer["error"]["message"])
            elif e.kind == "good":
                assert f"{answer['mean_p_real']:.6f}".rstrip("0") == \
                    f"{float(good_scores[e.name]):.6f}".rstrip("0"), e.name
        status, _, _ = post(url, "good.jpg", (folder / "good_face.jpg").read_bytes())
        assert status == 200  # still up
    report["api"] = {"uploads": sum(statuses.values()), "status": dict(sorted(statuses.items()))}
    return report


def show(report: dict, name: str) -> None:
    """Print the counts, and keep them in output/ (the README quotes the full run's)."""
    text = json.dumps(report, indent=1)
    print("\nmalformed-input corpus:", text)
    (ROOT / "output").mkdir(exist_ok=True)
    (ROOT / "output" / f"malformed_{name}.json").write_text(text + "\n")


def test_bad_input_never_stops_a_batch_sample(sample_corpus, tmp_path):
    folder, entries = sample_corpus
    assert {e.kind for e in entries} >= {"truncated", "bit_flip", "shuffled_header",
                                         "zero_bytes", "wrong_content", "polyglot",
                                         "huge_declared", "odd_name", "symlink", "good"}
    show(check_every_entry_point(folder, entries, tmp_path, api_sample=40), "sample")


@pytest.mark.slow
def test_the_corpus_is_the_same_every_time(tmp_path, fixtures):
    a = make_corpus(tmp_path / "a", fixtures, 60)
    b = make_corpus(tmp_path / "b", fixtures, 60)
    assert [e.name for e in a] == [e.name for e in b]
    for e in a:
        pa, pb = tmp_path / "a" / e.name, tmp_path / "b" / e.name
        if pa.is_file() and not pa.is_symlink() and e.kind != "unreadable":
            assert pa.read_bytes() == pb.read_bytes(), e.name
