#!/usr/bin/env bash
# Sets up everything the tests need, then runs them: ./run_tests.sh [pytest args]
#   - a virtual environment in .venv with requirements.txt
#   - Debian's Chromium for the browser tests (skipped, saying why, when it cannot be installed)
# TEST_DATABASE_URL=postgresql+psycopg://... runs the integration suite on PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# pip is quick when everything is already installed at the pinned versions.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run_tests.sh: installing Debian's chromium for the browser tests"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "run_tests.sh: chromium could not be installed; the browser tests will be skipped"
    else
        echo "run_tests.sh: chromium is not installed and this user cannot apt-get it; the browser tests will be skipped"
    fi
fi

exec .venv/bin/python -m pytest "$@"
