"""The native-tool runner: phones (Android over adb), where there is no Python for the agent.

It pushes the runtime's own benchmark tool (``benchmark_model`` for TFLite, ``onnxruntime_perf_test``
for ONNX) and the model file, runs it pinned with ``taskset``, and parses its text output. Those
tools print summary statistics, not per-inference samples, so these measurements carry the
tool's statistics and no samples.

Energy with a native tool: the tool's run includes loading the model and warm-up, which we cannot
separate from the timed runs by reading counters around the process. So the tool runs twice, a
short run (1 timed inference) and the full run, with the same deterministic warm-up, counters
read around each; the difference of the two idle-subtracted energies divided by the difference
of their inference counts is the energy of one inference, with loading and warm-up cancelled.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.accelerators.coverage import assess_outputs, not_checked
from bench.devices.energy.base import EnergyResult, MeterUnavailable
from bench.devices.transports.base import Completed, Transport
from bench.digest import file_sha256
from bench.errors import BenchError, one_line
from bench.measure.runners.base import CellRunner, Execution, Workload, cpus_of_mask, register_runner
from bench.measure.runners.device_sampler import metered_run, split_cpu_readings, with_cpu_readings
from bench.measure.runners.native_tools import pinned, push_tool, tool_command, tool_inputs
from bench.measure.runners.tool_results import invocations, tool_source, tool_stats
from bench.measure.stats import median_of
from bench.measure.sustained import assess
from bench.parsers.inference_diff import parse_inference_diff
from bench.parsers.tool_output import PARSERS, ToolFailed, ToolOutputError, ToolResult
from bench.runtimes.base import get_runtime


@register_runner
class NativeToolRunner(CellRunner):
    """benchmark_model / onnxruntime_perf_test on the device, energy by the two-run differential."""

    kind = "native"
    uses_native_tool = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tools: dict[str, str] = {}
        self._accelerator: tuple[str, ...] = ()  # the cell's accelerator flags (Serving.tool_flags)

    def _tool(self, runtime: str) -> str:
        if runtime not in self._tools:
            self._tools[runtime] = push_tool(self.device, self.transport, runtime)
        return self._tools[runtime]

    def _command(
        self, cell, tool: str, graph: str, options: dict, short: bool, estimate_ms: float = 0, inputs: tuple = ()
    ) -> list[str]:
        """The timed run (``short``: the 1-inference run of the energy differential); ``estimate_ms``
        (from the short run) lets a tool that takes a count or a duration, not both, size the count
        to last at least ``min_time``."""
        p = self.protocol
        return tool_command(cell.runtime, tool, graph, cell.threads, runs=1 if short else p.min_runs,
                            seconds=0 if short else p.min_time, max_secs=p.max_time, warmup=p.warmup,
                            options=options, estimate_ms=estimate_ms, device=self.device, inputs=inputs,
                            accelerator=self._accelerator)  # fmt: skip

    def _chunk_command(self, cell, tool: str, graph: str, options: dict, first: bool, inputs: tuple = ()) -> list[str]:
        """One chunk of a sustained run: about ``chunk_s`` seconds of inference."""
        p = self.protocol
        return tool_command(cell.runtime, tool, graph, cell.threads, runs=None, seconds=p.chunk_s,
                            max_secs=p.chunk_s * 4 + 10, warmup=p.warmup if first else 1,
                            options=options, device=self.device, inputs=inputs,
                            accelerator=self._accelerator)  # fmt: skip

    def _sustained(self, cell, tool: str, graph: str, options: dict, cpus, inputs: tuple = ()) -> Execution:
        """Chunks of the native tool back to back, the device's thermal reading taken after each."""
        tool_name = get_runtime(cell.runtime).native_tool
        start = time.monotonic()
        series, results = [], []
        while time.monotonic() - start < self.protocol.sustained_s:
            result, error = self._run_tool(
                self._chunk_command(cell, tool, graph, options, not results, inputs), tool_name
            )
            if error:
                return Execution(error=error)
            results.append(result)
            median = result.median_ms if result.median_ms is not None else result.mean_ms
            series.append({"t": round(time.monotonic() - start, 3), "n": result.count, "median_ms": median,
                           **self.transport.thermal_now()})  # fmt: skip
        count = sum(r.count for r in results)
        mean = sum(r.mean_ms * r.count for r in results) / count
        stats = {
            **tool_stats(results[0]),
            "n_samples": count,
            "mean_ms": mean,
            "median_ms": median_of(c["median_ms"] for c in series),
            "min_ms": min((r.min_ms for r in results if r.min_ms is not None), default=None),
            "max_ms": max((r.max_ms for r in results if r.max_ms is not None), default=None),
            "std_ms": None,
            "cv": None,
            "p90_ms": None,
            "p95_ms": None,
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

    def _metered(self, argv: list[str]) -> tuple[Completed, dict | None, str | None]:
        return metered_run(self.transport, self.meter, self.energy_spec, argv, self.protocol.max_time + 600)

    def _run_tool(self, argv: list[str], tool: str) -> tuple[ToolResult | None, str | None]:
        return self._parse_tool(self.transport.run(argv, timeout=self.protocol.max_time + 600), tool)

    def _parse_tool(self, done: Completed, tool: str) -> tuple[ToolResult | None, str | None]:
        if done.returncode != 0:
            try:  # the tool's own reason ("Failed to ...", "Benchmarking failed.") where it printed one
                PARSERS[tool](f"{done.stdout or ''}\n{done.stderr or ''}")
            except ToolFailed as exc:
                return None, f"{tool} failed (exit code {done.returncode}): {exc.reason}"
            except ToolOutputError:
                pass
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            return None, f"{tool} exited with code {done.returncode}: {one_line(tail, 300)}"
        try:
            return PARSERS[tool](done.stdout), None
        except ToolFailed as exc:
            return None, f"{tool} failed: {exc.reason}"
        except ToolOutputError as exc:
            return None, f"cannot parse {tool} output: {exc}"

    def execute(self, cell, workload: Workload, options: dict, cpus: list[int] | None, serving=None) -> Execution:
        self._accelerator = serving.tool_flags if serving is not None else ()
        try:
            tool = self._tool(cell.runtime)
        except BenchError as exc:
            return Execution(error=str(exc))
        tool_name = get_runtime(cell.runtime).native_tool
        graph = self.transport.push_once(Path(workload.path), workload.sha256 or file_sha256(Path(workload.path)))
        inputs = tool_inputs(workload)
        if self.protocol.sustained_s:
            return self._sustained(cell, tool, graph, options, cpus, inputs)
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
            full = self._command(cell, tool, graph, options, short=False, inputs=inputs)
            if not measure_energy and self.protocol.min_time > 0 and get_runtime(cell.runtime).tool_needs_estimate:
                # a tool that takes a count or a duration: its count is sized to last --min-time from
                # the median latency of a short run of a fifth of it (0.1-1 s; one inference misjudges
                # a busy device by 2x; a stall in the short run moves its mean, not its median), or
                # its mean where the tool prints no median
                p = self.protocol
                probe = tool_command(cell.runtime, tool, graph, cell.threads, runs=None,
                                     seconds=min(max(p.min_time / 5, 0.1), 1.0), max_secs=p.max_time,
                                     warmup=p.warmup, options=options, device=self.device, inputs=inputs,
                                     accelerator=self._accelerator)  # fmt: skip
                done = self.transport.run(probe, timeout=p.max_time + 600)
                short, error = self._parse_tool(done, tool_name)
                if error:
                    return Execution(error=error)
                estimate = short.median_ms or short.mean_ms
                full = self._command(cell, tool, graph, options, short=False, estimate_ms=estimate, inputs=inputs)
            if measure_energy:
                short_run = self._command(cell, tool, graph, options, short=True, inputs=inputs)
                done, short_window, problem = self._metered(short_run)
                short, error = self._parse_tool(done, tool_name)
                if error:
                    return Execution(error=error)
                full = self._command(cell, tool, graph, options, short=False, estimate_ms=short.mean_ms, inputs=inputs)
                done, long_window, later = self._metered(with_cpu_readings(full))
                problem = problem or later
            else:
                done = self.transport.run(with_cpu_readings(full), timeout=self.protocol.max_time + 600)
            done, seen, unseen = split_cpu_readings(done, cpus_of_mask(self.device.affinity))
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
        source = {"method": tool_name, "transport": self.transport.name, **tool_source(result)}
        if unseen:
            source["notes"] = [*source["notes"], f"contention not read: {unseen}"]
        if serving is not None and serving.reports_as is not None:
            source["output_check"] = self._output_check(cell, graph, serving)
        return Execution(
            stats=tool_stats(result),
            init_ms=result.init_ms,
            first_ms=result.first_ms,
            peak_memory_mb=result.peak_memory_mb,
            versions={tool_name: "device binary"},
            cpus=cpus_of_mask(self.device.affinity),
            energy=energy,
            source=source,
            contention=seen,
        )

    def _output_check(self, cell, graph: str, serving) -> dict:
        """The accelerator's outputs against the CPU reference's, by TFLite's ``inference_diff`` tool
        when the profile names it (``[runtimes] inference_diff``), on 50 random inputs; or why not."""
        if not serving.inference_diff:
            return not_checked(
                f"{cell.runtime}'s native tool cannot compare {cell.accelerator}'s outputs with the CPU's"
            )
        local = self.device.tools.get("inference_diff")
        if not local:
            return not_checked(
                "no inference_diff in the device profile ([runtimes] inference_diff = TFLite's run_eval)"
            )
        source = Path(local).expanduser()
        if not source.is_file():
            return not_checked(f"inference_diff not found at {source}")
        remote = self.transport.push_once(source, file_sha256(source))
        self.transport.run(["chmod", "755", remote], timeout=60).check("chmod inference_diff")
        argv = [remote, f"--model_file={graph}", f"--delegate={serving.inference_diff}", "--num_runs=50"]
        done = self.transport.run(["sh", "-c", 'exec "$@" 2>&1', "sh", *pinned(self.device, argv)], timeout=900)
        try:
            return assess_outputs(parse_inference_diff(done.stdout).to_dict())
        except ToolOutputError as exc:
            return {"status": "failed", "why": f"inference_diff: {exc}"}

    @classmethod
    def probe(cls, device, transport: Transport) -> tuple[list[tuple[str, str]], bool]:
        """Per runtime the profile offers that has a native tool, whether the profile's
        ``[runtimes]`` table names that tool as an existing file on this machine."""
        rows = []
        for runtime in device.runtimes:
            tool = get_runtime(runtime).native_tool
            if tool is None:
                continue
            local = device.tools.get(tool)
            if not local:
                rows.append((f"runtime {runtime}", f"missing: set [runtimes] {tool} = PATH in {device.path}"))
            elif not Path(local).expanduser().is_file():
                rows.append((f"runtime {runtime}", f"missing: {tool} not found at {local}"))
            else:
                rows.append((f"runtime {runtime}", f"ok ({tool} {local})"))
        return rows, True
