"""The measurement harness: plan cells, export what is missing, measure each cell in a fresh
agent process, and store every finished measurement immediately.

One cell (``bench.measure.measurement.Cell``) = (model, format, precision, runtime, threads,
repeat) on one device; each measures into a ``Measurement``. Repeats are
interleaved: every cell's first repeat runs before any cell's second, so slow drift (thermal,
background load) spreads over all models instead of biasing one.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.accelerators.base import DEFAULT as DEFAULT_ACCELERATOR
from bench.accelerators.base import Delegation, Serving, get_accelerator, serves, serving_for, split_spec
from bench.accelerators.coverage import judge
from bench.devices.config import Device
from bench.devices.energy.base import EnergyMeter, EnergyResult, MeterUnavailable, probe_meter
from bench.devices.transports.base import DeviceLost, TransportError, open_transport
from bench.errors import BenchError
from bench.measure.environment import fingerprint
from bench.measure.measurement import Cell, Measurement, MeasurementList
from bench.measure.protocol import Protocol
from bench.measure.runners import Workload, cpus_of_mask, runner_for
from bench.measure.stats import LatencyStats
from bench.measure.thermal import ThermalRecord
from bench.results.store import Store
from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime
from export.reference import is_model_file, model_file_format

RETRY_DELAY_S = 2.0


@dataclass
class SuiteResult(MeasurementList):
    """What a suite did: its stored run, the measurements it stored (in order), cells skipped
    because a resumed run had them already, and why the device was lost, if it was."""

    run_id: str
    measurements: list[Measurement] = field(default_factory=list)
    skipped: int = 0
    planned: int = 0
    lost: str | None = None  # why the device was lost, if it was


def plan_cells(
    models: list[str],
    formats: list[str],
    precisions: list[str],
    runtimes: list[str] | None,
    threads: list[int],
    repeats: int = 1,
    device: Device | None = None,
    accelerators: list[str] | None = None,
) -> list[Cell]:
    """Every combination that makes sense on ``device``; interleaved by repeat. ``models``: model
    references (:mod:`export.reference`), each a cell's model as it is. A model file (``.onnx``,
    ``.tflite``, ``.mlpackage``) runs as what it is: its format and its precision read from the file,
    whatever ``formats`` and ``precisions`` say (the CLI refuses a contradiction first).

    ``accelerators``: accelerator specs (default: the CPU); each runs on the planned runtimes it
    serves. BenchError for an accelerator the device's profile does not list (with the list), or
    one that serves none of the planned runtimes."""
    accelerators = accelerators or [DEFAULT_ACCELERATOR]
    if device is not None:
        for spec in accelerators:
            check_device_has(device, spec)
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
        direct = model_file_format(model) if is_model_file(model) else None
        for fmt in [direct] if direct else formats:
            chosen = [r for r in (runtimes or default_for(fmt)) if get_runtime(r).format == fmt]
            for precision in [_file_precision(model)] if direct else ["fp32"] if fmt == "pytorch" else precisions:
                for runtime in chosen:
                    for t in threads:
                        base.append(Cell(model, fmt, precision, runtime, t))
    if not base:
        where = f" on device '{device.name}' (it offers {', '.join(offered)})" if device else ""
        raise BenchError(f"nothing to run: no runtime matches the chosen formats{where} (see `bench run --help`)")
    planned = sorted({c.runtime for c in base})
    for spec in accelerators:
        if not any(serves(spec, runtime) for runtime in planned):
            accelerator, _ = get_accelerator(spec)
            raise BenchError(
                f"accelerator {spec} runs on {', '.join(accelerator.serves)}; this run's runtimes are "
                f"{', '.join(planned)} (choose them with --runtime / --format)"
            )
    unserved = sorted({(c.runtime, c.format) for c in base if not any(serves(a, c.runtime) for a in accelerators)})
    if unserved:  # never drop cells silently: say which runtime no chosen accelerator runs
        runtime, fmt = unserved[0]
        raise BenchError(
            f"no chosen accelerator ({', '.join(accelerators)}) runs {runtime}, so the {fmt} cells would not be "
            f"measured: add cpu to --accelerator, or leave {fmt} out (--format, -m)"
        )
    crossed = [replace(c, accelerator=spec) for c in base for spec in accelerators if serves(spec, c.runtime)]
    return [replace(c, repeat=r) for r in range(repeats) for c in crossed]


ON_CONTENTION = ("retry", "warn", "fail")
# A timed window is contended when other processes took more than this share of the measured CPUs'
# time, or a VM's host stole more than STEAL_SHARE of it. Measured (benchmarks/contention.py, MobileNetV2,
# this 2-core machine): a co-runner with a 30% duty cycle on the measured CPU took 16% of it and made
# the median 12% slower, one with 10% took 6% (no slowdown), quiet runs 0%, a co-runner on the other
# CPU 0-1%; at the first limit tried, 20%, the 30% co-runner went unflagged.
CONTENDED_SHARE = 0.10
STEAL_SHARE = 0.05


def assess_contention(seen: dict | None) -> dict | None:
    """The agent's contention reading (``others_share``, ``steal_share``, ``load1``, ``cpus``) with the
    verdict: ``contended`` when others took more than :data:`CONTENDED_SHARE` of the measured CPUs or
    steal exceeded :data:`STEAL_SHARE`. None when the device could not say (no ``/proc/stat``,
    native tools)."""
    if not seen:
        return None
    contended = seen.get("others_share", 0) > CONTENDED_SHARE or seen.get("steal_share", 0) > STEAL_SHARE
    return {**seen, "contended": contended, "limits": {"others_share": CONTENDED_SHARE, "steal_share": STEAL_SHARE}}


def contended_reason(seen: dict) -> str:
    """Why a contended cell was failed (``--on-contention fail``)."""
    return (
        f"contended: other processes took {seen.get('others_share', 0):.0%} of the measured CPUs' time "
        f"(steal {seen.get('steal_share', 0):.0%}, load {seen.get('load1') or 0:.1f}); the numbers are not stored"
    )


def check_device_has(device: Device, spec: str) -> None:
    """BenchError unless ``device``'s profile lists accelerator ``spec``: listed exactly, or by its
    name alone when it has no variant (``nnapi`` is on a device that lists ``nnapi:google-edgetpu``:
    NNAPI picks the devices; ``nnapi:NAME`` needs that name or a bare ``nnapi`` listed)."""
    name, variant = split_spec(spec)
    get_accelerator(spec)
    listed = device.accelerators
    if (
        spec in listed
        or (not variant and any(split_spec(a)[0] == name for a in listed))
        or (variant and name in listed)
    ):
        return
    raise BenchError(
        f"device '{device.name}' has no accelerator {spec}; its profile lists {', '.join(listed)} "
        "([accelerators] available)"
    )


def _file_precision(path: str) -> str:
    """The precision of a user's model file, read from its weights ("unknown" when it cannot be read:
    its cell fails with the reason)."""
    from export.base import read_model_file

    return read_model_file(path)[1] or "unknown"


def prepare_workload(cell: Cell) -> tuple[Workload | None, str | None]:
    """What the cell runs (its artifact, exported when missing; a zoo name for eager PyTorch; a
    user's model file as it is), or why there is nothing to run.

    ``cell.model`` is a model reference (:mod:`export.reference`) that names everything the artifact
    is built from (a user's factory with its arguments, input shape and weights), so a farm client
    and a resumed run prepare the same workload from the cell alone. A reference that no longer
    loads (a file gone, its factory failing) is the cell's failure, with the reason."""
    from export.reference import Inputs, parse_reference

    if is_model_file(cell.model):
        return _direct_file(cell.model)
    try:
        if cell.format == "pytorch":
            import models as zoo

            ref = parse_reference(cell.model)
            if ref.is_user:
                return None, "format pytorch (eager) measures zoo models; measure file.py:factory models as onnx"
            return Workload(ref.target, None, ref.inputs or Inputs.of_shape(zoo.get_card(ref.target).input_shape)), None
        from export.pipeline import export_model
        from export.source import resolve

        spec = resolve(cell.model)
        artifact = export_model(spec, cell.format, cell.precision)
    except BenchError as exc:
        return None, str(exc)
    if artifact.error:
        return None, f"export failed: {artifact.error}"
    if not artifact.ok:  # a wrong artifact is never measured as the model, nor one that was not checked
        v = artifact.verification
        state = "does not match PyTorch" if v.passed is False else "was neither verified nor checked"
        return None, (
            f"the export {state}: {v.reason}; see `bench export` (--input-range/--inputs), or run the file it wrote"
        )
    return Workload.of_artifact(artifact, spec.inputs), None


def failed_measurement(cell: Cell, device: str, protocol: Protocol, reason: str) -> Measurement:
    """A failure to store for ``cell`` on ``device`` that never ran (or whose result was lost)."""
    now = time.time()
    return Measurement.failed(cell.on(device), asdict(protocol), reason, started_at=now, ended_at=now)


def _direct_file(path: str) -> tuple[Workload | None, str | None]:
    """A user's .onnx / .tflite file (.mlpackage folder): its inputs' names, shapes and element
    types read from the file itself."""
    from bench.digest import path_sha256
    from export.base import declared_dtype, get_exporter
    from export.reference import Inputs, TensorSpec

    file = Path(path)
    if not file.exists():
        return None, f"model file not found: {file}"
    try:
        declared, _ = get_exporter(model_file_format(file)).io_signature(file)
    except Exception as exc:  # noqa: BLE001 - a corrupt file is a failed cell, not a crash
        return None, f"cannot read {file.name}: {type(exc).__name__}: {str(exc).strip()[:200]}"
    tensors = []
    for i in declared:
        shape = _fixed_shape(i["shape"])
        if shape is None:
            shown = ",".join(str(d) for d in i["shape"])
            return None, (
                f"{file.name}: input {i['name']} has dynamic dimensions ({shown}) besides the batch; "
                "measure a file exported with fixed input sizes"
            )
        tensors.append(TensorSpec(shape, i["name"], declared_dtype(i)))
    return Workload(str(file.resolve()), path_sha256(file)[0], Inputs(tuple(tensors))), None


def _fixed_shape(dims: list) -> tuple[int, ...] | None:
    """A file input's shape with a dynamic batch (a named or unknown first dimension, as
    ``dynamic_axes`` exports write it) set to 1; None when another dimension is dynamic."""
    from export.base import declared_dims

    known = declared_dims(dims)
    if None in known[1:]:
        return None
    return tuple(d or 1 for d in known)


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
    Constructing it connects to the device; ``store`` may be set after that (it must be set
    before :meth:`run`).
    """

    def __init__(
        self,
        device: Device,
        store: Store | None,
        protocol: Protocol,
        rapl_root: str | None = None,
        thermal_root: str | None = None,
        options: dict[str, str] | None = None,
        meter_root: str | None = None,
        delegation: Delegation | None = None,
        on_contention: str = "retry",
    ):
        self.device = device
        self.store = store
        self.protocol = protocol
        self.transport = open_transport(device)
        self.transport.connect()
        self.thermal_root = thermal_root or device.thermal_root
        self.option_overrides = options or {}
        self.delegation = delegation or Delegation()
        if on_contention not in ON_CONTENTION:
            raise BenchError(f"--on-contention {on_contention}: choose from {', '.join(ON_CONTENTION)}")
        self.on_contention = on_contention
        self.meter: EnergyMeter | None
        try:
            root = meter_root or device.energy_root or None
            if root is None and device.energy_meter in ("auto", "rapl"):
                root = rapl_root or device.rapl_root
            self.meter, spec, self.energy_note = probe_meter(device.energy_meter, self.transport, root, device.rails)
        except MeterUnavailable as exc:
            raise BenchError(f"{device.path or device.name}: {exc}") from None
        self.runner = runner_for(device, self.transport, protocol, self.meter, spec)
        self._meter_runners: dict[str, tuple] = {}  # an accelerator's own meter -> (runner, its note)
        self.lost: str | None = None

    def _runner(self, serving: Serving | None) -> tuple:
        """The runner of a cell and the note on its energy: the device's, or, where the profile lets
        the meter be chosen (``auto``) and the cell's accelerator has its own meter (NVML for an NVIDIA
        GPU), one measuring with that meter, so a GPU cell's energy is the GPU's."""
        wanted = serving.energy_meter if serving is not None else ""
        if not wanted or self.device.energy_meter != "auto" or (self.meter and self.meter.name == wanted):
            return self.runner, self.energy_note
        if wanted not in self._meter_runners:
            try:
                meter, spec, note = probe_meter(wanted, self.transport, None, ())
            except MeterUnavailable as exc:
                meter, spec, note = None, None, str(exc)
            if meter is None:
                self._meter_runners[wanted] = (self.runner, f"{note}; {self.energy_note}")
            else:
                runner = runner_for(self.device, self.transport, self.protocol, meter, spec)
                self._meter_runners[wanted] = (runner, note)
        return self._meter_runners[wanted]

    def serving(self, cell: Cell) -> Serving:
        """How the cell's accelerator runs on its runtime with this run's delegate options (BenchError
        when it does not run there)."""
        return serving_for(cell.accelerator, cell.runtime, self.delegation.options)

    def options(self, cell: Cell) -> dict:
        """The runtime options a cell runs with: the runtime's defaults, the run's ``--option`` values,
        then what its accelerator sets (execution providers, compute units)."""
        options = get_runtime(cell.runtime).with_options(self.option_overrides)
        return {**options, **self.serving(cell).options}

    def thermal(self) -> ThermalRecord:
        """Wait (bounded) for the device's thermal state to settle, the way its transport reads it."""
        return self.transport.wait_for_thermal(self.thermal_root)

    def measure(self, cell: Cell, workload: Workload | None = None) -> Measurement:
        """Measure one cell on this device: ``status="ok"`` with its samples, or ``"failed"`` with the
        reason in ``error``. Never raises for a failure of the cell itself; a lost device raises
        DeviceLost. ``workload``: already exported (the farm ships it); else exported here when missing.

        A measurement whose timed window was contended (:func:`assess_contention`) is handled by
        ``on_contention``: ``retry`` measures the cell once more and keeps the second measurement
        (flagged if it is contended too), ``warn`` keeps it flagged, ``fail`` stores the cell as
        failed, without its numbers."""
        first = self._measure_once(cell, workload)
        seen = first.contention or {}
        if first.status != "ok" or not seen.get("contended") or self.on_contention == "warn":
            return first
        if self.on_contention == "fail":
            return replace(first, status="failed", error=contended_reason(seen), samples_ms=None, summary=None)
        again = self._measure_once(cell, workload)
        if again.status == "ok" and again.contention is not None:
            again = replace(again, contention={**again.contention, "retried_after": seen})
        return again

    def _measure_once(self, cell: Cell, workload: Workload | None = None) -> Measurement:
        """One measurement of the cell (see :meth:`measure`)."""
        started = time.time()
        try:
            check_device_has(self.device, cell.accelerator)
            serving = self.serving(cell)
            settings = {**asdict(self.protocol), "options": self.options(cell)}
        except BenchError as exc:
            settings, serving, reason = asdict(self.protocol), None, str(exc)
        else:
            reason = None
        if cell.accelerator != DEFAULT_ACCELERATOR:
            settings["delegation"] = {"options": self.delegation.options, "require_full": self.delegation.require_full}
        so_far = Measurement(cell.on(self.device.name), settings=settings, started_at=started)
        local = self.transport.is_local
        if reason is None and local:
            reason = get_runtime(cell.runtime).unavailable_reason()
        if cell.runtime not in self.device.runtimes:
            reason = f"device '{self.device.name}' offers {', '.join(self.device.runtimes)}, not {cell.runtime}"
        if reason is None:
            reason = self._runner(serving)[0].refuses(cell, serving)
        if reason:
            workload, error = None, reason
        elif workload is None:
            workload, error = prepare_workload(cell)
        else:
            error = None
        so_far = replace(so_far, artifact_sha256=workload.sha256 if workload else None)
        if error:
            return replace(so_far, error=error, ended_at=time.time())
        so_far = replace(so_far, thermal=self.thermal().to_dict())
        cpus = pinned_cpus(self.device.affinity, cell.threads) if local else cpus_of_mask(self.device.affinity)
        try:
            runner, energy_note = self._runner(serving)
            result = runner.execute(cell, workload, settings["options"], cpus, serving)
        except subprocess.TimeoutExpired:
            return replace(so_far, error="timed out on the device", ended_at=time.time())
        except DeviceLost:
            raise
        except TransportError as exc:
            return replace(so_far, error=str(exc), ended_at=time.time())
        thermal = so_far.thermal if result.sustained is None else {**so_far.thermal, "sustained": result.sustained}
        so_far = replace(
            so_far,
            ended_at=time.time(),
            settings={**settings, "cpus": result.cpus, "options": result.options or settings["options"]},
            thermal=thermal,
            source=result.source or None,
        )
        if result.error:
            return replace(so_far, error=result.error)
        verdict = judge(cell.accelerator, serving, result.source, self.delegation.require_full)
        if verdict.record:
            so_far = replace(
                so_far, coverage=verdict.coverage, source={**(so_far.source or {}), "accelerator": verdict.record}
            )
        if verdict.error:  # a CPU latency is never stored under an accelerator's name
            return replace(so_far, error=verdict.error)
        from bench.zoo import macs_of  # imports the zoo (torch): only once a cell succeeded

        energy = result.energy or EnergyResult.unavailable("none", energy_note)
        return replace(
            so_far,
            status="ok",
            samples_ms=result.samples,
            # statistics are derived from the samples; a native tool without samples gives its own
            summary=None if result.samples else LatencyStats.from_mapping(result.stats),
            init_ms=result.init_ms,
            first_ms=result.first_ms,
            peak_memory_mb=result.peak_memory_mb,
            runtime_versions=result.versions,
            macs=macs_of(cell.model),
            energy_mj_per_inference=energy.mj_per_inference,
            energy_note=energy.note,
            energy={k: v for k, v in asdict(energy).items() if k not in ("mj_per_inference", "note")},
            contention=assess_contention(result.contention),
        )

    def measure_with_retry(self, cell: Cell, workload: Workload | None = None) -> Measurement:
        """:meth:`measure`, with one retry after the link to the device broke; then the cell fails and
        :attr:`lost` says why the device was lost. ``workload``: as :meth:`measure` takes it."""
        try:
            return self.measure(cell, workload)
        except DeviceLost as first:
            time.sleep(RETRY_DELAY_S)
            try:
                self.transport.reconnect()
                return self.measure(cell, workload)
            except (DeviceLost, TransportError) as again:
                self.lost = f"{again} (after a retry; first failure: {first})"
                return failed_measurement(cell, self.device.name, self.protocol, f"device lost: {again}")

    def run(
        self,
        cells: list[Cell],
        resume: dict | None = None,
        argv: str = "",
        on_cell: Callable[[Cell, dict | None], None] | None = None,
        settings: dict | None = None,
    ) -> SuiteResult:
        """Measure ``cells`` in a new run, or with ``resume`` (a run row of :meth:`Store.resumable_run`)
        what that run still lacks, by its recorded plan.

        The run's lease (:class:`~bench.results.lease.RunLease`) is held throughout: a resume claims it
        first and raises BenchError naming the holder when another live process measures the run.
        ``settings`` are recorded with a new run for a later resume. If the device is lost (even after
        one retry), the suite stops: finished cells stay stored, the run is left resumable, and
        ``SuiteResult.lost`` says why.
        """
        from bench.results.lease import RunLease, this_holder

        if resume is not None:
            run_id = resume["run_id"]
            cells = [Cell.from_row(c) for c in resume["plan"]]
            lease = RunLease(self.store, run_id)
            try:
                lease.take()
            except BenchError:
                self.transport.close()
                raise
        else:
            holder = this_holder()
            plan = [c.plan_entry() for c in cells]
            run_id = self.store.start_run(self.device.name, fingerprint(), plan, argv, settings, holder)
            lease = RunLease(self.store, run_id, holder)
        result = SuiteResult(run_id, planned=len(cells))
        with lease:
            done = self.store.done_cells(run_id) if resume is not None else set()  # read once the run is ours
            try:
                self.transport.prepare()
                for i, cell in enumerate(cells):
                    if cell.on(self.device.name) in done:
                        result.skipped += 1
                        if on_cell:
                            on_cell(cell, None)
                        continue
                    if i and self.protocol.cooldown:
                        time.sleep(self.protocol.cooldown)
                    measurement = replace(self.measure_with_retry(cell), run_id=run_id)
                    if lease.lost:
                        raise BenchError(
                            f"run {run_id} was taken over by {lease.lost} while this process did not renew its "
                            "lease; stopped without storing more"
                        )
                    measurement = self.store.stored(measurement)
                    result.measurements.append(measurement)
                    if on_cell:
                        on_cell(cell, measurement.to_row())
                    if self.lost:
                        result.lost = self.lost
                        self.store.finish_run(run_id, "device-lost")
                        return result
            except KeyboardInterrupt:
                self.store.finish_run(run_id, "interrupted")
                raise
            finally:
                if not self.lost:
                    self.transport.restore()
                self.transport.close()
            self.store.finish_run(run_id, "finished")
        return result
