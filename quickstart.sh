#!/usr/bin/env bash
# Set up retro-coach on a fresh Debian machine with Python 3.11, then run the demo or the tests.
#   bash quickstart.sh demo     # sets everything up, then a spoken simulated interval session
#   bash quickstart.sh test     # sets everything up, then lint (ruff), types (mypy) and the tests
set -euo pipefail
cd "$(dirname "$0")"
what="${1:-demo}"; shift || true

# System parts: espeak-ng (speech), sox (audio checks), mosquitto (the MQTT broker the tests start),
# openssl (--web-tls), chromium (the browser tests; the HTML reports rendered headless).
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need+=(mosquitto)
command -v openssl >/dev/null || need+=(openssl)
# headless Chromium for the web companion's browser tests (driven by Playwright, never `playwright install`)
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing ${need[*]} (apt-get)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# byte-compile the package once: where Python is told not to write bytecode
# (PYTHONDONTWRITEBYTECODE, as on the test machines) every command compiled ~50 modules from
# source, 0.15 s of each start-up (an installed wheel is compiled by pip)
.venv/bin/python -m compileall -q coach >/dev/null

case "$what" in
  demo) exec .venv/bin/coach demo "$@" ;;
  test)
    # lint, types, then tests (all configured in pyproject.toml)
    .venv/bin/ruff check --quiet .
    .venv/bin/mypy
    exec .venv/bin/python -m pytest -q "$@" ;;
  *) echo "usage: bash quickstart.sh demo|test" >&2; exit 2 ;;
esac
