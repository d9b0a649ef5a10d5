#!/usr/bin/env bash
# Set up MesoNet in ./.venv (safe to run again; it only installs what changed).
#   bash setup.sh          runtime: TensorFlow (CPU), Keras 3, dlib, face_recognition, ...
#   bash setup.sh --test   also pytest and Playwright, and Debian's chromium for the browser test
# face_recognition 1.3.0 declares a dependency on `dlib`, which has no Linux wheel and would
# start a long source build; we install the prebuilt `dlib-bin` and then face_recognition
# with --no-deps, so nobody has to know.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null; then python=$candidate; break; fi
  done
fi
[ -n "$python" ] || { echo "setup.sh: no Python found (Python 3.11 is needed)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
reqs=requirements.txt
[ "${1:-}" = "--test" ] && reqs=requirements-test.txt
stamp=".venv/.installed-$(cat requirements.txt "$reqs" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$reqs"
  .venv/bin/python -m pip install -q --no-deps face_recognition==1.3.0
  touch "$stamp"
fi
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
  # the web page test drives Debian's chromium through Playwright (no browser download)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
      || echo "setup.sh: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup.sh: /usr/bin/chromium not found; the browser test will be skipped" >&2
  fi
fi
