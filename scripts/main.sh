#!/usr/bin/env bash
# The main job: set up, show the zoo table of the default suite (measured vs published params and
# MACs), then export the default suite to ONNX and TFLite fp32, each verified against PyTorch.
# MAC counts and artifacts are cached in results/, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bench models --suite default
.venv/bin/bench export --suite default --format onnx,tflite --precision fp32
