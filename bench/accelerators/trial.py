"""``bench devices --probe``: does each accelerator of a device's profile really work there?

A one-run trial per accelerator and runtime it serves on the device, through the same path as
``bench run`` (the device's runner, the coverage rule, the output check), with the shipped probe
model (:mod:`bench.accelerators.probe`). Nothing is stored."""

from __future__ import annotations

from pathlib import Path

from bench.accelerators.base import DEFAULT, serves
from bench.errors import BenchError, one_line

PROBE = Path(__file__).parent / "probe"
FILES = {"onnx": PROBE / "probe.onnx", "tflite": PROBE / "probe.tflite"}


def try_accelerators(device) -> list[tuple[str, str]]:
    """``(check, result)`` rows: per accelerator the profile lists (the CPU aside) and runtime that
    serves it on the device, "works" with its coverage and output check, or why not. Raises
    BenchError when the device cannot be reached."""
    from dataclasses import replace

    from bench.digest import file_sha256
    from bench.measure.harness import Harness
    from bench.measure.measurement import Cell
    from bench.measure.protocol import Protocol
    from bench.measure.runners import Workload
    from bench.runtimes.base import get_runtime
    from export.reference import Inputs

    rows = []
    trials = [
        (spec, runtime)
        for spec in device.accelerators
        if spec != DEFAULT
        for runtime in device.runtimes
        if serves(spec, runtime) and get_runtime(runtime).format in FILES
    ]
    for spec in device.accelerators:
        for runtime in device.runtimes:
            if spec != DEFAULT and serves(spec, runtime) and get_runtime(runtime).format not in FILES:
                why = get_runtime(runtime).unavailable_reason() if device.is_local else None
                rows.append((f"accelerator {spec} ({runtime})", f"not tried: {why or f'no probe model for {runtime}'}"))
    if not trials:
        return rows or [("accelerators", f"{', '.join(device.accelerators)} (nothing to try beyond the CPU)")]
    harness = Harness(replace(device, energy_meter="none"), None, Protocol(warmup=1, min_runs=3, min_time=0.0))
    try:
        for spec, runtime in trials:
            fmt = get_runtime(runtime).format
            path = FILES[fmt]
            cell = Cell(str(path), fmt, "fp32", runtime, 1, accelerator=spec)
            workload = Workload(str(path), file_sha256(path), Inputs.of_shape((1, 3, 32, 32)))
            try:
                measured = harness.measure(cell, workload)
            except BenchError as exc:
                rows.append((f"accelerator {spec} ({runtime})", f"no: {one_line(str(exc), 200)}"))
                continue
            if measured.status != "ok":
                rows.append((f"accelerator {spec} ({runtime})", f"no: {one_line(measured.error or '', 200)}"))
                continue
            share = "" if measured.coverage is None else f", {measured.coverage:.0%} of nodes"
            share += (
                " (partial: the rest ran on the CPU)" if measured.coverage is not None and measured.coverage < 1 else ""
            )
            check = (measured.source or {}).get("output_check") or {}
            outputs = (
                f", outputs {'OFF' if check['flagged'] else 'match'} the CPU's (max error {check['max_error']:.2g})"
                if check.get("status") == "checked"
                else f", outputs not checked ({check.get('why', '')})"
                if check
                else ""
            )
            rows.append((f"accelerator {spec} ({runtime})", f"works: {measured.median_ms:.2f} ms{share}{outputs}"))
    finally:
        harness.transport.close()
    return rows
