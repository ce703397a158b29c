"""A native benchmark tool's parsed summary as the store's statistics and source (shared by the
native runner and ``bench ingest`` of a tool log)."""

from __future__ import annotations

from bench.parsers.tool_output import ToolResult


def invocations(result: ToolResult) -> int:
    """Every inference the tool ran: warm-up (which includes the first) plus the timed runs;
    perf_test runs one untimed first inference before its timed ones."""
    if result.tool == "benchmark_model":
        return (result.warmup_count or 0) + result.count
    return result.count + 1


def tool_stats(result: ToolResult) -> dict:
    """The store's latency statistics (ms) from a tool's summary (what it did not report stays None)."""
    median = result.median_ms if result.median_ms is not None else result.percentiles_ms.get("p50")
    return {
        "n_samples": result.count,
        "median_ms": median if median is not None else result.mean_ms,
        "mean_ms": result.mean_ms,
        "p90_ms": result.percentiles_ms.get("p90"),
        "p95_ms": result.percentiles_ms.get("p95"),
        "p99_ms": result.percentiles_ms.get("p99"),
        "std_ms": result.std_ms,
        "cv": result.std_ms / result.mean_ms if result.std_ms is not None and result.mean_ms > 0 else None,
        "min_ms": result.min_ms,
        "max_ms": result.max_ms,
        "median_ci_low_ms": None,
        "median_ci_high_ms": None,
    }


def tool_source(result: ToolResult) -> dict:
    """Where the numbers came from: the tool's output variant, what it reported, delegation and notes."""
    notes = [] if result.median_ms is not None else ["the tool reports no median: median_ms holds the mean"]
    notes.append("summary statistics from the tool; no per-inference samples")
    if result.memory_meaning:
        notes.append(f"peak_memory_mb is the {result.memory_meaning}")
    printed = result.to_dict()  # everything the tool printed: percentiles, warm-up, memory figures ...
    for key in ("tool", "variant", "found", "delegation", "warnings"):
        printed.pop(key)
    return {
        "tool_format": result.variant,
        "found": result.found,
        "delegation": result.delegation,
        "delegates": result.delegates,
        "partially_delegated": result.partially_delegated,
        "memory_meaning": result.memory_meaning,
        "tool_values": printed,
        "warnings": result.warnings,
        "notes": notes,
    }
