"""Shared fixtures: where ../shared is, and models loaded once per session.

Tests that need ../shared skip with a reason when it is absent (CI always has it);
set MESONET_SHARED to use another copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# downloads and cached ONNX graphs go to a folder of this test session, not the user's
os.environ.setdefault("MESONET_CACHE_DIR", tempfile.mkdtemp(prefix="mesonet-tests-"))

SHARED = Path(os.environ.get("MESONET_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference" / "mesonet"
FIXTURES = SHARED / "fixtures"
ORIGINAL_FILES = {"meso4-df": "Meso4_DF", "meso4-f2f": "Meso4_F2F",
                  "mesoinception4-df": "MesoInception_DF",
                  "mesoinception4-f2f": "MesoInception_F2F"}


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data; set MESONET_SHARED to point at it)")
    return path


@pytest.fixture(scope="session")
def reference():
    return need(REFERENCE)


@pytest.fixture(scope="session")
def fixtures():
    return need(FIXTURES)


@pytest.fixture(scope="session", autouse=True)
def original_weights_dir():
    """Resolve original weights names from ../shared, never from the network."""
    weights = REFERENCE / "weights"
    if weights.exists():
        os.environ["MESONET_WEIGHTS_DIR"] = str(weights)
    yield


@pytest.fixture(scope="session")
def meso4_df(reference):
    from mesonet.classifiers import load_classifier

    return load_classifier(weights="meso4-df")


@pytest.fixture(scope="session")
def finder():
    from mesonet.faces import FaceFinder

    return FaceFinder()


@pytest.fixture(scope="session")
def face(fixtures, finder):
    """A real photo's aligned crop (uint8 256 x 256 x 3) and its 68 landmarks in the
    crop's pixels ((68, 2) x y), as training/prepare_corpus.py stores them."""
    from mesonet import faces
    from mesonet import media

    image = media.read_image(fixtures / "faces" / "obama.jpg")
    finder.reset()
    _, marks, (center, side, rotation) = finder.track(image)
    return (faces.aligned_face(image, center, side, rotation),
            faces.landmarks_in_crop(marks, center, side, rotation))


SHARED_FIXTURES = {"reference", "fixtures", "meso4_df"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that reads ../shared (through the fixtures that find it)."""
    for item in items:
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)


def mixed_inputs(fixtures, tmp_path) -> list:
    """Videos, photos, a photo without a face and a broken file, in an order that
    interleaves them: what a batch over a user's folder meets."""
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(300))
    return [fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4", fixtures / "faces/obama.jpg",
            bad, fixtures / "videos/short_hamilton_clip.mp4", fixtures / "faces/two_people.jpg",
            fixtures / "faces/biden.jpg", fixtures / "no_face/skimage_coffee.png"]


def rows_of(path) -> list[dict]:
    """The rows of a CSV table ([] when it is not there yet)."""
    import csv

    if not Path(path).exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run_script(*args, env=None, cwd=ROOT, timeout=600):
    """Run one of the project's scripts as a user would; returns CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


# --------------------------------------------------------------------------------------
# The web service, started as a user would, on 127.0.0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(*args, timeout: float = 120):
    """Run `mesonet serve` with these arguments on a free port; yield its URL; stop it after."""
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mesonet", "serve", "--port", str(port), *map(str, args)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/api/v1/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read()}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"server did not start in {timeout:.0f} s")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def post(url, filename=None, content=None, fields=None, timeout=300):
    """A multipart POST to /api/v1/analyze; returns (status, JSON, headers)."""
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                     .encode())
    if filename is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(url + "/api/v1/analyze", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers




def kill_midway(*args, ready, timeout: float = 600) -> bool:
    """Run a script and SIGKILL it as soon as ready() is true (polled every 20 ms): a kill
    mid-run, as a power cut or the OOM killer would. True when it was killed still running
    (False: it had finished first, and the test did not test a kill)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ.copy())
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            if ready():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return proc.returncode == -signal.SIGKILL
            time.sleep(0.02)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
