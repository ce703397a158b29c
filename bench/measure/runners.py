"""Runners: execute one cell's artifact on a device and return what was measured.

- ``AgentRunner`` (this machine, Linux boards over ssh, Macs): copies the self-contained agent
  (``bench/measure/agent.py``) and the artifact to the device and runs it with the device's Python; the
  agent returns every per-inference latency and raw energy readings as JSON lines.
- ``NativeToolRunner`` (Android over adb): pushes the runtime's own benchmark tool
  (``benchmark_model`` for TFLite, ``onnxruntime_perf_test`` for ONNX) and the artifact, runs it
  pinned with ``taskset``, and parses its text output. Those tools print summary statistics, not
  per-inference samples, so these measurements carry the tool's statistics and no samples.

Energy with a native tool: the tool's run includes loading the model and warm-up, which we cannot
separate from the timed runs by reading counters around the process. So the tool runs twice, a
short run (1 timed inference) and the full run, with the same deterministic warm-up, counters
read around each; the difference of the two idle-subtracted energies divided by the difference
of their inference counts is the energy of one inference, with loading and warm-up cancelled.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from bench.devices.energy.base import EnergyMeter, EnergyResult, MeterUnavailable
from bench.devices.transports.base import Transport, TransportError
from bench.digest import file_sha256
from bench.errors import BenchError
from bench.measure import agent as agent_module
from bench.measure.protocol import Protocol
from bench.measure.stats import summarize
from bench.measure.sustained import assess
from bench.parsers.tool_output import PARSERS, ToolOutputError, ToolResult

TOOLS = {"tflite": "benchmark_model", "onnx": "onnxruntime_perf_test"}


@dataclass
class Execution:
    """What one cell measured (or ``error``)."""

    error: str | None = None
    samples: list[float] | None = None
    stats: dict = field(default_factory=dict)
    init_ms: float | None = None
    first_ms: float | None = None
    peak_memory_mb: float | None = None
    versions: dict | None = None
    cpus: list[int] | None = None
    energy: EnergyResult | None = None
    source: dict = field(default_factory=dict)
    sustained: dict | None = None  # bench.measure.sustained.assess() of a sustained run


@dataclass
class Artifact:
    path: str
    sha256: str | None
    input_shape: tuple[int, ...]


def cpus_of_mask(mask: str | None) -> list[int] | None:
    if not mask:
        return None
    value = int(mask, 16)
    return [cpu for cpu in range(value.bit_length()) if value >> cpu & 1]


class Runner(ABC):
    def __init__(self, device, transport: Transport, protocol: Protocol, meter: EnergyMeter | None, spec: dict | None):
        self.device, self.transport, self.protocol = device, transport, protocol
        self.meter, self.energy_spec = meter, spec

    @abstractmethod
    def execute(self, cell, artifact: Artifact, options: dict, cpus: list[int] | None) -> Execution:
        """Measure one cell; a failure of the cell is an Execution with ``error``; a lost device raises."""


def parse_events(stdout: str) -> dict[str, dict]:
    """The agent's events by name; repeated ones (``chunk``) also as a list under ``<name>s``."""
    events: dict = {}
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # runtimes print banners on stdout (e.g. XNNPACK)
        if isinstance(event, dict) and "event" in event:
            events[event["event"]] = event
            events.setdefault(event["event"] + "s", []).append(event)
    return events


class AgentRunner(Runner):
    """The JSON-lines agent, on this machine or on a board reached over ssh."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local = self.transport.name == "local"
        self._agent_path: str | None = None

    def _agent(self) -> str:
        if self._agent_path is None:
            source = Path(agent_module.__file__)
            self._agent_path = str(source) if self.local else self.transport.push_once(source, file_sha256(source))
        return self._agent_path

    def execute(self, cell, artifact: Artifact, options: dict, cpus: list[int] | None) -> Execution:
        p = self.protocol
        path = artifact.path
        if not self.local and cell.format != "pytorch":
            path = self.transport.push_once(Path(artifact.path), artifact.sha256 or file_sha256(Path(artifact.path)))
        job = {
            "runtime": cell.runtime,
            "artifact": path,
            "threads": cell.threads,
            "input_shape": list(artifact.input_shape),
            "warmup": p.warmup,
            "min_runs": p.min_runs,
            "min_time": p.min_time,
            "max_runs": p.max_runs,
            "max_time": p.max_time,
            "ci_target": p.ci_target,
            "idle_max": p.idle_max,
            "options": options,
            "cpus": cpus,
            "energy": self.energy_spec,
            "sustained_s": p.sustained_s,
            "chunk_s": p.chunk_s,
            "thermal_root": self.device.thermal_root,
            "python_path": [str(Path(__file__).resolve().parents[2])] if self.local else [],
        }
        python = sys.executable if self.local else self.device.python
        done = self.transport.run([python, self._agent()], stdin=json.dumps(job), timeout=p.max_time + p.idle_max + 600)
        events = parse_events(done.stdout)
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        if "error" in events:
            e = events["error"]
            return Execution(error=f"{e['stage']}: {e['message']}")
        if "done" not in events:
            return Execution(error=f"agent exited with code {done.returncode}: {tail[:300]}")
        samples = events["samples"]["ms"]
        series = [{k: c[k] for k in ("t", "n", "median_ms", "temp_c")} for c in events.get("chunks", [])]
        return Execution(
            sustained=assess(series) if p.sustained_s else None,
            samples=samples,
            stats=summarize(samples).to_dict(),
            init_ms=events["init"]["init_ms"],
            first_ms=events["first"]["first_ms"],
            peak_memory_mb=events["done"]["peak_rss_mb"],
            versions=events["init"].get("versions"),
            cpus=events.get("hello", {}).get("cpus"),
            energy=self._energy(events),
            source={"method": "agent", "transport": self.transport.name},
        )

    def _energy(self, events: dict) -> EnergyResult | None:
        if self.meter is None:
            return None
        window, idle = events["window"].get("energy"), events.get("idle", {}).get("energy")
        if not window or not idle:
            return EnergyResult.unavailable(self.meter.name, "the agent returned no counter readings")
        return self.meter.energy_per_inference(window, idle, events["window"]["n"])


def local_tool(device, fmt: str) -> Path:
    """The device's native benchmark tool for ``fmt`` on this machine, from its profile (checked
    before anything connects)."""
    tool = TOOLS.get(fmt)
    if tool is None:
        raise BenchError(f"{device.name} runs native tools for {', '.join(TOOLS)} only, not {fmt}")
    local = device.tools.get(tool)
    if not local:
        raise BenchError(
            f"device '{device.name}' has no {tool}: set [runtimes] {tool} = \"/path/to/{tool}\" "
            f"in {device.path or 'its profile'} (the README says where to get it)"
        )
    source = Path(local).expanduser()
    if not source.is_file():
        raise BenchError(f"{tool} not found at {source} (from [runtimes] {tool} in {device.path})")
    return source


def push_tool(device, transport: Transport, fmt: str) -> str:
    """Copy the device's native benchmark tool for ``fmt`` (once, by content) and return its path there."""
    source = local_tool(device, fmt)
    remote = transport.push_once(source, file_sha256(source))
    transport.run(["chmod", "755", remote], timeout=60).check(f"chmod {TOOLS[fmt]}")
    return remote


def pinned(device, argv: list[str]) -> list[str]:
    """``argv`` under ``taskset MASK`` when the profile pins the device's benchmarks to a cluster."""
    return ["taskset", device.affinity, *argv] if device.affinity else argv


def tool_command(
    tool: str,
    fmt: str,
    graph: str,
    threads: int,
    *,
    runs: int | None,
    seconds: float,
    max_secs: float,
    warmup: int,
    xnnpack: bool = True,
    device=None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The native tool's command line: ``runs`` timed inferences (at least ``seconds``), or with
    ``runs=None`` as many as fit in ``seconds``; a fixed warm-up count (the two runs of the energy
    differential must warm up alike).

    The tool's two output streams are merged on the device, in order: benchmark_model builds
    differ in where they log (the oldest print everything to stderr, later ones INFO lines to
    stdout, and the runtime's own messages such as delegate creation go to stderr)."""
    if fmt == "tflite":
        argv = [tool, f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs or 1}",
                f"--min_secs={seconds:g}", f"--max_secs={max_secs:g}", f"--warmup_runs={warmup}",
                "--warmup_min_secs=0", f"--use_xnnpack={str(xnnpack).lower()}", *extra]  # fmt: skip
    else:
        mode = ["-m", "times", "-r", str(runs)] if runs else ["-m", "duration", "-t", f"{seconds:g}"]
        argv = [tool, *mode, "-x", str(threads), "-e", "cpu", "-I", "-s", *extra, graph]
    argv = pinned(device, argv) if device is not None else argv
    return ["sh", "-c", 'exec "$@" 2>&1', "sh", *argv]


class NativeToolRunner(Runner):
    """benchmark_model / onnxruntime_perf_test on an Android device."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tools: dict[str, str] = {}

    def _tool(self, fmt: str) -> str:
        if fmt not in self._tools:
            self._tools[fmt] = push_tool(self.device, self.transport, fmt)
        return self._tools[fmt]

    def _command(self, cell, tool: str, graph: str, options: dict, short: bool, estimate_ms: float = 0) -> list[str]:
        """The timed run (``short``: the 1-inference run of the energy differential).

        onnxruntime_perf_test takes a run count or a duration, not both: with a latency
        ``estimate_ms`` (from the short run) the count is sized to last at least ``min_time``."""
        p = self.protocol
        runs = p.min_runs
        if cell.format == "onnx" and estimate_ms > 0:
            runs = max(runs, math.ceil(p.min_time * 1e3 / estimate_ms))
        return tool_command(tool, cell.format, graph, cell.threads, runs=1 if short else runs,
                            seconds=0 if short else p.min_time, max_secs=p.max_time, warmup=p.warmup,
                            xnnpack=options.get("xnnpack", True), device=self.device)  # fmt: skip

    def _chunk_command(self, cell, tool: str, graph: str, options: dict, first: bool) -> list[str]:
        """One chunk of a sustained run: about ``chunk_s`` seconds of inference."""
        p = self.protocol
        return tool_command(tool, cell.format, graph, cell.threads, runs=None, seconds=p.chunk_s,
                            max_secs=p.chunk_s * 4 + 10, warmup=p.warmup if first else 1,
                            xnnpack=options.get("xnnpack", True), device=self.device)  # fmt: skip

    def _sustained(self, cell, tool: str, graph: str, options: dict, cpus) -> Execution:
        """Chunks of the native tool back to back, the thermal status read after each."""
        from bench.measure.thermal import read_android_status

        tool_name = TOOLS[cell.format]
        start = time.monotonic()
        series, results = [], []
        while time.monotonic() - start < self.protocol.sustained_s:
            result, error = self._run_tool(self._chunk_command(cell, tool, graph, options, not results), tool_name)
            if error:
                return Execution(error=error)
            results.append(result)
            median = result.median_ms if result.median_ms is not None else result.mean_ms
            series.append({"t": round(time.monotonic() - start, 3), "n": result.count, "median_ms": median,
                           "status": read_android_status(self.transport)})  # fmt: skip
        count = sum(r.count for r in results)
        mean = sum(r.mean_ms * r.count for r in results) / count
        stats = {
            **tool_stats(results[0]),
            "n_samples": count,
            "mean_ms": mean,
            "median_ms": statistics.median(c["median_ms"] for c in series),
            "min_ms": min((r.min_ms for r in results if r.min_ms is not None), default=None),
            "max_ms": max((r.max_ms for r in results if r.max_ms is not None), default=None),
            "std_ms": None,
            "cv": None,
            "p90_ms": None,
            "p99_ms": None,
        }
        source = {"method": tool_name, "transport": self.transport.name, **tool_source(results[0])}
        source["notes"] = [
            *source["notes"],
            f"sustained: {len(results)} chunks; median_ms is the median of their medians",
        ]
        energy = EnergyResult.unavailable(self.meter.name, "not measured in sustained mode") if self.meter else None
        return Execution(
            stats=stats,
            init_ms=results[0].init_ms,
            first_ms=results[0].first_ms,
            peak_memory_mb=max((r.peak_memory_mb for r in results if r.peak_memory_mb is not None), default=None),
            versions={tool_name: "device binary"},
            cpus=cpus_of_mask(self.device.affinity),
            energy=energy,
            source=source,
            sustained=assess(series),
        )

    def _read(self) -> dict:
        """One raw reading of the meter's files on the device, in one shell call."""
        files = self.energy_spec.get("files", {})
        script = 'for f; do echo "==> $f"; cat "$f"; done'
        done = self.transport.run(["sh", "-c", script, "sh", *files.values()], timeout=60)
        return {"t": time.monotonic(), "values": dump_values(done.stdout, files)}

    def _metered(self, argv: list[str]):
        """Run ``argv`` with the meter read around it: (Completed, energy window, problem or None).

        A counter meter is read before and after. A sampled meter (the battery gauge) is sampled
        on the device every ``period_s`` by a shell loop started just before the command and
        stopped after it, with one more sample at the end; samples carry the device's uptime."""
        timeout = self.protocol.max_time + 600
        if not self.meter.sampled:
            before = self._read()
            done = self.transport.run(argv, timeout=timeout)
            return done, {"before": before, "after": self._read()}, None
        files = self.energy_spec.get("files", {})
        out = f"{self.transport.work_dir}/samples-{time.monotonic_ns()}.txt"
        period = f"{self.energy_spec.get('period_s', 0.1):g}"
        done = self.transport.run(["sh", "-c", SAMPLER, "sh", out, period, str(len(files)), *files.values(), *argv],
                                  timeout=timeout)  # fmt: skip
        text = self.transport.read_text(out) or ""
        self.transport.run(["rm", "-f", out], timeout=60)
        readings = parse_samples(text, files)
        if len(readings) < 2:
            return done, None, f"the device-side sampler recorded {len(readings)} complete samples"
        return done, {"before": readings[0], "samples": readings[1:-1], "after": readings[-1]}, None

    def _run_tool(self, argv: list[str], tool: str) -> tuple[ToolResult | None, str | None]:
        return self._parse_tool(self.transport.run(argv, timeout=self.protocol.max_time + 600), tool)

    def _parse_tool(self, done, tool: str) -> tuple[ToolResult | None, str | None]:
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            return None, f"{tool} exited with code {done.returncode}: {tail[:300]}"
        try:
            return PARSERS[tool](done.stdout), None
        except ToolOutputError as exc:
            return None, f"cannot parse {tool} output: {exc}"

    def execute(self, cell, artifact: Artifact, options: dict, cpus: list[int] | None) -> Execution:
        try:
            tool = self._tool(cell.format)
        except BenchError as exc:
            return Execution(error=str(exc))
        tool_name = TOOLS[cell.format]
        graph = self.transport.push_once(Path(artifact.path), artifact.sha256 or file_sha256(Path(artifact.path)))
        if self.protocol.sustained_s:
            return self._sustained(cell, tool, graph, options, cpus)
        measure_energy = self.meter is not None
        reason, session = "", False
        if measure_energy:
            try:
                self.meter.begin()
                session = True
            except MeterUnavailable as exc:
                measure_energy, reason = False, str(exc)
        try:
            energy = None
            full = self._command(cell, tool, graph, options, short=False)
            if measure_energy:
                done, short_window, problem = self._metered(self._command(cell, tool, graph, options, short=True))
                short, error = self._parse_tool(done, tool_name)
                if error:
                    return Execution(error=error)
                full = self._command(cell, tool, graph, options, short=False, estimate_ms=short.mean_ms)
                done, long_window, later = self._metered(full)
                problem = problem or later
            else:
                done = self.transport.run(full, timeout=self.protocol.max_time + 600)
            result, error = self._parse_tool(done, tool_name)
            if error:
                return Execution(error=error)
            if measure_energy:
                if not problem:
                    span = self.meter.time_of(long_window["after"]) - self.meter.time_of(long_window["before"])
                    _, idle, problem = self._metered(["sleep", f"{max(min(span, self.protocol.idle_max), 0.5):.2f}"])
                try:
                    session = False
                    self.meter.end()
                    energy = (
                        EnergyResult.unavailable(self.meter.name, problem)
                        if problem
                        else self.meter.differential_energy(
                            short_window, invocations(short), long_window, invocations(result), idle
                        )
                    )
                except MeterUnavailable as exc:
                    energy = EnergyResult.unavailable(self.meter.name, str(exc))
            elif self.meter is not None:
                energy = EnergyResult.unavailable(self.meter.name, reason)
        finally:
            if session:  # the cell failed half way: do not leave a trace running on the phone
                try:
                    self.meter.end()
                except Exception:  # noqa: BLE001, S110 - best effort clean-up of a failed cell
                    pass
        return Execution(
            stats=tool_stats(result),
            init_ms=result.init_ms,
            first_ms=result.first_ms,
            peak_memory_mb=result.peak_memory_mb,
            versions={tool_name: "device binary"},
            cpus=cpus_of_mask(self.device.affinity),
            energy=energy,
            source={"method": tool_name, "transport": self.transport.name, **tool_source(result)},
        )


# The device-side sampler of a sampled meter around a command: ``sh -c SAMPLER sh OUT PERIOD N
# FILE1..FILEN CMD...``. Each sample is "==> t" + /proc/uptime, then "==> FILE" + its content.
SAMPLER = (
    "out=$1; period=$2; n=$3; shift 3\n"
    'sample() { echo "==> t"; cat /proc/uptime; i=0; for f; do [ "$i" -ge "$n" ] && break; '
    'echo "==> $f"; cat "$f"; i=$((i + 1)); done; }\n'
    '( while :; do sample "$@"; sleep "$period"; done ) > "$out" 2>/dev/null &\n'
    "loop=$!\n"
    '( shift "$n"; exec "$@" ); rc=$?\n'
    'kill "$loop" 2>/dev/null; wait "$loop" 2>/dev/null\n'
    'sample "$@" >> "$out" 2>/dev/null\n'
    'exit "$rc"\n'
)


def dump_values(text: str, files: dict[str, str]) -> dict[str, str]:
    """``{name: content}`` from the ``==> FILE`` blocks the meter scripts print, one per file asked
    for, matched by position (the device may spell a path differently)."""
    contents: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("==> "):
            contents.append("")
        elif contents:
            contents[-1] += line
    return {name: contents[k] if k < len(contents) else "" for k, name in enumerate(files)}


def parse_samples(text: str, files: dict[str, str]) -> list[dict]:
    """The sampler's output as meter readings on the device's clock (``/proc/uptime`` seconds).
    A sample cut short when the loop was stopped (a file missing or empty) is dropped."""
    readings = []
    for block in text.split("==> t\n")[1:]:
        uptime, _, rest = block.partition("\n")
        values = {name: text.strip() for name, text in dump_values(rest, files).items()}
        try:
            t = float(uptime.split()[0])
        except (ValueError, IndexError):
            continue
        if all(values.values()):
            readings.append({"t": t, "values": values})
    return readings


def invocations(result: ToolResult) -> int:
    """Every inference the tool ran: warm-up (which includes the first) plus the timed runs;
    perf_test runs one untimed first inference before its timed ones."""
    if result.tool == "benchmark_model":
        return (result.warmup_count or 0) + result.count
    return result.count + 1


def tool_stats(result: ToolResult) -> dict:
    """The store's latency statistics from a tool's summary (what it did not report stays empty)."""
    median = result.median_ms if result.median_ms is not None else result.percentiles_ms.get("p50")
    return {
        "n_samples": result.count,
        "median_ms": median if median is not None else result.mean_ms,
        "mean_ms": result.mean_ms,
        "p90_ms": result.percentiles_ms.get("p90"),
        "p99_ms": result.percentiles_ms.get("p99"),
        "std_ms": result.std_ms,
        "cv": result.std_ms / result.mean_ms if result.std_ms is not None and result.mean_ms > 0 else None,
        "min_ms": result.min_ms,
        "max_ms": result.max_ms,
        "median_ci_low_ms": None,
        "median_ci_high_ms": None,
    }


def tool_source(result: ToolResult) -> dict:
    notes = [] if result.median_ms is not None else ["the tool reports no median: median_ms holds the mean"]
    notes.append("summary statistics from the tool; no per-inference samples")
    return {
        "tool_format": result.variant,
        "found": result.found,
        "delegation": result.delegation,
        "partially_delegated": result.partially_delegated,
        "warnings": result.warnings,
        "notes": notes,
    }


def runner_for(device, transport, protocol, meter, spec) -> Runner:
    cls = NativeToolRunner if device.transport == "adb" else AgentRunner
    return cls(device, transport, protocol, meter, spec)


__all__ = ["AgentRunner", "Artifact", "Execution", "NativeToolRunner", "TransportError", "runner_for"]
