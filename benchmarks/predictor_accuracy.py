"""How well does the per-operator latency predictor predict models it never saw? (#22)

For each runtime (onnxruntime, LiteRT) on this machine, one thread: profile the zoo models of the
suite node by node, sweep kernels for ``--budget`` minutes, then leave one family out at a time
(train on the kernels and every other family, predict the left-out family's models) and print,
side by side, the share of models whose predicted latency is within +/-10% (and +/-5%) of the
measured median and the mean absolute percentage error, for the predictor and for a MACs-only
baseline fitted on the same data.

Goal: at least 90% of the models within +/-10% on each runtime, with a sweep of at most 30 minutes.
Run: ``.venv/bin/python benchmarks/predictor_accuracy.py [--suite full] [--budget 30] [--runtime onnxruntime]``.
Everything is kept in ``--results`` (default ``results-predictor/``), so a second run reuses what the
first measured (stored kernels and profiles are not measured again).

Run it with nothing else on the machine. Each graph is scaled by a reference timed around it,
which corrects a machine that is slower overall, not a neighbour competing for cache and memory:
a 40-second test run beside one profile moved EdgeViT-XS on LiteRT from 23 to 28.7 ms after scaling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(results: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_RESULTS": str(results)}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="full", help="zoo suite (default, full) or a model pattern")
    parser.add_argument("--budget", type=float, default=30.0, help="minutes of kernel sweep per runtime")
    parser.add_argument("--runtime", action="append", help="onnxruntime and/or litert (default: both)")
    parser.add_argument("--results", type=Path, default=ROOT / "results-predictor")
    args = parser.parse_args()
    lines = []
    for runtime in args.runtime or ["onnxruntime", "litert"]:
        start = time.monotonic()
        trained = bench(args.results, "predictor", "train", "--runtime", runtime, "--budget", str(args.budget),
                        "--zoo", args.suite, "--json")  # fmt: skip
        if trained.returncode != 0:
            print(f"{runtime}: training failed: {trained.stderr.strip()[-400:]}")
            continue
        result = json.loads(trained.stdout)
        evaluated = bench(args.results, "predictor", "evaluate", "--runtime", runtime, "--json")
        if evaluated.returncode != 0:
            print(f"{runtime}: evaluation failed: {evaluated.stderr.strip()[-400:]}")
            continue
        evaluation = json.loads(evaluated.stdout)
        print(f"\n{runtime}: {result['graphs']} graphs ({result['kernels_measured']} kernels measured now), "
              f"{time.monotonic() - start:.0f} s")  # fmt: skip
        print(f"{'model':32} {'family':12} {'measured':>9} {'predicted':>9} {'error':>7} {'MACs-only':>9} {'error':>7}")
        for r in evaluation["rows"]:
            print(f"{r['model']:32} {r['family']:12} {r['measured_ms']:9.2f} {r['predicted_ms']:9.2f} "
                  f"{r['error']:+7.1%} {r['flops_ms']:9.2f} {r['flops_error']:+7.1%}")  # fmt: skip
        s = evaluation["summary"]
        lines.append(
            f"{runtime:12} {s['models']:3d} models  within 10%: {s['within_10']:.0%} "
            f"(MACs-only {s['flops_within_10']:.0%})"
            f"  within 5%: {s['within_5']:.0%} (MACs-only {s['flops_within_5']:.0%})"
            f"  MAPE: {s['mape']:.1%} (MACs-only {s['flops_mape']:.1%})"
        )
    print("\nleave-one-family-out, host CPU, 1 thread (goal: >= 90% within 10% on each runtime)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
