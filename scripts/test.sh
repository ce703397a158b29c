#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh
bash scripts/board-env.sh
exec .venv/bin/python -m pytest "$@"
