"""The package as a user installs it: `pip install .` into a new venv, no TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_script

BASE_LIMIT_MB = 700  # issue 32's target for the scoring install (the full one: 2.4 GB)


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()
               and not p.is_symlink()) / 1e6


@pytest.mark.slow
def test_the_base_install_scores_like_the_checkout_without_tensorflow(tmp_path):
    import shutil

    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' leftovers of older builds
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)],
                             capture_output=True, text=True, timeout=1200, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    # the face finder's wrapper, as the README says (its dlib pin would start a source build)
    face_recognition = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                                       "face_recognition==1.3.0"], capture_output=True,
                                      text=True, timeout=600, env=env)
    assert face_recognition.returncode == 0, face_recognition.stderr[-3000:]
    # nothing generic at the top of site-packages: the package and its dist-info only
    site = next((venv / "lib").glob("python3.*/site-packages"))
    ours = {p.name for p in site.iterdir() if p.name.startswith("mesonet")}
    assert ours == {"mesonet", f"mesonet-{_version()}.dist-info"}, ours
    assert not any((site / f"{m}.py").exists() for m in ("cli", "media", "contract", "zoo"))
    assert (site / "mesonet" / "weights" / "meso4-dfdc.weights.h5").is_file()
    megabytes = size_mb(venv)
    print(f"base install: {megabytes:.0f} MB")
    assert megabytes < BASE_LIMIT_MB, megabytes
    # the console command, run away from the checkout, prints what the original's script
    # prints in the checkout
    images = ROOT / "test_images"
    installed = subprocess.run([str(venv / "bin" / "mesonet"), "images", str(images)],
                               cwd=tmp_path, capture_output=True, text=True, timeout=300,
                               env=env)
    checkout = run_script("deepfakes_images.py", images)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout == checkout.stdout
    code = ("import sys, numpy as np\n"
            "from mesonet.scorers import load_scorer\n"
            "from mesonet.media import load_face_crop\n"
            f"x = load_face_crop({str(images / 'df/astronaut_fwa.png')!r})[None]\n"
            "print(load_scorer('meso4-dfdc-or-gan').predict(x)[0, 0])\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    scored = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env=env)
    assert scored.returncode == 0, scored.stderr
    assert f"{float(scored.stdout):.4f}  " in checkout.stdout
    # an option that needs an extra names it, with the pip command, and exits 2
    explain = subprocess.run([str(venv / "bin" / "mesonet"), "images", str(images),
                              "--explain", str(tmp_path / "maps")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, env=env)
    assert explain.returncode == 2 and "pip install 'mesonet[train]'" in explain.stderr
    serve = subprocess.run([str(venv / "bin" / "mesonet"), "serve"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=env)
    assert serve.returncode == 2 and "pip install 'mesonet[web]'" in serve.stderr
    assert not (tmp_path / "maps").exists()
    # scoring that needs Keras says so, and how to get it or the ONNX path
    keras = subprocess.run([str(venv / "bin" / "mesonet"), "images", str(images), "--runtime",
                            "keras"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env=env)
    assert keras.returncode == 2 and "needs Keras and TensorFlow" in keras.stderr
    assert "pip install 'mesonet[train]'" in keras.stderr and "--runtime onnx" in keras.stderr
    # Ray is an extra too: the corpus command says so before it creates any output
    corpus = subprocess.run([str(venv / "bin" / "mesonet"), "corpus", str(images), "--output",
                             str(tmp_path / "scores")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env=env)
    assert corpus.returncode == 2 and "pip install 'mesonet[ray]'" in corpus.stderr
    assert "Traceback" not in corpus.stderr and not (tmp_path / "scores").exists()


def _version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_a_missing_extra_is_named_with_its_pip_command():
    """The check every command and option runs, on an extra that is surely missing."""
    from mesonet import extras

    extras.EXTRAS["nothing-here"] = {"surely_not_a_module_xyz": "surely-not-a-package"}
    try:
        text = extras.problem("mesonet thing", "nothing-here")
        with pytest.raises(ValueError, match=r"--opt needs the 'nothing-here' extra"):
            extras.require("--opt", "nothing-here")
    finally:
        del extras.EXTRAS["nothing-here"]
    assert "pip install 'mesonet[nothing-here]'" in text and "surely-not-a-package" in text
    assert extras.problem("mesonet images", None) is None  # this venv has the base


def test_a_script_run_by_a_bare_python_says_how_to_run_it(tmp_path):
    """The system Python (no numpy, no project packages) gets the way to run it."""
    bare = Path("/usr/bin/python3")
    if not bare.exists() or subprocess.run([str(bare), "-c", "import numpy"],
                                           capture_output=True).returncode == 0:
        pytest.skip("no Python without numpy on this machine to play the newcomer")
    proc = subprocess.run([str(bare), str(ROOT / "deepfakes_images.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "bash setup.sh" in proc.stderr and ".venv/bin/" in proc.stderr
    assert "Traceback" not in proc.stderr
