"""Parse time of tool logs against their length: every parser must stay linear in the lines.

    .venv/bin/python benchmarks/parser_scaling.py [--lines 2000] [--factor 10]

A saved log is often long: a logcat capture, a verbose run, a pasted terminal session. Builds
one benchmark_model log, one onnxruntime_perf_test log and one tegrastats log of ``--lines`` lines
and of ``factor`` times as many (the extra lines are what long logs really hold: verbose
parameter lines, or more tegrastats samples), and a log with one line of ``--lines`` x 50
characters without a space (then ``factor`` times longer) before the run, parses each, and prints
both times and their ratio side by side. Goal: the ratio at most 1.5 x ``factor`` (linear); a parser that looks at the
lines so far for each new line (quadratic) shows about ``factor`` squared.
"""

from __future__ import annotations

import argparse
import time

from bench.devices.energy.jetson import parse_tegrastats_log
from bench.parsers.tool_output import parse_benchmark_model, parse_perf_test

BENCHMARK_MODEL_RUN = """\
INFO: STARTING!
INFO: Graph: [/data/local/tmp/m.tflite]
INFO: Initialized session in 3.51ms.
INFO: count=3 first=260000 curr=250500 min=250500 max=260000 avg=255250 std=4750 p5=250500 median=255000 p95=260000
INFO: count=50 first=251000 curr=249000 min=247812 max=252301 avg=249684 std=1442 p5=247900 median=249600 p95=251800
INFO: Inference timings in us: Init: 3510, First inference: 260000, Warmup (avg): 250123, Inference (avg): 249684
INFO: Memory footprint delta from the start of the tool (MB): init=2.14 overall=12.7
"""
PERF_TEST_RUN = """\
Session creation time cost: 0.0386 s
First inference time cost: 23 ms
Total inference requests: 100
Average inference time cost: 19.918 ms
P50 Latency: 0.0199 s
P95 Latency: 0.021 s
"""
TEGRASTATS_LINE = (
    "RAM 2000/7620MB CPU [5%@1510,3%@1510] VDD_IN 4556mW/4556mW VDD_CPU_GPU_CV 481mW/481mW VDD_SOC 1443mW/1443mW\n"
)


def logs(lines: int) -> dict[str, tuple]:
    """Each parser with a log of about ``lines`` lines."""
    verbose = "INFO: Log parameter values verbosely: [0]\n" * lines
    long_line = "x" * (lines * 50) + "\n"  # one line of lines * 50 characters without a space (a binary paste)
    return {
        "benchmark_model": (parse_benchmark_model, verbose + BENCHMARK_MODEL_RUN),
        "onnxruntime_perf_test": (parse_perf_test, "[I:onnxruntime:, session.cc] verbose\n" * lines + PERF_TEST_RUN),
        "tegrastats": (parse_tegrastats_log, TEGRASTATS_LINE * lines),
        "benchmark_model, 1 line": (parse_benchmark_model, long_line + BENCHMARK_MODEL_RUN),
        "perf_test, 1 line": (parse_perf_test, long_line + PERF_TEST_RUN),
    }


def seconds(parse, text: str) -> float:
    start = time.perf_counter()
    parse(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--factor", type=int, default=10)
    args = parser.parse_args()
    short, long = logs(args.lines), logs(args.lines * args.factor)
    goal = 1.5 * args.factor
    print(f"{'parser':24} {args.lines:>8} lines {args.lines * args.factor:>8} lines   ratio (goal <= {goal:g})")
    for name, (parse, text) in short.items():
        base = min(seconds(parse, text) for _ in range(3))
        grown = min(seconds(parse, long[name][1]) for _ in range(3))
        print(f"{name:24} {base * 1e3:>10.1f} ms {grown * 1e3:>10.1f} ms   {grown / base:6.1f}")


if __name__ == "__main__":
    main()
