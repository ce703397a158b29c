#!/usr/bin/env bash
# The main job: set up, show the zoo table of the default suite (measured vs published params
# and MACs), then benchmark the default suite on this host: export to ONNX and TFLite fp32
# (verified, cached in results/), measure with onnxruntime and LiteRT at 1 thread, store the
# results in results/bench.sqlite, print them, and write the report (plots + HTML) to results/report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/bench models --suite default
.venv/bin/bench run --device host --suite default --format onnx,tflite --threads 1
.venv/bin/bench report --out results/report
