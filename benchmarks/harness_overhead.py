"""Harness overhead: the median `bench` reports versus a bare session.run loop, side by side.

    .venv/bin/python benchmarks/harness_overhead.py [--models mobilenetv2_100,edgevit_xxs] [--rounds 3]

For each model (ONNX fp32, onnxruntime, 1 thread, the same session settings as the agent):
alternate rounds of (a) a bare loop in this process timing ``session.run`` with
``perf_counter_ns`` and (b) ``Harness.measure`` (agent process, JSON lines, statistics).
Prints both medians and their ratio (goal: at most 1.02).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import numpy as np


def bare_median_ms(path: str, shape: tuple[int, ...], min_time: float) -> float:
    """A bare loop on the same CPU the harness pins its agent to (bench.measure.harness.pinned_cpus)."""
    from bench.measure.harness import pinned_cpus

    before = os.sched_getaffinity(0)
    cpus = pinned_cpus(None, 1)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        return _bare_loop(path, shape, min_time)
    finally:
        os.sched_setaffinity(0, before)


def _bare_loop(path: str, shape: tuple[int, ...], min_time: float) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(5):
        session.run(None, {name: x})
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(samples) < 20:
        t0 = time.perf_counter_ns()
        session.run(None, {name: x})
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenetv2_100,edgevit_xxs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=3.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from bench.devices.config import get_device
    from bench.measure.harness import Cell, Harness
    from bench.measure.protocol import Protocol
    from bench.results.store import Store
    from export.pipeline import export_model
    from export.source import resolve

    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(
            get_device("host"),
            Store(os.path.join(tmp, "s.sqlite")),
            Protocol(warmup=5, min_runs=20, min_time=args.min_time),
        )
        print(f"{'model':18s} {'bare ms':>9s} {'bench ms':>9s} {'ratio':>7s}")
        for name in args.models.split(","):
            spec = resolve(name)
            path = export_model(spec, "onnx", "fp32").path
            bare, bench = [], []
            for _ in range(args.rounds):
                bare.append(bare_median_ms(path, spec.input_shape, args.min_time))
                row = harness.measure(Cell(path, "onnx", "fp32", "onnxruntime", 1)).to_row()
                bench.append(row["median_ms"])
            b, h = statistics.median(bare), statistics.median(bench)
            print(f"{name:18s} {b:9.3f} {h:9.3f} {h / b:7.3f}   (goal <= 1.02)", flush=True)


if __name__ == "__main__":
    main()
