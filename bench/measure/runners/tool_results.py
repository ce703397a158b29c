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


MEDIAN_IS_MEAN = "the tool reports no median: median_ms holds the mean"


def median_is_mean(source) -> bool:
    """Whether a stored row's ``median_ms`` is a native tool's mean (it printed no median), from the
    row's ``source`` (``median_is_mean``, or the note of rows stored before that key)."""
    if not isinstance(source, dict):
        return False
    return bool(source.get("median_is_mean") or MEDIAN_IS_MEAN in (source.get("notes") or []))


def tool_source(result: ToolResult) -> dict:
    """Where the numbers came from: the tool's output variant, what it reported, delegation and notes."""
    no_median = result.median_ms is None and result.percentiles_ms.get("p50") is None
    notes = [MEDIAN_IS_MEAN] if no_median else []
    notes.append("summary statistics from the tool; no per-inference samples")
    if result.memory_meaning:
        notes.append(f"peak_memory_mb is the {result.memory_meaning}")
    printed = result.to_dict()  # everything the tool printed: percentiles, warm-up, memory figures ...
    for key in ("tool", "variant", "found", "delegation", "delegates", "delegate_errors", "placement", "warnings",
                "nnapi_accelerator"):  # fmt: skip
        printed.pop(key, None)
    return {
        "tool_format": result.variant,
        "found": result.found,
        "delegation": result.delegation,
        "delegates": result.delegates,
        "partially_delegated": result.partially_delegated,
        "delegate_errors": list(result.delegate_errors),
        "placement": dict(result.placement),  # onnxruntime_perf_test -v: nodes per execution provider
        "nnapi_accelerator": result.nnapi_accelerator,  # the NNAPI device benchmark_model was asked for
        "memory_meaning": result.memory_meaning,
        "median_is_mean": no_median,
        "tool_values": printed,
        "warnings": result.warnings,
        "notes": notes,
    }
