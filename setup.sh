#!/usr/bin/env bash
# Set up MesoNet in ./.venv (safe to run again; it only installs what changed): the mesonet
# package, editable, with the extras named in requirements*.txt (pins: pyproject.toml).
#   bash setup.sh          the package with training (TensorFlow CPU, Keras 3) and the web service
#   bash setup.sh --test   also pytest, Playwright, JAX and Ray, and Debian's chromium for the
#                          browser test (installed with apt-get when run as root)
# Needs Python 3.10-3.12 with its venv module (Debian/Ubuntu: apt install python3-venv).
# First run: about 5-10 minutes and 2.5 GB in .venv (3.5 GB with --test); later runs: seconds.
# Scoring only, without TensorFlow (about 0.5 GB): `pip install .` (README, "Install").
# face_recognition 1.3.0 declares a dependency on `dlib`, which has no Linux wheel and would
# start a long source build; we install the prebuilt `dlib-bin` and then face_recognition
# with --no-deps, so nobody has to know.
set -euo pipefail
cd "$(dirname "$0")"
say() { echo "setup.sh: $*" >&2; }

supported() { "$1" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' \
                2>/dev/null; }
python=${PYTHON:-}
if [ -n "$python" ]; then
  supported "$python" || { say "PYTHON=$python is not Python 3.10-3.12 (TensorFlow 2.21's range)"; exit 1; }
else
  for candidate in python3.11 python3.12 python3.10 python3 python; do
    if command -v "$candidate" >/dev/null && supported "$candidate"; then python=$candidate; break; fi
  done
fi
if [ -z "$python" ]; then
  say "no Python 3.10-3.12 found (TensorFlow 2.21 supports these). Install one, e.g."
  say "  apt install python3.11 python3.11-venv    or    pyenv install 3.11"
  say "then run again, or point PYTHON at it: PYTHON=/path/to/python3.11 bash setup.sh"
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import venv, ensurepip' 2>/dev/null || {
    say "$python has no venv/ensurepip module. On Debian/Ubuntu: apt install python3-venv"
    say "(or python$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv)"
    exit 1; }
  say "making .venv with $("$python" --version 2>&1)"
  "$python" -m venv .venv
fi
reqs=requirements.txt
[ "${1:-}" = "--test" ] && reqs=requirements-test.txt
stamp=".venv/.installed-$(cat pyproject.toml requirements.txt "$reqs" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing $reqs into .venv (first time: several minutes, 2.5 GB; 3.5 GB with --test) ..."
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --progress-bar off -r "$reqs"
  say "installing face_recognition 1.3.0 (without its dlib source build; dlib-bin is in)"
  .venv/bin/python -m pip install -q --no-deps face_recognition==1.3.0
  touch "$stamp"
  say "done: $(du -sh .venv 2>/dev/null | cut -f1) in .venv"
else
  say ".venv is up to date"
fi
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
  # the web page test drives Debian's chromium through Playwright (no browser download)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium for the browser test"
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
      || say "could not install chromium; the browser test will be skipped"
  else
    say "/usr/bin/chromium not found; the browser test will be skipped"
  fi
fi
