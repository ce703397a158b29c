#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the pinned, verified-together dependencies.
# torch and torchvision go first and pinned, so pip never resolves a newer (CUDA) torch.
# Re-running is quick: nothing is installed when pyproject.toml and the constraints are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
want=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]; then
  log=.venv/install.log
  : >"$log"
  echo "installing the pinned dependencies into .venv (a few minutes the first time; log: $log)"
  pip=(bash scripts/quiet-pip.sh "$log")
  "${pip[@]}" .venv/bin/python -m pip install --disable-pip-version-check pip==26.3
  "${pip[@]}" .venv/bin/pip install --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
  "${pip[@]}" .venv/bin/pip install --disable-pip-version-check -c requirements/constraints.txt \
    -e '.[onnx,tflite,coreml,farm,postgres,test]'
  echo "$want" > .venv/.installed
fi
