#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh
bash scripts/board-env.sh
# The test modules are spread over BENCH_TEST_WORKERS processes (pytest-xdist; a module stays on one
# worker, so its module-scoped fixtures run once; the workers share one export cache). The default, 2,
# is one per core of the 2-core machines the suite is sized for (clean clone, quiet: 23 min 53 s, against
# 41 min 03 s in one process); 0 runs everything in this one process.
exec .venv/bin/python -m pytest -n "${BENCH_TEST_WORKERS:-2}" --dist loadfile "$@"
