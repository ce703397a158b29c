"""Run-to-run stability: five back-to-back `bench run` of one model, CV of the reported medians.

    .venv/bin/python benchmarks/stability.py [MODEL] [--runs 5] [--format onnx]

Each run is a separate `bench run` process (as a user or CI would run it) into a temporary
store. Prints every median and the coefficient of variation across runs (goal: at most 3%).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="mobilenetv2_100")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", default="onnx")
    parser.add_argument("--min-time", default="3")
    args = parser.parse_args()
    medians = []
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "s.sqlite")
        for i in range(args.runs):
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.cli",
                    "run",
                    "-m",
                    args.model,
                    "--format",
                    args.format,
                    "--min-time",
                    args.min_time,
                    "--store",
                    store,
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            (row,) = json.loads(out.stdout)
            medians.append(row["median_ms"])
            print(
                f"run {i + 1}: median {row['median_ms']:.3f} ms (n={row['n_samples']}, cv {row['cv']:.1%})", flush=True
            )
    cv = statistics.stdev(medians) / statistics.mean(medians)
    print(f"{args.model} {args.format}: CV of {args.runs} medians = {cv:.2%} (goal <= 3%)")


if __name__ == "__main__":
    main()
