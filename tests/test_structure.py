"""The house: imports point one way, and importing the library changes nothing."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from conftest import ROOT, run_script

FOLDERS = ("", "training", "bench", "data")  # each is on sys.path for its own scripts


def project_modules() -> dict[str, object]:
    """Module name -> file, for every module of the project (tests are not modules)."""
    modules = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).glob("*.py")):
            modules[path.stem] = path
    return modules


def import_graph(modules: dict) -> dict[str, set[str]]:
    """Which project modules each module imports, at the top or inside functions."""
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_that_imports_it_back():
    modules = project_modules()
    assert {"classifiers", "zoo", "scoring", "pipeline", "faces", "media", "cli"} <= set(modules)
    graph = import_graph(modules)
    assert "classifiers" in graph["export"] and "scoring" in graph["classifiers"]  # parsed
    assert cycles(graph) == []
    # the registry and the Keras-free scorer stand below the networks
    assert not graph["zoo"] & {"classifiers", "scoring", "export"}
    assert "classifiers" not in graph["scoring"]


def test_importing_the_library_loads_no_detector_and_changes_no_environment():
    """The library's own modules change nothing at import; classifiers is checked after
    Keras is imported (TensorFlow sets variables of its own when it loads)."""
    code = ("import json, os, sys\n"
            "def changed(before):\n"
            "    return sorted(k for k in set(os.environ) | set(before)\n"
            "                  if os.environ.get(k) != before.get(k))\n"
            "before = dict(os.environ)\n"
            "import pipeline, faces, media, scoring, zoo, cli, contract, outputs, explain\n"
            "light = {'changed': changed(before), 'keras': 'keras' in sys.modules,\n"
            "         'dlib': 'dlib' in sys.modules, 'cv2': 'cv2' in sys.modules}\n"
            "import keras\n"
            "before = dict(os.environ)\n"
            "import classifiers\n"
            "print(json.dumps({'light': light, 'classifiers': changed(before),\n"
            "                  'dlib': 'dlib' in sys.modules,\n"
            "                  'face_recognition': 'face_recognition' in sys.modules}))\n")
    proc = run_script("-c", code)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"light": {"changed": [], "keras": False, "dlib": False, "cv2": False},
                    "classifiers": [], "dlib": False, "face_recognition": False}


def test_the_python_api_starts_without_tensorflow_info_lines():
    """`import classifiers` and a first prediction print none of TensorFlow's or XLA's INFO
    lines (quiet.py), and leave TF_CPP_MIN_LOG_LEVEL as the user had it."""
    code = ("import os, numpy as np, classifiers\n"
            "m = classifiers.Meso4(runtime='keras')\n"
            "m.predict(np.zeros((2, 256, 256, 3), np.uint8))\n"
            "print('level', os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "I0000" not in proc.stderr and "oneDNN custom operations" not in proc.stderr, proc.stderr
    assert "XLA service" not in proc.stderr
    assert proc.stdout.strip().endswith("level None")


def test_setup_refuses_a_python_it_cannot_use_with_the_reason(tmp_path):
    fake = tmp_path / "python9"
    fake.write_text("#!/bin/sh\nexit 1\n")  # any interpreter that is not 3.10-3.12
    fake.chmod(0o755)
    proc = subprocess.run(["bash", str(ROOT / "setup.sh")], env={**os.environ, "PYTHON": str(fake)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "is not Python 3.10-3.12" in proc.stderr


def test_every_script_answers_help_with_its_usage():
    """Every script of the project prints its usage for --help and exits 0, without doing
    its work (a script that ignored --help would run, and could overwrite files)."""
    scripts = [path for path in project_modules().values()
               if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8")]
    assert len(scripts) >= 10, scripts
    failures = {}
    for path in scripts:
        proc = run_script(path, "--help", timeout=120)
        if proc.returncode != 0 or "usage:" not in proc.stdout:
            failures[str(path.relative_to(ROOT))] = (proc.returncode, proc.stderr[-500:])
    assert not failures, failures
