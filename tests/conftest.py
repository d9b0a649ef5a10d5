"""Shared fixtures: where ../shared is, and models loaded once per session.

Tests that need ../shared skip with a reason when it is absent (CI always has it);
set MESONET_SHARED to use another copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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
    from classifiers import load_classifier

    return load_classifier(weights="meso4-df")


@pytest.fixture(scope="session")
def finder():
    from faces import FaceFinder

    return FaceFinder()


@pytest.fixture(scope="session")
def face(fixtures, finder):
    """A real photo's aligned crop (uint8 256 x 256 x 3) and its 68 landmarks in the
    crop's pixels ((68, 2) x y), as training/prepare_corpus.py stores them."""
    import faces
    import media

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


def run_script(*args, env=None, cwd=ROOT, timeout=600):
    """Run one of the project's scripts as a user would; returns CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
