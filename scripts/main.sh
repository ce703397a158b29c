#!/usr/bin/env bash
# The main job: set up, then the zoo table with measured vs published params and MACs of the
# default suite (MACs are counted once and cached in results/cache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bench models --suite default "$@"
