#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Debian packages and the board's environment install while pip fills .venv: they need nothing
# from each other, and pip works one file at a time on one core, so on a fresh machine apt's minutes
# overlap pip's. A failure of any of the three stops the suite before pytest.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
bash scripts/system-packages.sh &
packages=$!
bash scripts/board-env.sh &
board=$!
bash scripts/setup.sh
wait "$packages"
wait "$board"
trap - EXIT
# The test modules are spread over BENCH_TEST_WORKERS processes (pytest-xdist; a module stays on one
# worker, so its module-scoped fixtures run once; the workers share one export cache). The default, 2,
# is one per core of the 2-core machines the suite is sized for (clean clone, quiet: 17 min 41 s); 0 runs
# everything in this one process.
exec .venv/bin/python -m pytest -n "${BENCH_TEST_WORKERS:-2}" --dist loadfile "$@"
