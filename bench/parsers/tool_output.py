"""Parsers for the text the runtimes' native benchmark tools print, in every format seen since 2019.

``benchmark_model`` (TFLite / LiteRT; times in us, memory in MB):

- the summary line: ``Inference timings in us: Init: I, First inference: F, Warmup (avg): W,
  Inference (avg): A`` (TF 2.x, LiteRT), or the TF 1.x ``Average inference timings in us: Warmup: W,
  Init: I, no stats: A`` (``Inference: A`` in the 1.x Android APK);
- statistics lines ``count=N first= curr= min= max= avg= std=`` (+ ``p5= median= p95=`` in newer
  builds; numbers may be in scientific notation), once for the warm-up and once for the timed runs;
  a stage whose runs all took the same time prints only ``count=N curr=T`` (``(all same)`` when N > 1);
  a timed-runs line missing any of these fields is refused (cut, so its ``avg=`` may be wrong);
- lines bare, ``INFO: ``-prefixed, or as saved from ``adb logcat`` / glog (prefixes are stripped);
- delegation: ``Replacing N out of M node(s) with delegate (D) node, yielding K partitions`` (TFLite's
  subgraph.cc; later builds add `` for the whole graph`` / `` for subgraph S``, LiteRT drops `` node``,
  TF 2.3 and before print ``Replacing N node(s) ...`` without the total), ``Explicitly applied D
  delegate, and the model graph will be completely executed by the delegate`` / ``... partially
  executed by the delegate w/ K delegate kernels``, and ``Though D delegate is explicitly applied, the
  model graph will not be executed by the delegate`` (benchmark_tflite_model.cc); the GPU delegate's
  own count ``N operations will run on the GPU, and the remaining M operations will run on the CPU.``
  / ``No operations will run on the GPU, and all M operations will run on the CPU.`` (model_builder.cc;
  before 2020 ``First N operations will run on the GPU, and the remaining M on the CPU.``) and the
  Hexagon / QNN delegates' ``D delegate: N nodes delegated out of M nodes with K partitions.``, read as
  coverage where no ``Replacing`` line gave it;
- delegate failures, kept one line each in the tool's words (``delegate_errors``) whether or not the
  run then failed: ``Failed to apply D delegate.``, ``GPU acceleration is unsupported on this
  platform.`` / ``NNAPI acceleration ...`` / ``Could not create Hexagon delegate: ...`` (the delegate
  providers: the run goes on without it), ``Could not find the specified NNAPI accelerator: X. Must be
  one of: {...}.`` (nnapi_delegate.cc), ``Node number N (D) failed to prepare.``, ``Restored original
  execution plan after delegate application failure.`` and any error line naming a delegate;
- memory: ``Memory footprint delta from the start of the tool (MB): init= overall=`` (a *delta*, not
  a peak; TF 2.1-2.3 called the same numbers ``Peak memory footprint (MB): init= overall=``) and
  ``Overall peak memory footprint (MB) via periodic monitoring: P`` (an absolute peak).

``onnxruntime_perf_test`` (average in ms, percentiles in s, memory in bytes): the current
``Average inference time cost: X ms`` / ``P90 Latency: X s`` format (2020 on) and the earlier one
(``Total iterations:N``, ``Average time cost:X ms``, ``P90 Latency is X sec``). Node placement (``-v``:
onnxruntime's verbose log, session_state.cc ``VerifyEachNodeIsAssignedToAnEp``): `` All nodes placed on
[P]. Number of nodes: N`` / `` Node(s) placed on [P]. Number of nodes: N`` (2022 on), before that ``All
nodes have been placed on [P].`` and `` Provider: [P]: [Op (name), ...]`` / `` Node [Op (name)] has been
placed on [P].``; a compiling execution provider's fused partition is one node there. The providers'
own capability lines, read as coverage of the graph's nodes: ``NnapiExecutionProvider::GetCapability,
number of partitions supported by NNAPI: K number of nodes in the graph: M number of nodes supported
by NNAPI: N`` (CoreML alike; a warning when K > 1) and ``Number of partitions supported by QNN EP: K,
number of nodes in the graph: M, number of nodes supported by QNN: N``; the last of several (one per
partitioning pass) counts. A provider missing from the build (``X is not supported in this build``,
ort_test_session.cc) is a failed run.

A result says which fields the output held (``found``), keeps everything the tool printed, and says
what its memory figure means. A file with several runs is refused with the list of runs unless one
is picked (``run=N``); a run the tool itself reports as failed raises ``ToolFailed`` with the tool's
own reason; a run cut off after a stage began (``Running benchmark for at least N iterations`` with no
``count=`` line after it) is refused rather than its warm-up line read as the timed runs. Anything
unreadable raises ``ToolOutputError`` naming the line; nothing else escapes (the parsers are fuzzed).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from bench.errors import BenchError, one_line

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
KEY_VALUE = re.compile(rf"\b(\w+)=({NUMBER})(?=\s|,|$)")

# What each parser reads, with where each format was seen (the README lists the same).
KNOWN_FORMATS = {
    "benchmark_model": (
        "TF 2.x / LiteRT 'INFO: ' lines with 'Inference timings in us: Init:, First inference:, Warmup (avg):, "
        "Inference (avg):'",
        "older bare lines of the same (TF 2.0-2.4)",
        "TF 1.x 'Average inference timings in us: Warmup:, Init:, no stats:' (or 'Inference:' in the APK)",
        "any of these as saved from 'adb logcat' (threadtime or brief) or glog",
        "delegation: 'Replacing N out of M node(s) with delegate (D)' (subgraph.cc), 'Explicitly applied' / "
        "'Though ... will not be executed' (benchmark_tflite_model.cc), the GPU delegate's 'N operations will run "
        "on the GPU' (model_builder.cc), Hexagon/QNN 'N nodes delegated out of M nodes', and the delegates' "
        "creation/application failures (delegate providers, nnapi_delegate.cc, subgraph.cc)",
    ),
    "onnxruntime_perf_test": (
        "'Average inference time cost: X ms' with 'P90 Latency: X s' (onnxruntime 1.1 and later, 2020 on)",
        "'Average time cost:X ms' with 'P90 Latency is X sec' (before early 2020)",
        "node placement from -v (session_state.cc 'Node(s) placed on [P]. Number of nodes: N', 2022 on; 'All "
        "nodes have been placed on [P].' before) and the NNAPI/CoreML/QNN GetCapability partition lines",
        "'X is not supported in this build' (ort_test_session.cc) as a failed run",
    ),
}


class ToolOutputError(BenchError):
    """The tool's output cannot be read; ``line`` is 1-based (0 = the output as a whole)."""

    def __init__(self, line: int, message: str):
        self.line = line
        self.reason = message.replace("\r", "\\r").replace("\n", "\\n")  # quoted file content stays one line
        super().__init__(f"line {line}: {self.reason}" if line else self.reason)


class ToolFailed(ToolOutputError):
    """The output is readable but the tool says the run failed; the message is the tool's reason
    (``delegate_errors``: the delegates' failure lines, when a delegate's failure ended the run)."""

    delegate_errors: list[str] = []  # noqa: RUF012 - set per instance where a delegate failed


@dataclass
class ToolResult:
    tool: str
    variant: str  # "plain", "info" (benchmark_model) or "perf_test"
    count: int  # timed runs; 0 when the output states only the average
    mean_ms: float
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    median_ms: float | None = None
    percentiles_ms: dict[str, float] = field(default_factory=dict)  # "p5", "p90", "p95", "p999", ...
    first_ms: float | None = None  # the very first inference (benchmark_model: the first warm-up run)
    init_ms: float | None = None
    warmup_count: int | None = None
    warmup_mean_ms: float | None = None
    peak_memory_mb: float | None = None  # see memory_meaning: a periodic peak, a delta, or a working set
    init_memory_mb: float | None = None  # benchmark_model: footprint delta from the tool's start to after init
    memory_meaning: str | None = None
    memory: dict[str, float] = field(default_factory=dict)  # every memory figure printed, MB
    delegation: list[dict] = field(default_factory=list)  # "Replacing N out of M": {"delegate", "replaced", ...}
    delegates: list[dict] = field(default_factory=list)  # per delegate: {"delegate", "execution", "kernels", ...}
    # the delegates' creation / application failures, one line each in the tool's words, whether or not
    # the run then failed (a delegate that could not be created leaves the run on the CPU)
    delegate_errors: list[str] = field(default_factory=list)
    placement: dict[str, int] = field(default_factory=dict)  # onnxruntime (-v): execution provider -> nodes
    # benchmark_model's "NNAPI accelerator name: [X]" (--nnapi_accelerator_name; nnapi_delegate_provider.cc)
    nnapi_accelerator: str | None = None
    threads: int | None = None  # the CPU threads the tool says it used (None: not printed, or "default")
    extra: dict[str, float] = field(default_factory=dict)  # other values the tool printed (name with unit)
    line_prefix: str | None = None  # "logcat" or "glog" when the lines carried one
    summary_format: str | None = None  # which summary line the output used
    run: int = 1  # which run of the file this is (1-based) ...
    runs: int = 1  # ... of how many
    warnings: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def partially_delegated(self) -> bool:
        return any(d["partial"] for d in self.delegation) or any(d["execution"] == "partial" for d in self.delegates)


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


# --- line prefixes: adb logcat, glog, log levels -------------------------------------------------

# adb logcat's -v formats (AOSP liblog logprint.cpp): a time stamp (MM-DD, with -v year YYYY-MM-DD,
# -v epoch / monotonic seconds; -v zone adds +HHMM), then the format's own fields
_STAMP = r"(?:(?:\d{4}-)?\d\d-\d\d \d\d:\d\d:\d\d\.\d+|\d+\.\d+)(?: [+-]\d{4})?"
_LEVEL = r"[VDIWEFAS]"
# threadtime (the default; -v uid adds the uid before the pid): "STAMP  pid  tid I tag     : "
LOGCAT_THREADTIME = re.compile(rf"^{_STAMP}\s+(?:\S+\s+)?(?P<pid>\d+)\s+\d+\s+{_LEVEL}\s+[^:]*?\s*: ?")
# brief "I/tag(  pid): ", time "STAMP I/tag(  pid): ", tag "I/tag     : "
LOGCAT_BRIEF = re.compile(rf"^(?:{_STAMP}\s+)?{_LEVEL}/[^(:]*?\s*(?:\(\s*(?:\S+:\s*)?(?P<pid>\d+)\))?: ?")
# thread "I(  pid:  tid) ", process "I(  pid) message  (tag)"
LOGCAT_THREAD = re.compile(rf"^(?:{_STAMP}\s+)?{_LEVEL}\(\s*(?P<pid>\d+):\s*\d+\) ?")
LOGCAT_PROCESS = re.compile(rf"^(?:{_STAMP}\s+)?{_LEVEL}\(\s*(?P<pid>\d+)\) ?")
PROCESS_TAG = re.compile(r"\s+\([^()]*\)$")  # -v process puts the tag after the message
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # -v color
GLOG = re.compile(r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ )\S+:\d+\] ")
INFO_PREFIX = re.compile(r"^(?:INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG): ")
PREFIXES = (
    ("logcat", LOGCAT_THREADTIME),
    ("logcat", LOGCAT_BRIEF),
    ("logcat", LOGCAT_THREAD),
    ("logcat", LOGCAT_PROCESS),
    ("glog", GLOG),
)


def strip_prefix(raw: str) -> tuple[str, str | None]:
    """(the line without a logcat (any ``-v`` format, colours included) / glog prefix and an
    ``INFO: ``-style level, which prefix it had). White space after the prefix is kept (operator
    tables align with it)."""
    kind = None
    raw = ANSI_COLOUR.sub("", raw) if "\x1b" in raw else raw
    for name, pattern in PREFIXES:
        if found := pattern.match(raw):
            raw, kind = raw[found.end() :], name
            if pattern is LOGCAT_PROCESS:
                raw = PROCESS_TAG.sub("", raw)
            break
    return INFO_PREFIX.sub("", raw), kind


def logcat_pid(raw: str) -> str | None:
    """The process id of a line saved from ``adb logcat`` (None: no logcat prefix, or a format
    without the pid)."""
    raw = ANSI_COLOUR.sub("", raw) if "\x1b" in raw else raw
    for _, pattern in PREFIXES[:4]:
        if found := pattern.match(raw):
            return found.group("pid")
    return None


def _lines(text: str) -> tuple[list[tuple[int, str, str]], str | None]:
    """[(1-based number, stripped text, raw line)] and the prefix most lines carried.

    A log saved from ``adb logcat`` holds other processes' lines too (another app's TFLite may print
    ``Replacing ... with delegate``): where the tool's own output lines (``STARTING!``, its
    statistics and summary) carry a pid, lines of other pids are left empty (numbers kept)."""
    out, kinds, pids = [], {}, []
    for number, raw in enumerate(text.splitlines(), start=1):
        line, kind = strip_prefix(raw.strip())
        if kind:
            kinds[kind] = kinds.get(kind, 0) + 1
        line = INFO_PREFIX.sub("", line.strip()).strip()
        out.append((number, line, raw.strip()))
        pids.append(logcat_pid(raw.strip()) if kind == "logcat" else None)
    own = [pid for (_, line, _), pid in zip(out, pids, strict=True) if pid and _tool_line(line)]
    if own:
        tool = max(set(own), key=own.count)
        out = [(n, "" if pid not in (None, tool) else line, raw) for (n, line, raw), pid in zip(out, pids, strict=True)]
    return out, max(kinds, key=kinds.get) if kinds else None


def _tool_line(line: str) -> bool:
    """A line only the benchmark tool itself prints: its start, statistics and summaries."""
    return line.startswith("STARTING!") or bool(STAT_LINE.match(line) or TIMINGS.search(line))


# --- TFLite benchmark_model -------------------------------------------------------------------

STAT_LINE = re.compile(r"^(?:count|curr)=")
ALL_SAME = re.compile(rf"\bcurr=({NUMBER})\(all same\)")
TIMINGS = re.compile(r"(Average )?[Ii]nference timings in us:(.*)$")
PLAIN_MEMORY = re.compile(rf"Peak memory footprint \(MB\): init=({NUMBER}) overall=({NUMBER})")
DELTA_MEMORY = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): init=({NUMBER}) overall=({NUMBER})"
)
PERIODIC_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({NUMBER})")
VMRSS = re.compile(rf"^- VmRSS\s*: ({NUMBER}) MB")
DELEGATION = re.compile(
    r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\)(?: node)?(?:, yielding (\d+) partitions)?"
)
OLD_DELEGATION = re.compile(
    r"Replacing (\d+) node\(s\) with delegate \(([^)]*)\)(?: node)?(?:, yielding (\d+) partitions)?"
)
EXPLICIT = re.compile(
    r"Explicitly applied (.+?) delegate, and the model graph will be (completely|partially) executed by the "
    r"delegate(?: w/ (\d+) delegate kernels)?"
)
NOT_EXECUTED = re.compile(r"Though (.+?) delegate is explicitly applied, the model graph will not be executed")
# the GPU delegate's own count (model_builder.cc; "First N ... the remaining M on the CPU." before 2020)
GPU_OPS = re.compile(
    r"^(?:First )?(\d+) operations will run on the GPU, and the remaining (\d+)(?: operations will run)? on the CPU"
)
GPU_NO_OPS = re.compile(r"^No operations will run on the GPU, and all (\d+) operations will run on the CPU")
# the Hexagon / QNN delegates: "TfLiteHexagonDelegate delegate: 125 nodes delegated out of 125 nodes with 1 partitions."
NODES_DELEGATED = re.compile(r"^(\w+) delegate: (\d+) nodes delegated out of (\d+) nodes(?: with (\d+) partitions)?")
NNAPI_NAME = re.compile(r"NNAPI accelerator name: \[([^\]]*)\]")  # the tool's parameter (nnapi_delegate_provider.cc)
RESTORED = re.compile(r"Restored original execution plan after delegate application failure")  # subgraph.cc
FAILED_TO_APPLY = re.compile(r"^Failed to apply (?!the )(\w+(?: \w+)?) delegate\.")  # benchmark_tflite_model.cc
UNSUPPORTED_BY = re.compile(r"^(?:Following|Next) operations are not supported by (\w+) delegate")
# a delegate's creation or application failed (delegate providers, benchmark_tflite_model.cc, subgraph.cc,
# nnapi_delegate.cc, the GPU delegate)
DELEGATE_FAILURE = re.compile(
    r"Failed to apply (?:the default TensorFlow Lite delegate|.{1,40}? delegate)"
    r"|acceleration is unsupported on this platform"
    r"|Could not create \w+ delegate"
    r"|Could not find the specified NNAPI accelerator"
    r"|Restored original execution plan after delegate application failure"
    r"|\(\w*Delegate\w*\) failed to (?:prepare|invoke)"
    r"|Delegate kernel was not initialized"
    r"|\bTfLite\w*Delegate\w* (?:Init|Prepare|Invoke):"
    r"|Disallowed CPU fallback detected"
    r"|Hint fully delegated to single delegate is set"
    r"|must be set for the provided NNAPI"
)
DELEGATE_WORD = re.compile(
    r"(?i)delegate|nnapi|hexagon|opencl|opengl|\bgpu\b|\bdsp\b|\bnpu\b|xnnpack|\bqnn\b|coreml|edgetpu"
)
ERROR_LEVEL = re.compile(rf"^(?:ERROR|FATAL|E/|F/|E\(|{_STAMP}\s+(?:\S+\s+)?\d+\s+\d+\s+[EF]\s|{_STAMP}\s+[EF][/(])")
INITIALIZED = re.compile(rf"^Initialized session in ({NUMBER}) ?ms")
# benchmark_model "Num threads: [4]" (its setting) and "#threads used for CPU inference: [4]" (what ran)
THREADS = re.compile(r"^(?:#threads used for CPU inference|Num threads): \[(\d+)\]")
# onnxruntime_perf_test "Setting intra_op_num_threads to 4" (0 = onnxruntime's default: not a count)
PERF_THREADS = re.compile(r"^Setting intra_op_num_threads to (\d+)")
STAGE = re.compile(r"^Running benchmark for at least \d+ iterations")  # each stage's statistics follow it
RUN_START = re.compile(
    r"^(?:Loaded model |Graph: \[|Num runs: |Min num runs: |Initialized session in |Running benchmark for)"
)
STAT_ANYWHERE = re.compile(r"\bcount=\d+ .*\bavg=")  # a statistics line behind a prefix this parser does not know
GRAPH = re.compile(r"^(?:Graph: \[(.+)\]|Loaded model (.+))$")
FAILURE = re.compile(r"(?i)\bfail(?:ed|ure|s)?\b|could not|can't|cannot|doesn't exist|not found|abort|segmentation")
BENIGN = ("Failed to get the input model file size",)
# the names delegates give themselves in "Replacing ... with delegate (NAME)" -> the name in "Explicitly applied"
DELEGATE_NAMES = {
    "TfLiteXNNPackDelegate": "XNNPACK",
    "TfLiteGpuDelegate": "GPU",
    "TfLiteGpuDelegateV2": "GPU",
    "TfLiteNnapiDelegate": "NNAPI",
    "TfLiteHexagonDelegate": "Hexagon",
    "TfLiteCoreMlDelegate": "Core ML",
    "TfLiteQnnDelegate": "QNN",
}
SUMMARY_NAMES = {  # summary-line field -> ToolResult attribute ("mean" = the timed runs' average)
    "Init": "init_ms",
    "First inference": "first_ms",
    "Warmup (avg)": "warmup_mean_ms",
    "Warmup": "warmup_mean_ms",
    "Inference (avg)": "mean",
    "Inference": "mean",
    "no stats": "mean",
    "": "mean",  # the oldest builds: "Average inference timings in us: A , Warmup: W"
}


# what Stat::OutputToStream prints on each statistics line (tensorflow/core/util/stats_calculator.h since TF 1.x,
# now xla/tsl/util/stats_calculator.h; StatWithPercentiles appends p5= median= p95= after these); a stage whose
# runs all took one time prints only count= curr=, which _stat completes
STAT_FIELDS = ("count", "first", "curr", "min", "max", "avg", "std")


def _stat(line: str) -> dict[str, str]:
    """The fields of a ``count=`` line; a stage whose runs all took one time prints only ``curr=``."""
    fields = dict(KEY_VALUE.findall(line))
    if same := ALL_SAME.search(line):
        fields["curr"] = same.group(1)
    if "avg" not in fields and "curr" in fields and (same or fields.get("count") == "1"):
        fields.update(avg=fields["curr"], min=fields["curr"], max=fields["curr"], first=fields["curr"], std="0")
    return fields


ORT_LOG = re.compile(r"\[[VIWEF]:onnxruntime:[^\]]*\] ?")  # "[V:onnxruntime:, session_state.cc:1598 Verify...] "
PLACEMENTS = "Node placements"
PLACED_ALL = re.compile(r"^All nodes placed on \[([^\]]+)\]\. Number of nodes: (\d+)")
PLACED = re.compile(r"^Node\(s\) placed on \[([^\]]+)\]\. Number of nodes: (\d+)")
OLD_PLACED_ALL = re.compile(r"^All nodes have been placed on \[([^\]]+)\]")  # 2019-2022: no count
OLD_PROVIDER = re.compile(r"^Provider: \[([^\]]+)\]: \[(.*)\]$")  # 2019-2022: the nodes listed, ", " after each
OLD_NODE = re.compile(r"^Node \[(.+)\] has been placed on \[([^\]]+)\]")  # mid-2022
# NNAPI / CoreML execution providers (a warning when K > 1), and QNN's (0 alone when none)
EP_CAPABILITY = re.compile(
    r"\b(\w+ExecutionProvider)::GetCapability, number of partitions supported by \w+: (\d+) number of nodes in the "
    r"graph: (\d+) number of nodes supported by \w+: (\d+)"
)
QNN_CAPABILITY = re.compile(
    r"Number of partitions supported by QNN EP: (\d+)(?:, number of nodes in the graph: (\d+), number of nodes "
    r"supported by QNN: (\d+))?"
)
NOT_BUILT = re.compile(r"\b\w+ is not supported in this build|This backend is not included in perf test runner")
CPU_PROVIDER = "CPUExecutionProvider"


class _DelegationReader:
    """The delegation a run reported, line by line, for both tools: per delegate its coverage
    (``Replacing`` lines, the tool's verdict, a delegate's own count), the delegates' failures, and
    onnxruntime's node placement and capability lines."""

    def __init__(self) -> None:
        self.delegation: list[dict] = []
        self.entries: dict[str, dict] = {}
        self.errors: list[str] = []
        self.placement: dict[str, int] = {}
        self.all_on: str | None = None  # the old "All nodes have been placed on [P]." (no count)
        self.capability: dict[str, tuple[int, int | None, int | None]] = {}  # provider: partitions, nodes, supported
        self.nnapi_accelerator: str | None = None

    def _entry(self, name: str) -> dict:
        return self.entries.setdefault(DELEGATE_NAMES.get(name, name), {})

    def note_error(self, line: str, raw: str) -> None:
        """Keep ``line`` (in the tool's words, one line) when a delegate's creation or application failed."""
        text = line[found.end() :].strip() if (found := ORT_LOG.search(line)) else line
        if not text or self._coverage_line(text):
            return
        if missing := NOT_BUILT.search(text):  # perf_test: the provider is not in this build (not its source path)
            text = missing.group(0)
            if text not in self.errors:
                self.errors.append(text)
        elif DELEGATE_FAILURE.search(text) or (
            (ERROR_LEVEL.match(raw) or FAILURE.search(text) or (found and found.group(0)[1] in "EF"))
            and DELEGATE_WORD.search(text)
        ):
            text = one_line(text, 300)
            if text not in self.errors:
                self.errors.append(text)

    @staticmethod
    def _coverage_line(text: str) -> bool:
        return any(
            pattern.search(text)
            for pattern in (DELEGATION, OLD_DELEGATION, EXPLICIT, NOT_EXECUTED, GPU_OPS, GPU_NO_OPS, NODES_DELEGATED,
                            UNSUPPORTED_BY)
        )  # fmt: skip

    def feed(self, number: int, line: str) -> bool:  # noqa: C901 - one branch per message
        """Read ``line`` if it reports delegation; True when it did."""
        if found := DELEGATION.search(line):
            replaced, total = int(found.group(1)), int(found.group(2))
            if replaced > total:
                raise ToolOutputError(number, f"delegate replaced {replaced} of only {total} nodes")
            self.delegation.append(
                {"delegate": found.group(3), "replaced": replaced, "total": total, "partial": replaced < total}
            )
            entry = self._entry(found.group(3))
            entry["replaced"] = entry.get("replaced", 0) + replaced
            entry["total"] = entry.get("total", 0) + total
            if found.group(4):
                entry["partitions"] = entry.get("partitions", 0) + int(found.group(4))
        elif found := OLD_DELEGATION.search(line):  # TF 2.3 and before: no total, so only a fallback count
            self._entry(found.group(2))["nodes"] = (int(found.group(1)), None, found.group(3) and int(found.group(3)))
        elif found := EXPLICIT.search(line):
            entry = self.entries.setdefault(found.group(1), {})
            entry["execution"] = "full" if found.group(2) == "completely" else "partial"
            if found.group(3):
                entry["kernels"] = int(found.group(3))
        elif found := NOT_EXECUTED.search(line):
            self.entries.setdefault(found.group(1), {})["execution"] = "none"
        elif found := FAILED_TO_APPLY.search(line):  # the original execution plan was restored: nothing delegated
            self.entries.setdefault(found.group(1), {})["failed"] = True
        elif found := NNAPI_NAME.match(line):
            self.nnapi_accelerator = found.group(1).strip() or None
        elif RESTORED.search(line):  # subgraph.cc undid every delegate applied so far: the graph is on the CPU
            for entry in self.entries.values():
                entry["failed"] = True
        elif found := GPU_OPS.search(line):
            gpu, cpu = int(found.group(1)), int(found.group(2))
            self._entry("GPU")["nodes"] = (gpu, gpu + cpu, None)
        elif found := GPU_NO_OPS.search(line):
            self._entry("GPU")["nodes"] = (0, int(found.group(1)), None)
        elif found := NODES_DELEGATED.search(line):
            replaced, total = int(found.group(2)), int(found.group(3))
            if replaced > total:
                raise ToolOutputError(number, f"delegate replaced {replaced} of only {total} nodes")
            self._entry(found.group(1))["nodes"] = (replaced, total, found.group(4) and int(found.group(4)))
        else:
            return self._feed_onnxruntime(line[found.end() :] if (found := ORT_LOG.search(line)) else line)
        return True

    def _feed_onnxruntime(self, message: str) -> bool:
        text = message.strip()
        if text == PLACEMENTS:  # a new listing (the last one counts)
            self.placement, self.all_on = {}, None
        elif found := PLACED_ALL.match(text):
            self.placement = {found.group(1): int(found.group(2))}
        elif found := PLACED.match(text):
            self.placement[found.group(1)] = int(found.group(2))
        elif found := OLD_PLACED_ALL.match(text):
            self.placement, self.all_on = {}, found.group(1)
        elif found := OLD_PROVIDER.match(text):
            self.placement[found.group(1)] = len([n for n in found.group(2).split(", ") if n.strip()])
        elif found := OLD_NODE.match(text):
            self.placement[found.group(2)] = self.placement.get(found.group(2), 0) + 1
        elif found := EP_CAPABILITY.search(text):
            self.capability[found.group(1)] = (int(found.group(2)), int(found.group(3)), int(found.group(4)))
        elif found := QNN_CAPABILITY.search(text):
            nodes, supported = found.group(2), found.group(3)
            self.capability["QNNExecutionProvider"] = (
                int(found.group(1)), nodes and int(nodes), supported and int(supported)
            )  # fmt: skip
        else:
            return False
        return True

    def delegates(self) -> list[dict]:
        """Per delegate, :func:`_delegate`'s entry; a delegate's own count where no ``Replacing`` line gave one."""
        out = []
        for name, entry in self.entries.items():
            if "replaced" not in entry and "nodes" in entry:
                replaced, total, partitions = entry["nodes"]
                entry = {**entry, "replaced": replaced, "total": total}
                if partitions is not None:
                    entry["partitions"] = partitions
            if entry.get("failed"):
                entry = {**entry, "replaced": 0, "execution": "none", "partitions": None, "kernels": None}
            out.append(_delegate(name, entry))
        return out + self._provider_delegates()

    def _provider_delegates(self) -> list[dict]:
        """onnxruntime: per execution provider other than the CPU, its nodes out of all nodes, from the
        provider's own capability line where it printed one (it counts the graph's nodes; the placement
        counts a compiled partition as one node), else from the node placement."""
        entries: dict[str, dict] = {}
        total = sum(self.placement.values())
        if self.all_on and self.all_on != CPU_PROVIDER:
            entries[self.all_on] = _delegate(self.all_on, {"execution": "full"})
        entries.update((d["delegate"], d) for d in placement_delegates(self.placement))
        for provider, (partitions, nodes, supported) in self.capability.items():
            if nodes is not None and supported is not None and supported <= nodes:
                entries[provider] = _delegate(
                    provider, {"replaced": supported, "total": nodes, "partitions": partitions}
                )
            elif partitions == 0:
                entry = {"replaced": 0, "total": total or None, "partitions": 0, "execution": "none"}
                entries[provider] = _delegate(provider, entry)
        return list(entries.values())

    def provider_delegation(self) -> list[dict]:
        return [
            {"delegate": d["delegate"], "replaced": d["replaced"], "total": d["total"],
             "partial": 0 < d["replaced"] < d["total"]}
            for d in self._provider_delegates()
            if d["replaced"] is not None and d["total"]
        ]  # fmt: skip


CPU_PLACES = (CPU_PROVIDER, "MLCPUComputeDevice")  # the CPU as onnxruntime / CoreML name it


def placement_delegates(placement: dict[str, int]) -> list[dict]:
    """Delegate entries (:func:`_delegate`'s shape, plus ``cpu_nodes``) of a node placement
    ``{execution provider or compute device: nodes}`` (onnxruntime's, from perf_test's verbose log
    or the agent's session profile; CoreML's compute plan): one per place other than the CPU, its
    nodes out of all nodes."""
    total = sum(placement.values())
    cpu = sum(placement.get(name, 0) for name in CPU_PLACES)
    return [
        {**_delegate(place, {"replaced": nodes, "total": total}), "cpu_nodes": cpu}
        for place, nodes in placement.items()
        if place not in CPU_PLACES
    ]


def _dedupe(texts) -> list[str]:
    return list(dict.fromkeys(texts))


def _failure_lines(run: list[tuple[int, str, str]]) -> list[tuple[int, str]]:
    return [(n, line) for n, line, _ in run if FAILURE.search(line) and not line.startswith(BENIGN)]


def _benchmark_runs(lines: list[tuple[int, str, str]]) -> list[list[tuple[int, str, str]]]:
    """The runs in one file: a run begins at ``STARTING!``, or, after a finished run's summary line
    (pasted sessions without the start banner), at the first line that begins a run (``Loaded
    model``, ``Graph:``, ``Initialized session``, a stage) or a statistics line."""

    def content(line: str) -> bool:  # a line that makes a run worth reporting: statistics, a summary, a failure
        failure = FAILURE.search(line) and not line.startswith(BENIGN)
        return bool(STAT_LINE.match(line) or TIMINGS.search(line) or failure)

    runs, current, summarized, filled = [], [], False, False  # one pass: each line is looked at once
    for entry in lines:
        line = entry[1]
        if filled and (
            line.startswith("STARTING!") or (summarized and (STAT_LINE.match(line) or RUN_START.match(line)))
        ):
            runs.append(current)
            current, summarized, filled = [], False, False
        current.append(entry)
        filled = filled or content(line)
        summarized = summarized or bool(TIMINGS.search(line))
    runs.append(current)
    return [r for r in runs if any(content(line) for _, line, _ in r)] or [lines]


def _describe(runs: list[list[tuple[int, str, str]]], parse) -> str:
    parts = []
    for k, run in enumerate(runs, start=1):
        graph = next((g.group(1) or g.group(2) for _, line, _ in run if (g := GRAPH.match(line))), None)
        where = f"run {k} (lines {run[0][0]}-{run[-1][0]}{', ' + graph.rsplit('/', 1)[-1] if graph else ''})"
        try:
            r = parse(run)
            parts.append(f"{where}: {r.count or '?'} timed runs, avg {r.mean_ms:.4g} ms")
        except ToolOutputError as exc:
            state = "failed: " if isinstance(exc, ToolFailed) else "unreadable: "
            parts.append(f"{where}: {state}{one_line(exc.reason, 200)}")
    return "; ".join(parts)


def _pick(runs: list, run: int | None, tool: str, parse):
    if run is not None and not 1 <= run <= len(runs):
        raise ToolOutputError(0, f"run {run} asked for, but the file holds {len(runs)} {tool} run(s)")
    if len(runs) > 1 and run is None:
        raise ToolOutputError(
            0,
            f"the file holds {len(runs)} {tool} runs; pick one with --run N (nothing is merged): "
            + _describe(runs, parse),
        )
    return runs[(run or 1) - 1]


def _parse_runs(text: str, run: int | None, tool: str, split, parse_run) -> ToolResult:
    """One tool log: its lines (known prefixes stripped), split into runs by ``split``, the run
    ``run`` (1-based; the only one when None) parsed by ``parse_run``; see :func:`_pick`."""
    lines, prefix = _lines(text)
    cut = None
    if len(lines) > 1 and not text.endswith(("\n", "\r")):  # saved while the tool was still writing?
        number, _, raw = lines.pop()
        if raw:
            end = raw if len(raw) <= 60 else "..." + raw[-60:]  # where a cut would be
            cut = f"the last line ({number}) has no line end, so it may be cut and is not read: {end!r}"
    runs = split(lines)
    try:
        chosen = _pick(runs, run, tool, lambda r: parse_run(r, len(lines)))
        result = parse_run(chosen, len(lines))
        check_order(result)
    except ToolOutputError as exc:
        if cut:
            raise type(exc)(exc.line, f"{exc.reason}; {cut}") from None
        raise
    result.line_prefix, result.run, result.runs = prefix, (run or 1), len(runs)
    if cut:
        result.warnings.append(cut)
    return result


def _rank(percentile: str) -> float:
    """Where a percentile key lies: ``p5`` 5, ``p50`` 50, ``p999`` 99.9."""
    digits = percentile[1:]
    return float(digits if len(digits) <= 2 else f"{digits[:2]}.{digits[2:]}")


def check_order(result: ToolResult) -> None:
    """Raise ToolOutputError when the statistics a tool printed are out of order (min <= every
    percentile, ascending, <= max; min <= mean <= max; 1 us of rounding allowed): a log cut inside a
    number, or damaged, breaks that, and its numbers must not be stored."""
    points = [(-1.0, "min", result.min_ms), (101.0, "max", result.max_ms), (50.0, "median", result.median_ms)]
    points += [(_rank(k), k, v) for k, v in result.percentiles_ms.items() if k != "p50"]
    known = sorted((rank, name, value) for rank, name, value in points if value is not None)
    slack = 1e-3  # ms
    for (_, low_name, low), (_, high_name, high) in zip(known, known[1:], strict=False):
        if low > high + slack:
            raise ToolOutputError(
                0,
                f"the statistics are out of order: {low_name} {low:g} ms is above {high_name} {high:g} ms; the log "
                "is cut or damaged, so nothing is read",
            )
    if result.count and result.min_ms is not None and result.mean_ms < result.min_ms - slack:
        bound = f"below min {result.min_ms:g} ms"
    elif result.count and result.max_ms is not None and result.mean_ms > result.max_ms + slack:
        bound = f"above max {result.max_ms:g} ms"
    else:
        return
    raise ToolOutputError(
        0, f"the average {result.mean_ms:g} ms is {bound}; the log is cut or damaged, so nothing is read"
    )


def _ends_on(line: int, value: str, what: str) -> str:
    """The warning for a value left unread because the log ends right after it (line ``line``)."""
    return (
        f"the log ends on {what} (line {line}), so its last value ({value}) may be cut short (an editor adds "
        "the line end a cut log lacks): it is not read"
    )


def _agree(a: float | None, b: float | None) -> bool:
    """Two readings of one time (ms) the tool printed twice, in different units and roundings."""
    return a is None or b is None or math.isclose(a, b, rel_tol=1e-2, abs_tol=1e-2)


def parse_benchmark_model(text: str, run: int | None = None) -> ToolResult:
    """Parse a ``benchmark_model`` log (any format above); ``run`` picks one of several runs (1-based)."""
    return _parse_runs(text, run, "benchmark_model", _benchmark_runs, _benchmark_run)


def _benchmark_run(run: list[tuple[int, str, str]], n_lines: int) -> ToolResult:  # noqa: C901 - one pass over the lines
    info = any(raw.startswith("INFO: count=") or "INFO: count=" in raw for _, _, raw in run)
    stats: list[tuple[int, dict[str, str]]] = []
    timings: dict[str, tuple[int, str]] = {}
    memory: dict[str, tuple[int, str]] = {}
    warnings, stages = [], []
    reader = _DelegationReader()
    summary_format = init_line = threads = None
    for number, line, raw in run:
        reader.note_error(line, raw)
        if STAGE.match(line):
            stages.append(number)
        if STAT_LINE.match(line):
            stats.append((number, _stat(line)))
        elif found := TIMINGS.search(line):
            summary_format = "TF 1.x 'Average inference timings'" if found.group(1) else "'Inference timings in us'"
            for part in found.group(2).split(","):
                name, colon, value = part.partition(":")
                name, value = (name.strip(), value.strip()) if colon else ("", name.strip())
                if value and name in SUMMARY_NAMES:
                    timings[SUMMARY_NAMES[name]] = (number, value)
        elif found := PERIODIC_PEAK.search(line):
            memory["periodic"] = (number, found.group(1))
        elif found := PLAIN_MEMORY.search(line) or DELTA_MEMORY.search(line):
            memory["init"], memory["overall"] = (number, found.group(1)), (number, found.group(2))
        elif found := VMRSS.match(line):
            memory["vmrss"] = (number, found.group(1))
        elif reader.feed(number, line):
            continue
        elif found := INITIALIZED.match(line):
            init_line = (number, found.group(1))
        elif found := THREADS.match(line):
            threads = int(found.group(1))  # the last one printed: what was used
        elif raw.startswith(("WARNING: ", "ERROR: ")) or (FAILURE.search(line) and not GRAPH.match(line)):
            warnings.append(one_line(raw, 300))
    failures = _failure_lines(run)
    errors = reader.errors
    if any("Benchmarking failed" in line for _, line in failures):
        number, _ = failures[0]
        said = _dedupe([*errors, *(f for _, f in failures)])  # the delegate's reason first
        failed = ToolFailed(number, "benchmark_model failed: " + one_line(" | ".join(said), 400))
        failed.delegate_errors = errors
        raise failed
    timed = stats[-1] if stats else None
    if timed and stages and stages[-1] > timed[0]:  # the last stage printed nothing: its runs are not here
        cut = (
            f"a benchmark stage began on line {stages[-1]} ({_line_text(run, stages[-1])!r}) but the output ends "
            f"without its count= line: the run was cut off or died, so the last count= line (line {timed[0]}) is "
            "not the timed runs and nothing is read"
        )
        raise (ToolFailed if failures else ToolOutputError)(stages[-1], cut + _reasons(failures, errors))
    if timed and len(stats) == 1 and len(stages) == 1 and not timings:
        raise ToolOutputError(
            timed[0],
            "one benchmark stage with its count= line and no summary line ('Inference timings in us'): the "
            "output ends after the warm-up stage (cut, or an excerpt), so the timed runs are not here and "
            "nothing is read",
        )
    if timed and timed[1].get("count") == "0":
        raise ToolFailed(timed[0], "benchmark_model ran no timed runs (count=0)" + _reasons(failures, errors))
    if timed and (missing := [key for key in STAT_FIELDS if key not in timed[1]]):
        raise ToolOutputError(
            timed[0],
            f"the timed-runs line has no {', '.join(k + '=' for k in missing)} (benchmark_model prints "
            f"{' '.join(k + '=' for k in STAT_FIELDS)} on every statistics line: this one is cut or was not "
            f"printed by it, and a cut avg= may be a wrong number, so nothing is read): "
            f"{_line_text(run, timed[0])!r}",
        )
    cut_warnings = []
    last = max((n for n, line, _ in run if line), default=None)
    if run and run[-1][0] == n_lines and last is not None:  # this run ends the log: its last value may be cut
        pairs = KEY_VALUE.findall(_line_text(run, timed[0])) if timed and timed[0] == last else []
        if pairs and pairs[-1][0] not in ("count", "curr", "avg"):  # not a whole "count=N curr=T(all same)"
            key, value = pairs[-1]  # count= ... avg= std= [p5= median= p95=]
            timed = (timed[0], {k: v for k, v in timed[1].items() if k != key})
            cut_warnings.append(_ends_on(timed[0], f"{key}={value}", "its timed-runs line"))
        elif timed and last in {line_no for line_no, _ in timings.values()}:  # a whole log ending on its summary
            attr = next(a for a, (line_no, _) in reversed(list(timings.items())) if line_no == last)
            if attr == "mean":  # Inference (avg), the usual last: only compared with avg=, not read
                timings.pop(attr)
            else:
                cut_warnings.append(
                    _ends_on(last, f"{attr.removesuffix('_ms')} {timings.pop(attr)[1]}", "its summary line")
                )
    us = 1e-3
    if timed:
        number, fields = timed
        result = ToolResult(
            tool="benchmark_model",
            variant="info" if info else "plain",
            count=_count(fields["count"], number),
            mean_ms=_ms(_number(fields["avg"], number, "avg"), us),
            found=["count", "avg"],
        )
    elif hidden := next(((n, raw) for n, line, raw in run if STAT_ANYWHERE.search(line)), None):
        raise ToolOutputError(
            hidden[0],
            f"the statistics line has a prefix this parser does not know: {one_line(hidden[1], 100)!r}; prefixes "
            "read: adb logcat (every -v format), glog, 'INFO: '-style levels",
        )
    elif "mean" in timings:  # only the summary line (e.g. `adb logcat | grep "Average inference"`)
        number, value = timings["mean"]
        result = ToolResult("benchmark_model", "info" if info else "plain", 0, _ms(_number(value, number, "avg"), us))
        result.found.append("avg")
        result.warnings.append("only the summary line: the number of timed runs is not in the output")
    elif failures:
        raise ToolFailed(
            failures[0][0],
            "no 'count=... avg=...' line with the timed runs; benchmark_model said: "
            + one_line(" | ".join(_dedupe([*errors, *(f for _, f in failures)])), 400),
        )
    else:
        raise ToolOutputError(
            n_lines,
            "no 'count=... avg=...' line with the timed runs (is this benchmark_model output?); formats read: "
            + "; ".join(KNOWN_FORMATS["benchmark_model"]),
        )
    result.summary_format = summary_format
    if timed:
        for key, attr in (("std", "std_ms"), ("min", "min_ms"), ("max", "max_ms"), ("median", "median_ms")):
            if key in fields:
                setattr(result, attr, _ms(_number(fields[key], number, key), us))
                result.found.append(key)
        for key in ("p5", "p95"):
            if key in fields:
                result.percentiles_ms[key] = _ms(_number(fields[key], number, key), us)
                result.found.append(key)
    warm = stats[-2] if len(stats) > 1 and "count" in stats[-2][1] and "avg" in stats[-2][1] else None
    if warm:
        warm_line, warm_fields = warm
        result.warmup_count = _count(warm_fields["count"], warm_line)
        result.warmup_mean_ms = _ms(_number(warm_fields["avg"], warm_line, "warm-up avg"), us)
        result.found.append("warmup")
        if "first" in warm_fields:  # the first warm-up run is the first inference
            result.first_ms = _ms(_number(warm_fields["first"], warm_line, "warm-up first"), us)
        for key in ("p5", "median", "p95"):
            if key in warm_fields:
                result.extra[f"warmup_{key}_ms"] = _ms(_number(warm_fields[key], warm_line, key), us)
    for attr in ("init_ms", "first_ms", "warmup_mean_ms"):
        if attr in timings:
            line_no, value = timings[attr]
            setattr(result, attr, _ms(_number(value, line_no, attr.removesuffix("_ms")), us))
    if result.init_ms is None and init_line:
        result.init_ms = _number(init_line[1], init_line[0], "Initialized session in")  # already ms
    elif init_line and not _agree(result.init_ms, _number(init_line[1], init_line[0], "Initialized session in")):
        result.warnings.append(
            f"the summary's Init ({result.init_ms:g} ms) and line {init_line[0]}'s 'Initialized session in "
            f"{init_line[1]}ms' differ (a number cut short?): no init time is read"
        )
        result.init_ms = None
    if warm and "first" in warm_fields and "first_ms" in timings:
        from_warm = _ms(_number(warm_fields["first"], warm[0], "warm-up first"), us)
        if not _agree(result.first_ms, from_warm):
            result.warnings.append(
                f"the summary's First inference ({result.first_ms:g} ms) and the warm-up line's first= "
                f"({from_warm:g} ms) differ (a number cut short?): no first-inference time is read"
            )
            result.first_ms = None
    if timed and result.first_ms is None and "first" in fields and not warm:
        result.first_ms = _ms(_number(fields["first"], number, "first"), us)
        result.warnings.append("no warm-up line: first_ms is the first timed run")
    if timed and "mean" in timings:
        line_no, value = timings["mean"]
        summary_mean = _ms(_number(value, line_no, "summary average"), us)
        if not math.isclose(summary_mean, result.mean_ms, rel_tol=1e-3, abs_tol=1e-3):
            result.warnings.append(f"the summary line's average ({summary_mean:g} ms) differs from count= avg")
    for attr, name in (("init_ms", "init"), ("first_ms", "first"), ("warmup_mean_ms", "warmup_mean")):
        if getattr(result, attr) is not None:
            result.found.append(name)
    _memory(result, memory)
    result.threads = threads or None
    result.warnings = [*cut_warnings, *result.warnings, *warnings]
    result.delegation, result.delegates, result.delegate_errors = reader.delegation, reader.delegates(), errors
    result.nnapi_accelerator = reader.nnapi_accelerator
    if result.delegation or result.delegates:
        result.found.append("delegation")
    return result


def _reasons(failures: list[tuple[int, str]], errors: list[str] = ()) -> str:
    said = _dedupe([*errors, *(f for _, f in failures)])
    return ("; benchmark_model said: " + one_line(" | ".join(said), 400)) if failures else ""


def _line_text(run: list[tuple[int, str, str]], number: int) -> str:
    return one_line(next((line for n, line, _ in run if n == number), ""), 120)


def _delegate(name: str, entry: dict) -> dict:
    """One delegate's coverage: the tool's own verdict when it printed one, else from the node counts."""
    execution = entry.get("execution")
    if execution is None and entry.get("total"):
        replaced, total = entry["replaced"], entry["total"]
        execution = "none" if replaced == 0 else "full" if replaced == total else "partial"
    return {
        "delegate": name,
        "execution": execution,  # "full", "partial", "none" (applied but the graph stays on the CPU)
        "replaced": entry.get("replaced"),
        "total": entry.get("total"),
        "partitions": entry.get("partitions"),
        "kernels": entry.get("kernels"),
    }


def _memory(result: ToolResult, memory: dict[str, tuple[int, str]]) -> None:
    """benchmark_model's memory lines, each under its own meaning; ``peak_memory_mb`` holds the
    periodic monitor's absolute peak when there is one, else the overall delta (and says so)."""
    values = {key: _number(text, line, f"memory {key}") for key, (line, text) in memory.items()}
    names = {
        "periodic": "periodic_peak_mb",
        "init": "delta_init_mb",
        "overall": "delta_overall_mb",
        "vmrss": "vmrss_end_mb",
    }
    result.memory = {names[k]: v for k, v in values.items()}
    if "periodic" in values:
        result.peak_memory_mb = values["periodic"]
        result.memory_meaning = "absolute peak footprint of the tool's process, sampled by its periodic monitor (MB)"
    elif "overall" in values:
        result.peak_memory_mb = values["overall"]
        result.memory_meaning = (
            "delta of the footprint from the tool's start to the end of all runs (MB); not a peak, not the model alone"
        )
    if "init" in values:
        result.init_memory_mb = values["init"]
    if result.peak_memory_mb is not None:
        result.found.append("peak_memory")


# --- onnxruntime_perf_test -------------------------------------------------------------------

PERF_LINE = re.compile(rf"^\s*([A-Za-z][A-Za-z0-9 ]*?)\s*:\s*({NUMBER})\s*(ms|s|bytes|%)?\s*$")
OLD_LATENCY = re.compile(rf"^\s*((?:Min|Max|P\d+) Latency) is ({NUMBER})\s*(sec|s|ms)?\s*$")
PERF_FIELDS = {
    "Session creation time cost": ("init_ms", "s"),
    "First inference time cost": ("first_ms", "ms"),
    "Total inference requests": ("count", ""),
    "Total iterations": ("count", ""),
    "Average inference time cost": ("mean_ms", "ms"),
    "Average time cost": ("mean_ms", "ms"),
    "Peak working set size": ("peak_memory_mb", "bytes"),
    "Min Latency": ("min_ms", "s"),
    "Max Latency": ("max_ms", "s"),
    "P50 Latency": ("median_ms", "s"),
}
PERF_EXTRA = {  # printed, kept under source, not a store column
    "Total inference time cost": "total_inference_s",
    "Total time cost": "total_s",
    "Total inference run time": "total_run_s",
    "Total run time": "total_run_s",
    "Number of inferences per second": "inferences_per_s",
    "Avg CPU usage": "cpu_usage_percent",
}
PERCENTILE = re.compile(r"^P(\d+) Latency$")
UNIT_TO_MS = {"ms": 1.0, "s": 1e3, "sec": 1e3}


def _ms(value: float, per_unit: float) -> float:
    """``value`` (in a tool's unit) in ms, without the binary noise of the product (113737 us is
    113.737 ms, not 113.73700000000001): rounded to 15 significant digits, more than any tool prints."""
    return float(f"{value * per_unit:.15g}")


PERF_FAILURE = re.compile(
    r"(?i)\[E:onnxruntime|^error|\bfailed\b|exception|invalid|not found|cannot|could not|not supported in this build"
    r"|not included in perf test runner"
)


def _perf_values(line: str) -> tuple[str, str, str] | None:
    if found := PERF_LINE.match(line):
        name, value, unit = found.group(1), found.group(2), found.group(3) or ""
    elif found := OLD_LATENCY.match(line):
        name, value, unit = found.group(1), found.group(2), found.group(3) or ""
    else:
        return None
    if name in PERF_FIELDS or name in PERF_EXTRA or PERCENTILE.match(name):
        return name, value, "s" if unit == "sec" else unit
    return None


def _perf_runs(lines: list[tuple[int, str, str]]) -> list[list[tuple[int, str, str]]]:
    """The runs in one file: a field the current run already printed begins the next run."""
    runs, current, seen = [], [], set()
    for entry in lines:
        values = _perf_values(entry[1])
        if values and values[0] in seen:
            runs.append(current)
            current, seen = [], set()
        if values:
            seen.add(values[0])
        current.append(entry)
    runs.append(current)
    return [r for r in runs if any(_perf_values(line) for _, line, _ in r)] or [lines]


def parse_perf_test(text: str, run: int | None = None) -> ToolResult:
    """Parse ``onnxruntime_perf_test`` output (``-s`` adds the latency percentiles); ``run`` picks one of
    several runs (1-based)."""
    return _parse_runs(text, run, "onnxruntime_perf_test", _perf_runs, _perf_run)


def _perf_run(run: list[tuple[int, str, str]], n_lines: int) -> ToolResult:
    values: dict[str, tuple[int, str, str]] = {}
    warnings, failures = [], []
    threads = None
    reader = _DelegationReader()
    for number, line, raw in run:
        reader.note_error(line, raw)
        found = _perf_values(line)
        if setting := PERF_THREADS.match(line):
            threads = int(setting.group(1)) or None  # 0: onnxruntime picks
            continue
        if not found:
            if reader.feed(number, line):
                continue
            if line.lower().startswith(("warning", "error")) or "[W:" in line or "[E:" in line:
                warnings.append(one_line(raw, 300))
            if missing := NOT_BUILT.search(line):  # the tool's words, not the source path and function before them
                failures.append((number, missing.group(0)))
            elif PERF_FAILURE.search(line):
                failures.append((number, one_line(raw, 200)))
            continue
        name, text_value, unit = found
        expected = PERF_FIELDS.get(name, ("", "s" if PERCENTILE.match(name) else ""))[1]
        if expected and unit and unit != expected:
            raise ToolOutputError(number, f"'{name}' in {unit}, expected {expected}")
        if expected and not unit:  # every version prints the unit: without it the line was cut
            raise ToolOutputError(number, f"'{name}' has no unit (expected {expected}): the line is cut or damaged")
        values[name] = (number, text_value, unit or expected)
    mean_name = next((n for n in ("Average inference time cost", "Average time cost") if n in values), None)
    if mean_name is None:
        if failures:
            failed = ToolFailed(
                failures[0][0],
                "no 'Average inference time cost' line; onnxruntime_perf_test said: "
                + one_line(" | ".join(f for _, f in failures), 300),
            )
            failed.delegate_errors = reader.errors
            raise failed
        raise ToolOutputError(
            n_lines,
            "no 'Average inference time cost: ... ms' line (is this onnxruntime_perf_test output?); formats read: "
            + "; ".join(KNOWN_FORMATS["onnxruntime_perf_test"]),
        )
    line_no, mean_text, unit = values[mean_name]
    mean = _number(mean_text, line_no, mean_name)
    count_name = next((n for n in ("Total inference requests", "Total iterations") if n in values), None)
    count = values.get(count_name) if count_name else None
    result = ToolResult(
        tool="onnxruntime_perf_test",
        variant="perf_test",
        count=_count(count[1], count[0]) if count else 0,
        mean_ms=_ms(mean, UNIT_TO_MS[unit]),
        found=["mean"],
        warnings=warnings,
        summary_format="'Average inference time cost'"
        if mean_name.startswith("Average inference")
        else ("'Average time cost' / 'Latency is ... sec' (before 2020)"),
    )
    if count:
        result.found.append("count")
    for name, (line_no, text_value, unit) in values.items():
        value = _number(text_value, line_no, name)
        if name in PERF_EXTRA:
            result.extra[PERF_EXTRA[name]] = value
            continue
        if name not in PERF_FIELDS and (percentile := PERCENTILE.match(name)):
            result.percentiles_ms[f"p{percentile.group(1)}"] = _ms(value, UNIT_TO_MS[unit])
            result.found.append(f"p{percentile.group(1)}")
            continue
        attr, _ = PERF_FIELDS[name]
        if attr in ("count", "mean_ms"):
            continue
        if attr == "peak_memory_mb":
            result.peak_memory_mb = value / 2**20
            result.memory = {"peak_working_set_mb": result.peak_memory_mb}
            result.memory_meaning = "peak working set (resident memory) of the tool's process, from the OS (MiB)"
        else:
            setattr(result, attr, _ms(value, UNIT_TO_MS[unit]))
        result.found.append(attr.removesuffix("_ms").removesuffix("_mb"))
    if result.median_ms is not None:
        result.percentiles_ms.setdefault("p50", result.median_ms)
    result.threads = threads
    result.placement, result.delegates = dict(reader.placement), reader.delegates()
    result.delegation, result.delegate_errors = reader.provider_delegation(), reader.errors
    if result.placement or result.delegates:
        result.found.append("delegation")
    return result


def read_delegation(text: str) -> dict:
    """What any output of either tool says about delegation, however little of the run it holds (an
    excerpt, a failed run): ``delegation``, ``delegates``, ``delegate_errors`` and ``placement`` in the
    shapes :class:`ToolResult` gives them. Raises only ToolOutputError."""
    lines, _ = _lines(text)
    reader = _DelegationReader()
    for number, line, raw in lines:
        reader.note_error(line, raw)
        reader.feed(number, line)
    return {
        "delegation": [*reader.delegation, *reader.provider_delegation()],
        "delegates": reader.delegates(),
        "delegate_errors": reader.errors,
        "placement": dict(reader.placement),
    }


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


def _op_row(numbers: int) -> re.Pattern:
    """A "Run Order" row: the node type, 6 numbers (7 with ``[start]``; the two percentages end in
    ``%``, which keeps the columns unambiguous when tabs became spaces), then the name.

    The stats calculator prints each number right-aligned in a fixed width with three decimals
    (``InitField``: ``std::setw(width) << std::fixed << std::setprecision(3)``, widths 9 for the
    times, 7 for the percentages, 10 for memory; ``xla/tsl/util/stats_calculator.cc``), so a value
    as wide as its column touches its neighbour: a node taking the whole run prints
    ``0.224100.000%100.000%`` (a one-node model always does), 1 GB or more of memory touches the
    ``%`` before it. The average before a 100.000% is read by its three decimals."""
    n = NUMBER
    start = rf"(?P<start>{n})\s+" if numbers == 7 else ""
    return re.compile(
        rf"^\s*(?P<type>.+?)\s+{start}(?P<first>{n})\s+(?:(?P<avg3>-?\d+\.\d{{3}})\s*|(?P<avg>{n})\s+)"
        rf"(?P<percent>{n})%\s*(?P<cdf>{n})%\s*(?P<mem>{n})\s+(?P<called>\d+)\s+(?P<name>\S.*)$"
    )


def parse_op_profile(text: str) -> list[OpRow]:
    """The "Run Order" table benchmark_model prints after ``Operator-wise Profiling Info for Regular
    Benchmark Runs:`` (TFLite's stats calculator: right-aligned number columns, a tab, then the name;
    older builds add a ``[start]`` column). Tabs turned into spaces (tables copied from web pages or
    docs) and logcat / ``INFO:`` prefixes are read too. Rows come in execution order."""
    lines = [strip_prefix(raw)[0] for raw in text.splitlines()]
    start = next((k for k, line in enumerate(lines) if OP_PROFILE_HEADER in line), None)
    if start is None:
        raise ToolOutputError(0, f"no '{OP_PROFILE_HEADER}' section (was --enable_op_profiling=true given?)")
    header = next((k for k in range(start + 1, min(start + 4, len(lines))) if "[node type]" in lines[k]), None)
    if header is None:
        raise ToolOutputError(start + 2, "the operator profile has no '[node type] ... [Name]' header")
    columns = lines[header].split()
    missing = [c for c in OP_COLUMNS if c not in " ".join(columns)]
    if missing:
        raise ToolOutputError(header + 1, f"the operator profile header lacks {', '.join(missing)}")
    numbers = 7 if "[start]" in columns else 6  # [start] [first] [avg ms] [%] [cdf%] [mem KB] [times called]
    row = _op_row(numbers)
    rows = []
    for number in range(header + 2, len(lines) + 1):
        line = lines[number - 1].rstrip()
        if not line.strip() or line.lstrip().startswith("="):
            break
        found = row.match(line)
        if not found:
            shown = one_line(line, 120)
            raise ToolOutputError(number, f"an operator row needs {numbers} numbers, a tab and a name: {shown!r}")
        node_type, name = found["type"].strip(), found["name"].strip()
        first, avg, percent, called = found["first"], found["avg3"] or found["avg"], found["percent"], found["called"]
        index = NODE_INDEX.search(name)
        tensors = name[1 : name.index("]")].split(", ") if name.startswith("[") and "]" in name else []
        rows.append(
            OpRow(
                node_type=node_type,
                first_ms=_number(first, number, "[first]"),
                avg_ms=_number(avg, number, "[avg ms]"),
                percent=_number(percent, number, "[%]"),
                times_called=int(_number(called, number, "[times called]")),
                name=name,
                node=int(index.group(1)) if index else None,
                tensors=tensors,
            )
        )
    if not rows:
        raise ToolOutputError(header + 1, "the operator profile has no rows")
    return rows
