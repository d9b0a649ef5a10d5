"""Scoring a corpus on a real local Ray cluster (`ray start --head` on 127.0.0.1, 2 CPUs):
the same rows as one process, a killed job resumed to the same result, bad files as
error rows, and clear errors before any work."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import free_port, kill_midway, run_script

pytest.importorskip("ray", reason="Ray is installed by `bash setup.sh --test` "
                                  "(requirements-ray.txt)")
pytestmark = pytest.mark.slow  # a real cluster: about 20 s to start, a minute of jobs
RAY = Path(sys.executable).with_name("ray")
SCORES = ("mean_p_real", "vote_real", "p_real_std", "p_real_iqr")


@pytest.fixture(scope="module")
def cluster():
    """A head node on 127.0.0.1 with 2 CPUs in its own short temp folder (Ray's socket
    paths must be short), stopped with `ray stop` after the module."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1",
                            "--port", str(port), "--num-cpus", "2", "--temp-dir", temp,
                            "--include-dashboard", "false", "--disable-usage-stats"],
                           capture_output=True, text=True, env=env, timeout=180)
    assert start.returncode == 0, start.stderr[-3000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(fixtures, tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for name in ("videos/liveportrait_d0_frontal_face_3s.mp4", "videos/short_hamilton_clip.mp4",
                 "faces/obama.jpg", "faces/two_people.jpg", "no_face/skimage_coffee.png",
                 "faces/biden.jpg"):
        shutil.copyfile(fixtures / name, folder / Path(name).name)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(300))
    (folder / "notes.jpg").write_text("not an image")
    return folder


def rows_of(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def single(corpus, tmp_path_factory):
    """The one-process run's rows and faces, to compare with."""
    out = tmp_path_factory.mktemp("single")
    proc = run_script("deepfakes_videos.py", corpus, "--frames", "6", "--all-faces",
                      "--output", out / "videos.csv", "--frames-output", out / "faces.csv",
                      "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return rows_of(out / "videos.csv"), rows_of(out / "faces.csv")


def same_rows(got: list[dict], want: list[dict], key: str) -> None:
    assert [r[key] for r in got] == [r[key] for r in want]
    for g, w in zip(got, want):
        for column, value in w.items():
            if column in SCORES or column == "p_real":
                assert (g[column] == "") == (value == ""), (column, g, w)
                if value:
                    assert abs(float(g[column]) - float(value)) <= 1e-6, (column, g, w)
            else:
                assert g[column] == value, (column, g, w)


def score(cluster, corpus, out, *extra):
    return ["-m", "mesonet", "corpus", corpus, "--output", out, "--ray", cluster, "--frames", "6",
            "--all-faces", "--actors", "2", "--shard-files", "1", "--no-progress", *extra]


def test_the_cluster_gives_the_rows_of_one_process(cluster, corpus, single, tmp_path):
    proc = run_script(*score(cluster, corpus, tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    videos, faces = single
    same_rows(rows_of(tmp_path / "out" / "videos.csv"), videos, "video")
    same_rows(rows_of(tmp_path / "out" / "faces.csv"), faces, "source")
    errors = {Path(r["video"]).name: r["error"] for r in rows_of(tmp_path / "out" / "videos.csv")
              if r["error"]}
    assert set(errors) == {"broken.mp4", "notes.jpg"}  # bad files are error rows
    assert "not an image or video" in errors["notes.jpg"]
    assert len(list((tmp_path / "out" / "videos").glob("part-*.csv"))) == 8


def test_a_killed_job_resumes_to_the_complete_identical_result(cluster, corpus, single,
                                                               tmp_path):
    out = tmp_path / "out"
    args = score(cluster, corpus, out)
    assert kill_midway(*args, ready=lambda: len(list((out / "videos").glob("part-*.csv"))) >= 2)
    shards = len(list((out / "videos").glob("part-*.csv")))
    assert 2 <= shards < 8  # killed with files left
    again = run_script(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{shards} from earlier runs" in again.stdout
    videos, faces = single
    same_rows(rows_of(out / "videos.csv"), videos, "video")  # complete, nothing twice
    same_rows(rows_of(out / "faces.csv"), faces, "source")


def test_parquet_shards_and_a_manifest_with_labels(cluster, corpus, tmp_path):
    manifest = tmp_path / "corpus.csv"
    manifest.write_text("path,label\n" + f"{corpus / 'obama.jpg'},real\n"
                        f"{corpus / 'missing.mp4'},fake\n")
    proc = run_script("-m", "mesonet", "corpus", "--manifest", manifest, "--output", tmp_path / "out",
                      "--ray", cluster, "--format", "parquet", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    import pyarrow.parquet as pq

    table = pq.read_table(next((tmp_path / "out" / "videos").glob("part-*.parquet")))
    assert "mean_p_real" in table.column_names
    rows = {Path(r["video"]).name: r for r in rows_of(tmp_path / "out" / "videos.csv")}
    assert rows["obama.jpg"]["label"] == "real" and rows["obama.jpg"]["n_faces"] == "1"
    assert rows["missing.mp4"]["error"] == "no such file"  # an error row, not a failed job


@pytest.mark.parametrize("make, message", [
    (lambda t: ["--ray", f"127.0.0.1:{free_port()}"], "Cannot reach a Ray cluster"),
    (lambda t: ["--manifest", t / "nope.csv"], "does not exist"),
    (lambda t: ["--manifest", (t / "d.csv", (t / "d.csv").write_text("path\na.mp4\na.mp4\n"))[0]],
     "twice"),
    (lambda t: ["--manifest", (t / "n.csv", (t / "n.csv").write_text("file\na.mp4\n"))[0]],
     "needs a `path` column"),
])
def test_bad_setups_fail_before_any_work(corpus, tmp_path, make, message):
    proc = run_script("-m", "mesonet", "corpus", corpus, "--output", tmp_path / "out", *make(tmp_path),
                      timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert not list((tmp_path / "out").rglob("part-*"))


def test_an_unwritable_output_is_refused_before_any_work(corpus, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_script("-m", "mesonet", "corpus", corpus, "--output", blocker / "out", "--ray", "local")
    assert proc.returncode == 2 and "out" in proc.stderr


def test_a_worker_killed_mid_job_is_replaced_and_nothing_is_lost(cluster, corpus, single,
                                                                 tmp_path):
    """SIGKILL one scoring actor's process while the job runs: Ray restarts the actor and
    retries its files (max_restarts, max_task_retries), and the result is complete."""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, *map(str, score(cluster, corpus, out))],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.time() + 300
    while killed is None and time.time() < deadline and proc.poll() is None:
        if list((out / "videos").glob("part-*.csv")):
            found = subprocess.run(["pgrep", "-f", "MapWorker"], capture_output=True, text=True)
            pids = [int(p) for p in found.stdout.split()]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed = pids[0]
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=600)
    assert killed is not None, "no actor process was found to kill"
    assert proc.returncode == 0, stderr[-3000:]
    videos, faces = single
    same_rows(rows_of(out / "videos.csv"), videos, "video")
    same_rows(rows_of(out / "faces.csv"), faces, "source")
