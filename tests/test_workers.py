"""Several files at once (--jobs, the service's --workers): the same rows as one at a
time, and a worker that dies costs only the file it held."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, mixed_inputs, post, rows_of, run_script, serve


@pytest.mark.slow
def test_two_jobs_give_the_rows_and_crops_of_one(fixtures, tmp_path):
    files = mixed_inputs(fixtures, tmp_path)
    for jobs in ("1", "2"):
        proc = run_script("deepfakes_videos.py", *files, "--frames", "3", "--all-faces",
                          "--jobs", jobs, "--no-progress", "--output", tmp_path / f"v{jobs}.csv",
                          "--frames-output", tmp_path / f"f{jobs}.csv")
        assert proc.returncode == 0, proc.stderr
        proc = run_script("extract_faces.py", *files, "--frames", "3", "--jobs", jobs,
                          "--no-progress", "--output", tmp_path / f"crops{jobs}")
        assert proc.returncode == 0, proc.stderr
    one, two = rows_of(tmp_path / "v1.csv"), rows_of(tmp_path / "v2.csv")
    assert [r["video"] for r in one] == [str(f) for f in files]  # the order given
    assert one == two
    assert sum(r["prediction"] == "error" for r in one) == 1
    assert (tmp_path / "f1.csv").read_text() == (tmp_path / "f2.csv").read_text()
    for table in ("manifest.csv", "sources.csv"):
        assert (tmp_path / "crops1" / table).read_text() == \
            (tmp_path / "crops2" / table).read_text()
    crops = sorted(p.relative_to(tmp_path / "crops1")
                   for p in (tmp_path / "crops1").rglob("*.png"))
    assert crops and crops == sorted(p.relative_to(tmp_path / "crops2")
                                     for p in (tmp_path / "crops2").rglob("*.png"))
    for crop in crops:
        assert (tmp_path / "crops1" / crop).read_bytes() == (tmp_path / "crops2" / crop).read_bytes()


@pytest.mark.slow
def test_a_worker_killed_mid_file_leaves_an_error_row_and_the_rest_scored(fixtures, tmp_path):
    files = mixed_inputs(fixtures, tmp_path)
    common = ["--frames", "30", "--no-progress", "--output"]
    whole = run_script("deepfakes_videos.py", *files, *common, tmp_path / "whole.csv",
                       "--jobs", "1")
    assert whole.returncode == 0, whole.stderr
    # the debug log says which worker took which file: kill the one that took a video
    proc = subprocess.Popen([sys.executable, "deepfakes_videos.py", *map(str, files), *common,
                             str(tmp_path / "part.csv"), "--jobs", "2", "-v"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    killed, log = None, []
    for line in proc.stderr:
        log.append(line)
        m = re.search(r"worker (\d+) took (.*\.mp4)$", line.rstrip("\n"))
        if m and killed is None and "broken" not in m.group(2):
            os.kill(int(m.group(1)), signal.SIGKILL)
            killed = m.group(2)
    assert proc.wait(timeout=600) == 0, "".join(log)[-3000:]
    assert killed is not None, "".join(log)[-3000:]
    part, whole = rows_of(tmp_path / "part.csv"), rows_of(tmp_path / "whole.csv")
    assert [r["video"] for r in part] == [r["video"] for r in whole]
    for mine, theirs in zip(part, whole):
        if mine["video"] == killed:
            assert mine["prediction"] == "error"
            assert mine["error"] == ("the worker process was killed by SIGKILL (out of "
                                     "memory?) while on this file")
        else:
            assert mine == theirs
    assert f"{killed}: the worker process was killed by SIGKILL" in "".join(log)


@pytest.mark.slow
def test_the_service_with_two_worker_processes_answers_concurrent_requests_alike(fixtures):
    photo, video = fixtures / "faces/obama.jpg", fixtures / "videos/short_hamilton_clip.mp4"
    expected = {}
    with serve("--weights", "meso4-df", "--workers", "1") as url:
        for path in (photo, video):
            status, body, _ = post(url, path.name, path.read_bytes(), {"frames": "8"})
            assert status == 200, body
            expected[path.name] = body
    answers = {}
    with serve("--weights", "meso4-df", "--workers", "2") as url:
        def ask(path):
            answers[path.name] = post(url, path.name, path.read_bytes(), {"frames": "8"})

        threads = [threading.Thread(target=ask, args=(p,)) for p in (photo, video, photo)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for name, (status, body, _) in answers.items():
        assert status == 200, body
        for key in ("mean_p_real", "n_faces", "prediction", "verdict_meaning"):
            assert body[key] == expected[name][key], (name, key)
        assert [f["p_real"] for f in body["faces"]] == \
            [f["p_real"] for f in expected[name]["faces"]]


@pytest.mark.parametrize("value, words", [("0", "at least 1"), ("-2", "at least 1"),
                                          ("1.5", "whole number")])
def test_bad_jobs_values_are_named(value, words, tmp_path):
    for script in ("deepfakes_videos.py", "extract_faces.py"):
        proc = run_script(script, tmp_path, "--jobs", value)
        assert proc.returncode == 2
        assert "argument --jobs: --jobs must be" in proc.stderr and words in proc.stderr
