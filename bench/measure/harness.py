"""The measurement harness: plan cells, export what is missing, measure each cell in a fresh
agent process, and store every finished measurement immediately.

One cell = (model, format, precision, runtime, threads, repeat) on one device. Repeats are
interleaved: every cell's first repeat runs before any cell's second, so slow drift (thermal,
background load) spreads over all models instead of biasing one.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.devices.config import Device
from bench.devices.energy.base import EnergyMeter, EnergyResult, MeterUnavailable, probe_meter
from bench.devices.transports.base import DeviceLost, TransportError, open_transport
from bench.errors import BenchError
from bench.measure.environment import fingerprint
from bench.measure.protocol import Protocol
from bench.measure.runners import Artifact, cpus_of_mask, runner_for
from bench.measure.thermal import ThermalRecord, wait_for_android_status, wait_until_settled
from bench.results.store import Store
from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime

RETRY_DELAY_S = 2.0
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
    planned: int = 0
    lost: str | None = None  # why the device was lost, if it was

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
    device: Device | None = None,
) -> list[Cell]:
    """Every combination that makes sense on ``device``; interleaved by repeat."""
    offered = device.runtimes if device else tuple(DEFAULT_RUNTIME.values())
    for name in runtimes or []:
        get_runtime(name)
        if name not in offered:
            raise BenchError(
                f"device '{device.name}' offers {', '.join(offered)}, not {name} (its profile: [runtimes])"
            )

    def default_for(fmt: str) -> list[str]:
        if DEFAULT_RUNTIME[fmt] in offered:
            return [DEFAULT_RUNTIME[fmt]]
        return [r for r in offered if get_runtime(r).format == fmt][:1]

    base = []
    for model in models:
        direct = DIRECT_SUFFIXES.get(Path(model).suffix)
        for fmt in [direct] if direct else formats:
            chosen = [r for r in (runtimes or default_for(fmt)) if get_runtime(r).format == fmt]
            for precision in ["fp32"] if direct or fmt == "pytorch" else precisions:
                for runtime in chosen:
                    for t in threads:
                        base.append(Cell(model, fmt, precision, runtime, t))
    if not base:
        where = f" on device '{device.name}' (it offers {', '.join(offered)})" if device else ""
        raise BenchError(f"nothing to run: no runtime matches the chosen formats{where} (see `bench run --help`)")
    return [Cell(c.model, c.format, c.precision, c.runtime, c.threads, r) for r in range(repeats) for c in base]


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


def prepare_artifact(cell: Cell) -> tuple[Artifact | None, str | None]:
    """The cell's artifact (exported when missing), or why there is none."""
    path, sha, shape, error = _artifact(cell)
    return (None, error) if error else (Artifact(path, sha, shape), None)


def failed_row(cell: Cell, device: str, protocol: Protocol, reason: str) -> dict:
    """A stored failure for a cell that never ran (or whose result was lost)."""
    now = time.time()
    return {
        "model": cell.model,
        "format": cell.format,
        "precision": cell.precision,
        "runtime": cell.runtime,
        "device": device,
        "threads": cell.threads,
        "repeat": cell.repeat,
        "status": "failed",
        "settings": asdict(protocol),
        "error": reason,
        "started_at": now,
        "ended_at": now,
    }


def _direct_file(path: str) -> tuple[str, str | None, tuple[int, ...], str | None]:
    """A user's .onnx / .tflite file: input shape read from the file itself."""
    from bench.digest import file_sha256
    from export.base import get_exporter

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


class Harness:
    """Measure cells on one device and store each finished measurement at once.

    The device's transport reaches it (local, ssh, adb); its runner executes a cell (the agent,
    or a phone's native benchmark tool); its energy meter is probed on the device itself.
    """

    def __init__(
        self,
        device: Device,
        store: Store,
        protocol: Protocol,
        rapl_root: str | None = None,
        thermal_root: str | None = None,
        options: dict[str, str] | None = None,
        meter_root: str | None = None,
    ):
        self.device = device
        self.store = store
        self.protocol = protocol
        self.transport = open_transport(device)
        self.transport.connect()
        self.thermal_root = thermal_root or device.thermal_root
        self.option_overrides = options or {}
        self.meter: EnergyMeter | None
        try:
            root = meter_root or device.energy_root or None
            if root is None and device.energy_meter in ("auto", "rapl"):
                root = rapl_root or device.rapl_root
            self.meter, spec, self.energy_note = probe_meter(device.energy_meter, self.transport, root, device.rails)
        except MeterUnavailable as exc:
            raise BenchError(f"{device.path or device.name}: {exc}") from None
        self.runner = runner_for(device, self.transport, protocol, self.meter, spec)
        self.lost: str | None = None

    def options(self, runtime: str) -> dict:
        return get_runtime(runtime).with_options(self.option_overrides)

    def thermal(self) -> ThermalRecord:
        d = self.device
        if d.transport == "adb":
            return wait_for_android_status(self.transport, d.thermal_limit_status, d.thermal_max_wait_s)
        return wait_until_settled(self.thermal_root, d.thermal_limit_c, d.thermal_max_wait_s, files=self.transport)

    def measure(self, cell: Cell, artifact: Artifact | None = None) -> tuple[dict, list[float] | None]:
        """Measure one cell; never raises for a failure of the cell itself (a lost device raises).
        ``artifact``: already exported (the farm ships it); else exported here when missing."""
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
        local = self.device.transport == "local"
        reason = get_runtime(cell.runtime).unavailable_reason() if local else None
        if cell.runtime not in self.device.runtimes:
            reason = f"device '{self.device.name}' offers {', '.join(self.device.runtimes)}, not {cell.runtime}"
        if reason:
            path, sha, shape, error = "", None, (), reason
        elif artifact is not None:
            path, sha, shape, error = artifact.path, artifact.sha256, artifact.input_shape, None
        else:
            path, sha, shape, error = _artifact(cell)
        row["artifact_sha256"] = sha
        if error:
            return {**row, "error": error, "ended_at": time.time()}, None
        row["thermal"] = self.thermal().to_dict()
        cpus = pinned_cpus(self.device.affinity, cell.threads) if local else cpus_of_mask(self.device.affinity)
        try:
            result = self.runner.execute(cell, Artifact(path, sha, shape), self.options(cell.runtime), cpus)
        except subprocess.TimeoutExpired:
            return {**row, "error": "timed out on the device", "ended_at": time.time()}, None
        except DeviceLost:
            raise
        except TransportError as exc:
            return {**row, "error": str(exc), "ended_at": time.time()}, None
        row["ended_at"] = time.time()
        row["settings"]["cpus"] = result.cpus
        if result.sustained is not None:
            row["thermal"] = {**row["thermal"], "sustained": result.sustained}
        row["source"] = result.source or None
        if result.error:
            return {**row, "error": result.error, "source": result.source or None}, None
        from bench.zoo import macs_of  # imports the zoo (torch): only once a cell succeeded

        macs = macs_of(cell.model)
        median = result.stats["median_ms"]
        energy = result.energy or EnergyResult.unavailable("none", self.energy_note)
        row.update(
            status="ok",
            error=None,
            **result.stats,
            init_ms=result.init_ms,
            first_ms=result.first_ms,
            peak_memory_mb=result.peak_memory_mb,
            runtime_versions=result.versions,
            macs=macs,
            gflops_per_s=2 * macs / (median / 1e3) / 1e9 if macs and median else None,
            energy_mj_per_inference=energy.mj_per_inference,
            energy_note=energy.note,
            energy={k: v for k, v in asdict(energy).items() if k not in ("mj_per_inference", "note")},
        )
        return row, result.samples

    def _measure_with_retry(self, cell: Cell) -> tuple[dict, list[float] | None]:
        """One retry after the link to the device broke; then the cell fails and the device is lost."""
        try:
            return self.measure(cell)
        except DeviceLost as first:
            time.sleep(RETRY_DELAY_S)
            try:
                self.transport.reconnect()
                return self.measure(cell)
            except (DeviceLost, TransportError) as again:
                self.lost = f"{again} (after a retry; first failure: {first})"
                return failed_row(cell, self.device.name, self.protocol, f"device lost: {again}"), None

    def run(
        self,
        cells: list[Cell],
        resume: bool = False,
        argv: str = "",
        on_cell: Callable[[Cell, dict | None], None] | None = None,
    ) -> SuiteResult:
        """Measure ``cells`` (or, with ``resume``, what the last unfinished run still lacks).

        If the device is lost (even after one retry), the suite stops: finished cells stay
        stored, the run is left resumable, and ``SuiteResult.lost`` says why.
        """
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
        result = SuiteResult(run_id, planned=len(cells))
        try:
            self._prepare_device()
            for i, cell in enumerate(cells):
                if cell.key(self.device.name) in done:
                    result.skipped += 1
                    if on_cell:
                        on_cell(cell, None)
                    continue
                if i and self.protocol.cooldown:
                    time.sleep(self.protocol.cooldown)
                row, samples = self._measure_with_retry(cell)
                row["run_id"] = run_id
                row["id"] = self.store.add_measurement(row, samples)
                result.rows.append(row)
                if on_cell:
                    on_cell(cell, row)
                if self.lost:
                    result.lost = self.lost
                    self.store.finish_run(run_id, "device-lost")
                    return result
        except KeyboardInterrupt:
            self.store.finish_run(run_id, "interrupted")
            raise
        finally:
            self._restore_device()
            self.transport.close()
        self.store.finish_run(run_id, "finished")
        return result

    def _prepare_device(self) -> None:
        if self.device.fixed_performance and self.device.transport == "adb":
            self.transport.run(["cmd", "power", "set-fixed-performance-mode-enabled", "true"], timeout=30)

    def _restore_device(self) -> None:
        if self.device.fixed_performance and self.device.transport == "adb" and not self.lost:
            try:
                self.transport.run(["cmd", "power", "set-fixed-performance-mode-enabled", "false"], timeout=30)
            except TransportError:
                pass
