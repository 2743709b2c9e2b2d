#!/usr/bin/env bash
# Runs the speed benchmarks and prints a table of figures, goals and PASS/MISS for each:
#   tests/benchmarks/run.sh                 the default five: ingest uploads grid library serving (about 14 minutes)
#   tests/benchmarks/run.sh grid serving    only those
# Not part of ./run_tests.sh (pytest.ini's testpaths leave tests/benchmarks out). Uses the project's
# .venv (made by ./run_tests.sh; made here too when missing), installs tests/benchmarks/requirements.txt
# into it, and Debian's wrk when missing. Every server it starts listens on 127.0.0.1 only, on a free
# port, with a fresh data folder and database, and is stopped by its own PID.
# Exit status: 0 when every goal passed, 1 when a goal was missed, 2 when a benchmark failed to run.
set -uo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv || exit 2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt || exit 2
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/benchmarks/requirements.txt || exit 2

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing Debian's wrk for the HTTP benchmarks"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) || true
    fi
    command -v wrk >/dev/null 2>&1 || { echo "run.sh: wrk is missing and could not be installed (apt-get install wrk)"; exit 2; }
fi

benchmarks=("$@")
[ ${#benchmarks[@]} -eq 0 ] && benchmarks=(ingest uploads grid library serving)

status=0
summary=()
for name in "${benchmarks[@]}"; do
    script="tests/benchmarks/bench_${name}.py"
    if [ ! -f "$script" ]; then
        echo "run.sh: no benchmark named $name (tests/benchmarks/bench_<name>.py)"
        exit 2
    fi
    .venv/bin/python "$script"
    code=$?
    case $code in
        0) summary+=("$name: every goal PASS") ;;
        1) summary+=("$name: a goal MISSED"); [ $status -eq 0 ] && status=1 ;;
        *) summary+=("$name: FAILED TO RUN (exit $code)"); status=2 ;;
    esac
done

echo
echo "Summary"
for line in "${summary[@]}"; do echo "  $line"; done
exit $status
