"""``bench ingest``: store results measured elsewhere (a manual phone run's benchmark_model log,
an onnxruntime_perf_test log, a Monsoon CSV) as measurements, so they show up in results,
reports and compare like any other. Each is marked as ingested and says what the file did and
did not contain; a file that cannot be parsed is an error naming the failing line.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from bench.devices.energy.monsoon import parse_monsoon_csv
from bench.digest import file_sha256
from bench.errors import BenchError
from bench.measure.runners import tool_source, tool_stats
from bench.parsers.tool_output import PARSERS, ToolOutputError, ToolResult
from bench.results.store import Store
from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime

TOOLS = (*PARSERS, "monsoon")
TOOL_FORMAT = {"benchmark_model": "tflite", "onnxruntime_perf_test": "onnx"}
# what a complete log of each tool reports, to say what an ingested one lacked
EXPECTED = {
    "benchmark_model": [
        "count",
        "avg",
        "std",
        "min",
        "max",
        "median",
        "p5",
        "p95",
        "warmup",
        "init",
        "first",
        "peak_memory",
        "delegation",
    ],  # fmt: skip
    "onnxruntime_perf_test": [
        "mean",
        "count",
        "init",
        "first",
        "peak_memory",
        "min",
        "max",
        "median",
        "p90",
        "p95",
        "p99",
    ],  # fmt: skip
}


def ingest(
    store: Store,
    file: str,
    tool: str,
    device: str,
    model: str,
    fmt: str | None = None,
    runtime: str | None = None,
    precision: str = "fp32",
    threads: int = 1,
    inferences: int | None = None,
    idle_w: float | None = None,
) -> dict:
    if tool not in TOOLS:
        raise BenchError(f"unknown tool '{tool}'; choose from: {', '.join(TOOLS)}")
    if not re.fullmatch(r"[\w.\-]+", device):
        raise BenchError(f"--device '{device}': use letters, digits, '.', '_' or '-'")
    path = Path(file)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    fmt = fmt or TOOL_FORMAT.get(tool)
    if fmt is None:
        raise BenchError(f"--format is needed with --tool {tool} (the format of the model that was measured)")
    if fmt not in DEFAULT_RUNTIME:
        raise BenchError(f"unknown format '{fmt}'; choose from: {', '.join(DEFAULT_RUNTIME)}")
    runtime = runtime or DEFAULT_RUNTIME[fmt]
    if get_runtime(runtime).format != fmt:
        raise BenchError(f"runtime {runtime} runs {get_runtime(runtime).format}, not {fmt}")
    now = time.time()
    row = {
        "model": model,
        "format": fmt,
        "precision": precision,
        "runtime": runtime,
        "device": device,
        "threads": threads,
        "repeat": 0,
        "status": "ok",
        "error": None,
        "settings": {"ingested": True},
        "started_at": now,
        "ended_at": now,
    }
    source = {"method": "ingested", "tool": tool, "file": str(path.resolve()), "file_sha256": file_sha256(path)}
    try:
        if tool == "monsoon":
            row.update(_monsoon(text, inferences, idle_w, source))
        else:
            result = PARSERS[tool](text)
            row.update(_tool(result, source))
    except ToolOutputError as exc:
        where = f"{file}:{exc.line}" if exc.line else file
        raise BenchError(f"{where}: cannot parse as {tool} output: {str(exc).split(': ', 1)[-1]}") from None
    row["source"] = source
    from bench.zoo import macs_of

    row["macs"] = macs_of(model)
    if row["macs"] and row.get("median_ms"):
        row["gflops_per_s"] = 2 * row["macs"] / (row["median_ms"] / 1e3) / 1e9
    from bench.measure.environment import fingerprint

    environment = {**fingerprint(), "ingested_from": str(path.resolve())}
    cell = {k: row[k] for k in ("model", "format", "precision", "runtime", "threads", "repeat")}
    run_id = store.start_run(device, environment, [cell], f"ingest {tool} {file}")
    row["run_id"] = run_id
    row["id"] = store.add_measurement(row, None)
    store.finish_run(run_id, "finished")
    return row


def _tool(result: ToolResult, source: dict) -> dict:
    stats = tool_stats(result)
    source.update(tool_source(result))
    source["missing"] = [f for f in EXPECTED[result.tool] if f not in result.found]
    return {
        **stats,
        "init_ms": result.init_ms,
        "first_ms": result.first_ms,
        "peak_memory_mb": result.peak_memory_mb,
        "energy_note": "unavailable: not in an ingested latency log",
    }


def _monsoon(text: str, inferences: int | None, idle_w: float | None, source: dict) -> dict:
    trace = parse_monsoon_csv(text)
    source.update(samples=trace.samples, seconds=trace.seconds, mean_w=trace.mean_w)
    source["missing"] = ["latency (a power trace has none)"]
    idle = idle_w or 0.0
    net = trace.joules - idle * trace.seconds
    note = f"monsoon: {trace.joules:.3f} J over {trace.seconds:.2f} s" + (
        f", idle {idle:.2f} W subtracted" if idle_w else ", no idle power subtracted (pass --idle-w)"
    )
    per = net / inferences * 1e3 if inferences else None
    if not inferences:
        note += "; per-inference energy needs --inferences"
    return {
        "energy_mj_per_inference": per,
        "energy_note": note,
        "energy": {"meter": "monsoon", "window_j": trace.joules, "window_s": trace.seconds, "idle_w": idle},
    }


__all__ = ["TOOLS", "ingest"]
