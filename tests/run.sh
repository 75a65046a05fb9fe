#!/usr/bin/env bash
# Install everything the suite needs, then run all of it: unit and integration tests,
# the browser test (Debian's chromium, no browser download) and the notebooks (strict nbval).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"

# Lint, format and types first: a failure there stops the run before the long tests.
python3 -m ruff check kling_nb tests benchmarks
python3 -m ruff format --check kling_nb tests benchmarks
python3 -m mypy

# Two workers (pytest-xdist): most tests wait on emulated jobs, not on the CPU, so two run
# side by side in about 0.56x the time; a file's tests (and a notebook's cells, one kernel)
# stay on one worker.
exec python3 -m pytest tests notebooks --nbval \
  --nbval-sanitize-with notebooks/nbval_sanitize.cfg -n 2 --dist loadfile "$@"
