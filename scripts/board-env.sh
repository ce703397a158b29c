#!/usr/bin/env bash
# Create .venv-board: a second Python environment standing in for an older board's (numpy 1.x,
# tflite-runtime instead of ai-edge-litert), used by the ssh tests to run the agent's fallback.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
want=$(sha256sum requirements/board-tflite-runtime.txt | cut -d' ' -f1)
if [ "$(cat .venv-board/.installed 2>/dev/null)" != "$want" ]; then
  rm -rf .venv-board
  "$python" -m venv .venv-board
  echo "installing .venv-board (numpy 1.26 + tflite-runtime; log: .venv-board/install.log)"
  bash scripts/quiet-pip.sh .venv-board/install.log \
    .venv-board/bin/pip install --disable-pip-version-check -r requirements/board-tflite-runtime.txt
  echo "$want" > .venv-board/.installed
fi
