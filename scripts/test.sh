#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh
bash scripts/board-env.sh
# BENCH_TEST_WORKERS=N (or auto) spreads the test modules over N processes (pytest-xdist; a module
# stays on one worker, so its module-scoped fixtures run once); the default, 0, runs them in this one.
exec .venv/bin/python -m pytest -n "${BENCH_TEST_WORKERS:-0}" --dist loadfile "$@"
