"""Parsers for the text the runtimes' native benchmark tools print.

- TFLite ``benchmark_model``: the older plain format and the newer one where every line starts
  with ``INFO: `` (the ``count=`` line appears twice there: warm-up, then the timed runs; extra
  ``p5=``/``median=``/``p95=`` fields; numbers may be in scientific notation). Times are in us.
- ``onnxruntime_perf_test``: the average is in ms, the percentiles in s, memory in bytes.

A result says which fields the output held (``found``), so a measurement ingested from a log
records what the log did and did not contain. Anything unreadable raises ``ToolOutputError``
naming the line; nothing else escapes (the parsers are fuzzed).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from bench.errors import BenchError

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
KEY_VALUE = re.compile(rf"(\w+)=({NUMBER})(?=\s|,|$)")


class ToolOutputError(BenchError):
    """The tool's output cannot be read; ``line`` is 1-based (0 = the output as a whole)."""

    def __init__(self, line: int, message: str):
        self.line = line
        message = message.replace("\r", "\\r").replace("\n", "\\n")  # quoted file content stays one line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class ToolResult:
    tool: str
    variant: str  # "plain", "info" (benchmark_model) or "perf_test"
    count: int
    mean_ms: float
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    median_ms: float | None = None
    percentiles_ms: dict[str, float] = field(default_factory=dict)
    first_ms: float | None = None
    init_ms: float | None = None
    warmup_count: int | None = None
    warmup_mean_ms: float | None = None
    peak_memory_mb: float | None = None
    init_memory_mb: float | None = None
    delegation: list[dict] = field(default_factory=list)  # [{"delegate", "replaced", "total", "partial"}]
    warnings: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def partially_delegated(self) -> bool:
        return any(d["partial"] for d in self.delegation)


def _number(text: str, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ToolOutputError(line, f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ToolOutputError(line, f"{what} must be a finite non-negative number, not {text!r}")
    return value


def _count(text: str, line: int) -> int:
    value = _number(text, line, "count")
    if value != int(value) or value < 1:
        raise ToolOutputError(line, f"count must be a positive integer, not {text!r}")
    return int(value)


# --- TFLite benchmark_model -------------------------------------------------------------------

INFO_PREFIX = re.compile(r"^(?:INFO|WARNING|ERROR): ")
DELEGATION = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\)")
TIMINGS = re.compile(r"Inference timings in us:(.*)$")
PLAIN_MEMORY = re.compile(rf"Peak memory footprint \(MB\): init=({NUMBER}) overall=({NUMBER})")
DELTA_MEMORY = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): init=({NUMBER}) overall=({NUMBER})"
)
PERIODIC_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({NUMBER})")


def parse_benchmark_model(text: str) -> ToolResult:
    """Parse a ``benchmark_model`` log (either format); the last ``count=`` line is the timed run."""
    lines = text.splitlines()
    # the format is the one of the statistics lines: the runtime's own messages (delegate creation)
    # carry "INFO: " in every build
    info = any(line.startswith("INFO: count=") for line in lines)
    counts: list[tuple[int, dict[str, str]]] = []
    timings: dict[str, tuple[int, str]] = {}
    memory: dict[str, tuple[int, str]] = {}
    delegation, warnings = [], []
    for number, raw in enumerate(lines, start=1):
        line = INFO_PREFIX.sub("", raw.strip())
        if line.startswith("count="):
            counts.append((number, dict(KEY_VALUE.findall(line))))
        elif found := TIMINGS.search(line):
            for part in found.group(1).split(","):
                name, _, value = part.partition(":")
                if name.strip():
                    timings[name.strip()] = (number, value.strip())
        elif found := PERIODIC_PEAK.search(line):
            memory["periodic"] = (number, found.group(1))
        elif found := PLAIN_MEMORY.search(line) or DELTA_MEMORY.search(line):
            memory["init"], memory["overall"] = (number, found.group(1)), (number, found.group(2))
        elif found := DELEGATION.search(line):
            replaced, total = int(found.group(1)), int(found.group(2))
            if replaced > total:
                raise ToolOutputError(number, f"delegate replaced {replaced} of only {total} nodes")
            delegation.append(
                {"delegate": found.group(3), "replaced": replaced, "total": total, "partial": replaced < total}
            )
        elif raw.startswith(("WARNING: ", "ERROR: ")) or "failed" in line.lower():
            warnings.append(raw.strip()[:300])
    if not counts:
        raise ToolOutputError(
            len(lines), "no 'count=... avg=...' line with the timed runs (is this benchmark_model output?)"
        )
    number, timed = counts[-1]
    if "count" not in timed or "avg" not in timed:
        raise ToolOutputError(number, f"the timed-runs line has no count= or avg=: {lines[number - 1].strip()[:120]!r}")
    us = 1e-3
    result = ToolResult(
        tool="benchmark_model",
        variant="info" if info else "plain",
        count=_count(timed["count"], number),
        mean_ms=_number(timed["avg"], number, "avg") * us,
        found=["count", "avg"],
    )
    for key, attr in (("std", "std_ms"), ("min", "min_ms"), ("max", "max_ms"), ("median", "median_ms")):
        if key in timed:
            setattr(result, attr, _number(timed[key], number, key) * us)
            result.found.append(key)
    for key in ("p5", "p95"):
        if key in timed:
            result.percentiles_ms[key] = _number(timed[key], number, key) * us
            result.found.append(key)
    if len(counts) > 1 and "count" in counts[-2][1] and "avg" in counts[-2][1]:
        warm_line, warm = counts[-2]
        result.warmup_count = _count(warm["count"], warm_line)
        result.warmup_mean_ms = _number(warm["avg"], warm_line, "warm-up avg") * us
        result.found.append("warmup")
    names = {"Init": "init_ms", "First inference": "first_ms", "Warmup (avg)": "warmup_mean_ms"}
    for name, attr in names.items():
        if name in timings:
            line_no, value = timings[name]
            setattr(result, attr, _number(value, line_no, name) * us)
            result.found.append(attr.removesuffix("_ms"))
    if "first" in timed and result.first_ms is None:
        result.first_ms = _number(timed["first"], number, "first") * us
    if "periodic" in memory:
        result.peak_memory_mb = _number(memory["periodic"][1], memory["periodic"][0], "peak memory")
        result.found.append("peak_memory")
    elif "overall" in memory:
        result.peak_memory_mb = _number(memory["overall"][1], memory["overall"][0], "memory overall")
        result.found.append("peak_memory")
    if "init" in memory:
        result.init_memory_mb = _number(memory["init"][1], memory["init"][0], "memory init")
    result.delegation, result.warnings = delegation, warnings
    if delegation:
        result.found.append("delegation")
    return result


# --- onnxruntime_perf_test -------------------------------------------------------------------

PERF_LINE = re.compile(rf"^\s*([A-Za-z][A-Za-z0-9 ]*?)\s*:\s*({NUMBER})\s*(ms|s|bytes|%)?\s*$")
PERF_FIELDS = {
    "Session creation time cost": ("init_ms", "s"),
    "First inference time cost": ("first_ms", "ms"),
    "Total inference requests": ("count", ""),
    "Average inference time cost": ("mean_ms", "ms"),
    "Peak working set size": ("peak_memory_mb", "bytes"),
    "Min Latency": ("min_ms", "s"),
    "Max Latency": ("max_ms", "s"),
    "P50 Latency": ("median_ms", "s"),
}
PERCENTILE = re.compile(r"^P(\d+) Latency$")
UNIT_TO_MS = {"ms": 1.0, "s": 1e3}


def parse_perf_test(text: str) -> ToolResult:
    """Parse ``onnxruntime_perf_test`` output (``-s`` adds the latency percentiles)."""
    lines = text.splitlines()
    values: dict[str, tuple[int, str, str]] = {}
    warnings = []
    for number, raw in enumerate(lines, start=1):
        found = PERF_LINE.match(raw)
        if not found:
            if raw.lstrip().lower().startswith(("warning", "error")) or "[W:" in raw or "[E:" in raw:
                warnings.append(raw.strip()[:300])
            continue
        name, text_value, unit = found.group(1), found.group(2), found.group(3) or ""
        if name in PERF_FIELDS or PERCENTILE.match(name):
            expected = PERF_FIELDS.get(name, ("", "s"))[1]
            if expected and unit and unit != expected:
                raise ToolOutputError(number, f"'{name}' in {unit}, expected {expected}")
            values[name] = (number, text_value, unit or expected)
    if "Average inference time cost" not in values:
        raise ToolOutputError(
            len(lines), "no 'Average inference time cost: ... ms' line (is this onnxruntime_perf_test output?)"
        )
    line_no, mean_text, unit = values["Average inference time cost"]
    mean = _number(mean_text, line_no, "Average inference time cost")
    count = values.get("Total inference requests")
    result = ToolResult(
        tool="onnxruntime_perf_test",
        variant="perf_test",
        count=_count(count[1], count[0]) if count else 0,
        mean_ms=mean * UNIT_TO_MS[unit],
        found=["mean"],
        warnings=warnings,
    )
    if count:
        result.found.append("count")
    for name, (line_no, text_value, unit) in values.items():
        value = _number(text_value, line_no, name)
        if name not in PERF_FIELDS and (percentile := PERCENTILE.match(name)):
            result.percentiles_ms[f"p{percentile.group(1)}"] = value * UNIT_TO_MS[unit]
            result.found.append(f"p{percentile.group(1)}")
            continue
        attr, _ = PERF_FIELDS[name]
        if attr in ("count", "mean_ms"):
            continue
        if attr == "peak_memory_mb":
            result.peak_memory_mb = value / 2**20
        else:
            setattr(result, attr, value * UNIT_TO_MS[unit])
        result.found.append(attr.removesuffix("_ms").removesuffix("_mb"))
    return result


PARSERS = {"benchmark_model": parse_benchmark_model, "onnxruntime_perf_test": parse_perf_test}


# --- benchmark_model --enable_op_profiling=true ------------------------------------------------

OP_PROFILE_HEADER = "Operator-wise Profiling Info for Regular Benchmark Runs:"
OP_COLUMNS = ("[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[Name]")
NODE_INDEX = re.compile(r":(\d+)$")


@dataclass
class OpRow:
    """One row of the "Run Order" table: a node (or a delegate's kernel) and its time per run."""

    node_type: str
    first_ms: float
    avg_ms: float
    percent: float
    times_called: int
    name: str  # "[out_tensor, ...]:N" for an interpreter node N; "Delegate/<kernel>:k" inside XNNPACK
    node: int | None  # N, when the name carries it
    tensors: list[str] = field(default_factory=list)

    @property
    def ms_per_run(self) -> float:
        return self.avg_ms * max(self.times_called, 1)


def parse_op_profile(text: str) -> list[OpRow]:
    """The "Run Order" table benchmark_model prints after ``Operator-wise Profiling Info for Regular
    Benchmark Runs:`` (TFLite's stats calculator: right-aligned number columns, a tab, then the name;
    older builds add a ``[start]`` column). Rows come in execution order."""
    lines = text.splitlines()
    start = next((k for k, line in enumerate(lines) if OP_PROFILE_HEADER in line), None)
    if start is None:
        raise ToolOutputError(0, f"no '{OP_PROFILE_HEADER}' section (was --enable_op_profiling=true given?)")
    header = next((k for k in range(start + 1, min(start + 4, len(lines))) if "[node type]" in lines[k]), None)
    if header is None:
        raise ToolOutputError(start + 2, "the operator profile has no '[node type] ... [Name]' header")
    columns = INFO_PREFIX.sub("", lines[header]).split()
    missing = [c for c in OP_COLUMNS if c not in " ".join(columns)]
    if missing:
        raise ToolOutputError(header + 1, f"the operator profile header lacks {', '.join(missing)}")
    numbers = 7 if "[start]" in columns else 6  # [start] [first] [avg ms] [%] [cdf%] [mem KB] [times called]
    rows = []
    for number in range(header + 2, len(lines) + 1):
        line = INFO_PREFIX.sub("", lines[number - 1]).rstrip()
        if not line.strip() or line.lstrip().startswith("="):
            break
        left, tab, name = line.rpartition("\t")
        fields = left.replace("%", "% ").split()  # "0.125%100.000%": a full-width field leaves no gap
        if not tab or len(fields) < numbers + 1:
            raise ToolOutputError(number, f"an operator row needs {numbers} numbers, a tab and a name: {line[:120]!r}")
        values = fields[-numbers:]
        node_type = " ".join(fields[:-numbers])
        if numbers == 7:
            values = values[1:]  # [start]: when the node began within the run (not needed)
        first, avg, percent, _cdf, _mem, called = values
        index = NODE_INDEX.search(name.strip())
        tensors = name.strip()
        tensors = tensors[1 : tensors.index("]")].split(", ") if tensors.startswith("[") and "]" in tensors else []
        rows.append(
            OpRow(
                node_type=node_type,
                first_ms=_number(first, number, "[first]"),
                avg_ms=_number(avg, number, "[avg ms]"),
                percent=_number(percent.removesuffix("%"), number, "[%]"),
                times_called=int(_number(called, number, "[times called]")),
                name=name.strip(),
                node=int(index.group(1)) if index else None,
                tensors=tensors,
            )
        )
    if not rows:
        raise ToolOutputError(header + 1, "the operator profile has no rows")
    return rows
