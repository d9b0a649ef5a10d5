"""The house: imports point one way, and importing the library changes nothing."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from conftest import ROOT, run_script

PACKAGE = ROOT / "mesonet"
#: every Python file of the project that is not a test: the package, its thin entry points
#: under the original's names, the benches and the data scripts
SOURCES = sorted([*PACKAGE.rglob("*.py"), *ROOT.glob("*.py"), *(ROOT / "training").glob("*.py"),
                  *(ROOT / "bench").glob("*.py"), *(ROOT / "data").glob("*.py")])


def module_name(path) -> str:
    """mesonet/training/train.py -> mesonet.training.train (a package: its __init__)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, object]:
    """Module name -> file, for every module of the mesonet package."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def import_graph(modules: dict) -> dict[str, set[str]]:
    """Which package modules each module imports, at the top or inside functions
    (`from mesonet import zoo` imports mesonet.zoo; `from mesonet.zoo import x` too)."""
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name and m != "mesonet"}
    return graph


def sys_path_edits(path) -> list[int]:
    """Lines of a file that change sys.path (an insert, an append, a slice assignment)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            target = (node.targets[0] if isinstance(node, ast.Assign) else node.target)
            target = target.value if isinstance(target, ast.Subscript) else target
        if (isinstance(target, ast.Attribute) and target.attr == "path"
                and isinstance(target.value, ast.Name) and target.value.id == "sys"):
            lines.append(node.lineno)
    return sorted(lines)


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
    assert {"mesonet.classifiers", "mesonet.zoo", "mesonet.scoring", "mesonet.scorers",
            "mesonet.pipeline", "mesonet.faces", "mesonet.media", "mesonet.cli",
            "mesonet.training.train", "mesonet.commands.images"} <= set(modules)
    graph = import_graph(modules)
    assert "mesonet.scoring" in graph["mesonet.commands.export"]  # parsed
    assert "mesonet.classifiers" not in graph["mesonet.commands.export"]  # no Keras to export
    assert "mesonet.scoring" in graph["mesonet.classifiers"]
    assert cycles(graph) == []
    # the registry and the Keras-free scorer stand below the networks
    assert not graph["mesonet.zoo"] & {"mesonet.classifiers", "mesonet.scoring"}
    assert "mesonet.classifiers" not in graph["mesonet.scoring"]
    assert "mesonet.classifiers" not in graph["mesonet.architectures"]
    # the service loads weights through the factory, not through the scripts' helpers
    assert "mesonet.cli" not in graph["mesonet.service"]
    # library modules never import the commands above them
    library = [m for m in modules if not m.startswith("mesonet.commands")]
    assert not any(m.startswith("mesonet.commands") for lib in library for m in graph[lib]
                   if lib != "mesonet.__main__")


def test_the_sys_path_finder_finds_an_insert(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.path.insert(0, 'x')\nsys.path[:0] = ['y']\n"
                   "sys.path.append('z')\nsys.path += ['w']\n")
    assert sys_path_edits(bad) == [2, 3, 4, 5]


def test_no_file_of_the_project_edits_sys_path():
    """Everything imports the installed package; nothing finds modules by path tricks."""
    tests = sorted((ROOT / "tests").glob("*.py"))
    edits = {str(p.relative_to(ROOT)): sys_path_edits(p) for p in [*SOURCES, *tests]}
    assert {k: v for k, v in edits.items() if v} == {}


def test_nothing_generic_is_installed_at_the_top_level():
    """The wheel holds the mesonet package only: no module named cli or media in other
    people's site-packages."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "mesonet" or p.startswith("mesonet.") for p in config["packages"])
    assert set(config["packages"]) >= {m.rsplit(".", 1)[0] for m in project_modules()
                                       if "." in m} | {"mesonet.weights", "mesonet.web"}


def test_importing_the_library_loads_no_detector_and_changes_no_environment():
    """The library's own modules change nothing at import; classifiers is checked after
    Keras is imported (TensorFlow sets variables of its own when it loads)."""
    code = ("import json, os, sys\n"
            "def changed(before):\n"
            "    return sorted(k for k in set(os.environ) | set(before)\n"
            "                  if os.environ.get(k) != before.get(k))\n"
            "before = dict(os.environ)\n"
            "from mesonet import (pipeline, faces, media, scoring, scorers, zoo, cli, contract,\n"
            "                     outputs, explain, architectures, commands)\n"
            "light = {'changed': changed(before), 'keras': 'keras' in sys.modules,\n"
            "         'dlib': 'dlib' in sys.modules, 'cv2': 'cv2' in sys.modules}\n"
            "import keras\n"
            "before = dict(os.environ)\n"
            "from mesonet import classifiers\n"
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
    code = ("import os, numpy as np, classifiers  # the original's module name, at the root\n"
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


def test_every_command_answers_help_with_its_usage():
    """Every script (the original's names at the root and training/) and every `mesonet`
    subcommand prints its usage for --help and exits 0, without doing its work (one that
    ignored --help would run, and could overwrite files), and without TensorFlow's
    start-up lines on stderr."""
    from mesonet.commands import COMMANDS

    scripts = [path for path in SOURCES
               if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8")
               and PACKAGE not in path.parents]
    assert len(scripts) >= 10, scripts
    runs = [(str(p.relative_to(ROOT)), [p, "--help"]) for p in scripts]
    runs += [(f"mesonet {c}", ["-m", "mesonet", c, "--help"]) for c in COMMANDS]
    failures = {}
    for name, args in runs:
        proc = run_script(*args, timeout=120)
        if proc.returncode != 0 or "usage:" not in proc.stdout or "I0000" in proc.stderr \
                or "oneDNN" in proc.stderr:
            failures[name] = (proc.returncode, proc.stderr[-500:])
    assert not failures, failures


def test_the_mesonet_command_names_an_unknown_subcommand():
    proc = run_script("-m", "mesonet", "scan")
    assert proc.returncode == 2 and "unknown command 'scan'" in proc.stderr
    assert "images" in proc.stderr and "serve" in proc.stderr
