"""Cold versus warm export time of one model: how much the artifact cache saves.

    .venv/bin/python benchmarks/export_cache.py [MODEL] [--format tflite] [--repeats 5]

Runs in a fresh temporary results folder: one cold export (conversion + verification), then
warm exports of the same thing (cache hits: key computation, a sha256 check of the file and the
re-verification of the cached file against the PyTorch model on one seeded input, as each new
``bench export`` process does), side by side in one process. Prints both times and the ratio
(goal: warm at least 50x faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="edgevit_xxs")
    parser.add_argument("--format", default="tflite")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["BENCH_RESULTS"] = home
        from export import pipeline
        from export.pipeline import export_model
        from export.source import resolve

        spec = resolve(args.model)
        start = time.perf_counter()
        cold = export_model(spec, args.format, args.precision)
        cold_s = time.perf_counter() - start
        if cold.error:
            raise SystemExit(f"export failed: {cold.error}")
        warm = []
        for _ in range(args.repeats):
            pipeline._REVERIFIED.clear()  # as a new process: the hit is re-verified
            start = time.perf_counter()
            hit = export_model(resolve(args.model), args.format, args.precision)
            warm.append(time.perf_counter() - start)
            assert hit.cached and hit.reverified, "expected a re-verified cache hit"
    warm_s = statistics.median(warm)
    print(f"model {args.model} {args.format} {args.precision}: size {cold.size_bytes / 1e6:.1f} MB")
    print(f"cold export (convert + verify): {cold_s:8.3f} s")
    print(f"warm export (cache hit, median of {args.repeats}): {warm_s:8.4f} s")
    print(f"cold / warm ratio: {cold_s / warm_s:.0f}x (goal: >= 50x)")


if __name__ == "__main__":
    main()
