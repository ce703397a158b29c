"""The measurement harness: plan cells, export what is missing, measure each cell in a fresh
agent process, and store every finished measurement immediately.

One cell = (model, format, precision, runtime, threads, repeat) on one device. Repeats are
interleaved: every cell's first repeat runs before any cell's second, so slow drift (thermal,
background load) spreads over all models instead of biasing one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import agent as agent_module
from bench.devices import Device
from bench.energy.base import EnergyMeter, EnergyResult, probe_host_meter
from bench.environment import fingerprint
from bench.errors import BenchError
from bench.protocol import Protocol
from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime
from bench.stats import summarize
from bench.store import Store
from bench.thermal import wait_until_settled

DIRECT_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}


@dataclass(frozen=True)
class Cell:
    model: str
    format: str
    precision: str
    runtime: str
    threads: int
    repeat: int = 0

    def key(self, device: str) -> tuple:
        return (self.model, self.format, self.precision, self.runtime, device, self.threads, self.repeat)

    def label(self) -> str:
        return f"{self.model} {self.format}/{self.precision} {self.runtime} x{self.threads}"


@dataclass
class SuiteResult:
    run_id: str
    rows: list[dict] = field(default_factory=list)
    skipped: int = 0

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]


def plan_cells(
    models: list[str],
    formats: list[str],
    precisions: list[str],
    runtimes: list[str] | None,
    threads: list[int],
    repeats: int = 1,
) -> list[Cell]:
    """Every combination that makes sense; interleaved by repeat."""
    for name in runtimes or []:
        get_runtime(name)
    base = []
    for model in models:
        direct = DIRECT_SUFFIXES.get(Path(model).suffix)
        for fmt in [direct] if direct else formats:
            chosen = [r for r in (runtimes or [DEFAULT_RUNTIME[fmt]]) if get_runtime(r).format == fmt]
            for precision in ["fp32"] if direct or fmt == "pytorch" else precisions:
                for runtime in chosen:
                    for t in threads:
                        base.append(Cell(model, fmt, precision, runtime, t))
    if not base:
        raise BenchError("nothing to run: no runtime matches the chosen formats (see `bench run --help`)")
    return [Cell(c.model, c.format, c.precision, c.runtime, c.threads, r) for r in range(repeats) for c in base]


def _macs(model: str) -> int | None:
    import models as zoo
    from bench.zoo import zoo_rows

    try:
        zoo.get_card(model)
    except KeyError:
        return None
    return int(round(zoo_rows([model])[0].macs_g * 1e9))


def _artifact(cell: Cell) -> tuple[str, str | None, tuple[int, ...], str | None]:
    """(path or zoo name, sha256, input shape, error) for the cell's artifact; exports when missing."""
    if cell.format == "pytorch":
        import models as zoo

        return cell.model, None, zoo.get_card(cell.model).input_shape, None
    if Path(cell.model).suffix in DIRECT_SUFFIXES:
        return _direct_file(cell.model)
    from export.pipeline import export_model
    from export.source import resolve

    spec = resolve(cell.model)
    artifact = export_model(spec, cell.format, cell.precision)
    if artifact.error:
        return "", None, spec.input_shape, f"export failed: {artifact.error}"
    return artifact.path, artifact.sha256, spec.input_shape, None


def _direct_file(path: str) -> tuple[str, str | None, tuple[int, ...], str | None]:
    """A user's .onnx / .tflite file: input shape read from the file itself."""
    from export.base import get_exporter
    from export.source import file_sha256

    file = Path(path)
    if not file.is_file():
        return path, None, (), f"model file not found: {file}"
    try:
        inputs, _ = get_exporter(DIRECT_SUFFIXES[file.suffix]).io_signature(file)
        shape = tuple(int(d) for d in inputs[0]["shape"])
    except Exception as exc:  # noqa: BLE001 - a corrupt file is a failed cell, not a crash
        return path, None, (), f"cannot read {file.name}: {type(exc).__name__}: {str(exc).strip()[:200]}"
    return str(file.resolve()), file_sha256(file), shape, None


def pinned_cpus(affinity: str | None, threads: int) -> list[int] | None:
    """CPUs the agent is pinned to: the profile's hex mask, else the last ``threads`` CPUs we may use.

    Pinning keeps the scheduler from moving the benchmark between cores and away from the
    harness process (which waits on the first CPU); None where affinity cannot be set.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if affinity:
        mask = int(affinity, 16)
        chosen = [cpu for cpu in allowed if mask >> cpu & 1]
        return chosen or None
    return allowed[-threads:] if threads < len(allowed) else None


def run_agent(job: dict, timeout: float) -> tuple[dict[str, dict], str]:
    """Run the agent on this machine; returns its events by name and its stderr tail."""
    proc = subprocess.run(
        [sys.executable, agent_module.__file__], input=json.dumps(job), capture_output=True, text=True, timeout=timeout
    )
    events = {}
    for line in proc.stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # runtimes print banners on stdout (e.g. XNNPACK)
        if isinstance(event, dict) and "event" in event:
            events[event["event"]] = event
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    if "done" not in events and "error" not in events:
        events["error"] = {"stage": "agent", "message": f"agent exited with code {proc.returncode}: {tail[:300]}"}
    return events, tail


class Harness:
    def __init__(
        self,
        device: Device,
        store: Store,
        protocol: Protocol,
        rapl_root: str | None = None,
        thermal_root: str | None = None,
        options: dict[str, str] | None = None,
    ):
        self.device = device
        self.store = store
        self.protocol = protocol
        if device.transport != "local":
            raise BenchError(
                f"device '{device.name}' uses the {device.transport} transport, which this version of "
                "bench cannot drive yet; run on a local device (e.g. --device host)"
            )
        self.thermal_root = thermal_root or device.thermal_root
        self.option_overrides = options or {}
        self.meter: EnergyMeter | None
        self.meter, self.energy_spec, self.energy_note = probe_host_meter(rapl_root or device.rapl_root)

    def options(self, runtime: str) -> dict:
        return get_runtime(runtime).with_options(self.option_overrides)

    def measure(self, cell: Cell) -> tuple[dict, list[float] | None]:
        """Measure one cell; never raises for a failure of the cell itself."""
        started = time.time()
        row = {
            "model": cell.model,
            "format": cell.format,
            "precision": cell.precision,
            "runtime": cell.runtime,
            "device": self.device.name,
            "threads": cell.threads,
            "repeat": cell.repeat,
            "status": "failed",
            "settings": {**asdict(self.protocol), "options": self.options(cell.runtime)},
            "started_at": started,
        }
        reason = get_runtime(cell.runtime).unavailable_reason()
        path, sha, shape, error = ("", None, (), reason) if reason else _artifact(cell)
        row["artifact_sha256"] = sha
        if error:
            return {**row, "error": error, "ended_at": time.time()}, None
        thermal = wait_until_settled(self.thermal_root, self.device.thermal_limit_c, self.device.thermal_max_wait_s)
        row["thermal"] = thermal.to_dict()
        p = self.protocol
        job = {
            "runtime": cell.runtime,
            "artifact": path,
            "threads": cell.threads,
            "input_shape": list(shape),
            "warmup": p.warmup,
            "min_runs": p.min_runs,
            "min_time": p.min_time,
            "max_runs": p.max_runs,
            "max_time": p.max_time,
            "ci_target": p.ci_target,
            "idle_max": p.idle_max,
            "options": self.options(cell.runtime),
            "cpus": pinned_cpus(self.device.affinity, cell.threads),
            "energy": self.energy_spec,
            "python_path": [str(Path(__file__).resolve().parents[1])],
        }
        try:
            events, _ = run_agent(job, timeout=p.max_time + p.idle_max + 600)
        except subprocess.TimeoutExpired:
            return {**row, "error": "agent timed out", "ended_at": time.time()}, None
        row["ended_at"] = time.time()
        row["settings"]["cpus"] = events.get("hello", {}).get("cpus")
        if "error" in events:
            e = events["error"]
            return {**row, "error": f"{e['stage']}: {e['message']}"}, None
        samples = events["samples"]["ms"]
        stats = summarize(samples)
        macs = _macs(cell.model)
        energy = self._energy(events)
        row.update(
            status="ok",
            error=None,
            **stats.to_dict(),
            init_ms=events["init"]["init_ms"],
            first_ms=events["first"]["first_ms"],
            peak_memory_mb=events["done"]["peak_rss_mb"],
            runtime_versions=events["init"].get("versions"),
            macs=macs,
            gflops_per_s=2 * macs / (stats.median_ms / 1e3) / 1e9 if macs else None,
            energy_mj_per_inference=energy.mj_per_inference,
            energy_note=energy.note,
            energy={k: v for k, v in asdict(energy).items() if k not in ("mj_per_inference", "note")},
        )
        return row, samples

    def _energy(self, events: dict) -> EnergyResult:
        if self.meter is None:
            return EnergyResult.unavailable("none", self.energy_note)
        window, idle = events["window"].get("energy"), events.get("idle", {}).get("energy")
        if not window or not idle:
            return EnergyResult.unavailable(self.meter.name, "the agent returned no counter readings")
        return self.meter.energy_per_inference(window, idle, events["window"]["n"])

    def run(
        self,
        cells: list[Cell],
        resume: bool = False,
        argv: str = "",
        on_cell: Callable[[Cell, dict | None], None] | None = None,
    ) -> SuiteResult:
        """Measure ``cells`` (or, with ``resume``, what the last unfinished run still lacks)."""
        if resume:
            previous = self.store.resumable_run(self.device.name)
            if previous is None:
                raise BenchError(f"nothing to resume: no unfinished run on device '{self.device.name}'")
            run_id = previous["run_id"]
            cells = [Cell(**c) for c in previous["plan"]]
            done = self.store.done_cells(run_id)
        else:
            run_id = self.store.start_run(self.device.name, fingerprint(), [asdict(c) for c in cells], argv)
            done = set()
        result = SuiteResult(run_id)
        try:
            for i, cell in enumerate(cells):
                if cell.key(self.device.name) in done:
                    result.skipped += 1
                    if on_cell:
                        on_cell(cell, None)
                    continue
                if i and self.protocol.cooldown:
                    time.sleep(self.protocol.cooldown)
                row, samples = self.measure(cell)
                row["run_id"] = run_id
                row["id"] = self.store.add_measurement(row, samples)
                result.rows.append(row)
                if on_cell:
                    on_cell(cell, row)
        except KeyboardInterrupt:
            self.store.finish_run(run_id, "interrupted")
            raise
        self.store.finish_run(run_id, "finished")
        return result
