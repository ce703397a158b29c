"""The device farm on Dask distributed.

Each lab host runs ``bench farm worker --scheduler ADDRESS --device NAME...``: a Dask worker that
advertises every attached device as a worker resource (``device:NAME`` = 1) and has one thread per
device. ``bench run --farm ADDRESS --device A --device B`` exports each artifact once on the
client, scatters its bytes to the cluster, and submits one task per (cell, device) that needs
that device's resource: a device runs one benchmark at a time, different devices run in parallel.

The client stores every result as it arrives, so each cell is stored exactly once, whatever
happens to the workers. A task whose device is no longer offered by any worker (its host died)
is cancelled and stored as failed with the reason; tasks on the surviving devices go on. When the
scheduler itself is lost (the client cannot reconnect within Dask's reconnect time), every cell
not yet received is stored as failed with that reason and the runs end "interrupted". Dask's own
log lines stay off the client's stderr: the command says what happened in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from bench.errors import BenchError, one_line
from bench.measure.measurement import Cell, Measurement, MeasurementList
from export.reference import Inputs

RESOURCE_PREFIX = "device:"
CONNECT_TIMEOUT_S = 10.0
ORPHAN_GRACE_S = 3.0  # a device gone from every worker for this long fails its pending tasks


def resource(device: str) -> str:
    return f"{RESOURCE_PREFIX}{device}"


def _distributed():
    try:
        import distributed
    except ImportError:
        from bench.errors import MissingBackendError

        raise MissingBackendError("the device farm", "farm", "dask distributed") from None
    return distributed


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A clear error before Dask's own retries: is anything listening at the scheduler address?"""
    try:
        url = urlparse(address if "://" in address else f"tcp://{address}")
        port = url.port  # ValueError for a port that is not a number in 0-65535
    except ValueError:  # also an unclosed IPv6 bracket: tcp://[::1
        url, port = urlparse("tcp://"), None
    if url.scheme not in ("tcp", "tls") or not url.hostname or not port:
        raise BenchError(f"bad scheduler address '{one_line(address, 100)}': use tcp://HOST:PORT (PORT 1-65535)")
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise BenchError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None


# --- the worker side -------------------------------------------------------------------------


def run_worker(scheduler: str, devices: list[str], name: str | None = None) -> None:
    """Serve ``devices`` (profiles on this host) to the scheduler until stopped."""
    from bench.devices.config import get_device

    for device in devices:
        get_device(device)  # unknown device: exit 2 before joining the cluster
    check_reachable(scheduler)
    Worker = _distributed().Worker  # noqa: N806
    _default_termination()

    async def serve() -> None:
        async with Worker(
            scheduler,
            nthreads=len(devices),  # one benchmark per device at a time, devices in parallel
            resources={resource(d): 1 for d in devices},
            name=name,
            death_timeout=60,
        ) as worker:
            await worker.finished()

    asyncio.run(serve())


def _default_termination() -> None:
    """SIGTERM and SIGHUP end a farm process at once, as they end ``dask worker`` (``bench``'s own
    handler would make a worker wait for its running benchmark to finish before it leaves); the
    scheduler sees the worker go and fails its cells, as for a killed one."""
    import signal

    from bench.interrupts import handle_termination

    handle_termination(signal.SIG_DFL)


def run_scheduler(host: str, port: int) -> None:
    Scheduler = _distributed().Scheduler  # noqa: N806
    _default_termination()

    async def serve() -> None:
        async with Scheduler(host=host, port=port, dashboard=False) as scheduler:
            await scheduler.finished()

    asyncio.run(serve())


_HARNESSES: dict[str, object] = {}


def cache_artifact(artifact: dict, cache: Path) -> Path:
    """The scattered artifact as a file in the worker's cache (by sha), written once.

    Devices on one worker measure in parallel threads and may all get the same artifact first:
    each writes its own temporary file and renames it into place (atomic), so no one reads or
    removes a half-written file."""
    import tempfile

    path = cache / artifact["sha256"][:16] / artifact["name"]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{artifact['name']}.", suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(artifact["data"])
        os.replace(tmp, path)
    return path


def measure_on_worker(
    device_name: str, cell: Cell, artifact: dict | None, protocol: dict, options: dict, delegation: dict | None = None
) -> Measurement:
    """Runs on a worker: measure one cell on one of its devices, the worker's host name recorded in
    its settings. ``artifact`` carries the bytes exported on the client, cached on the worker by
    content hash; ``delegation``: the run's accelerator settings (``Delegation`` as a dict)."""
    from bench.accelerators.base import Delegation
    from bench.devices.config import get_device
    from bench.measure.harness import Harness
    from bench.measure.protocol import Protocol
    from bench.measure.runners import Workload
    from bench.paths import results_dir

    delegation = Delegation(**(delegation or {}))
    key = f"{device_name}|{sorted(protocol.items())}|{sorted(options.items())}|{delegation}"
    if key not in _HARNESSES:
        _HARNESSES[key] = Harness(
            get_device(device_name), None, Protocol(**protocol), options=options, delegation=delegation
        )
    harness = _HARNESSES[key]
    local = None
    if artifact is not None:
        path = cache_artifact(artifact, results_dir() / "farm-cache")
        local = Workload(str(path), artifact["sha256"], Inputs.from_list(artifact["inputs"]))
    measurement = harness.measure(cell, workload=local)
    return replace(measurement, settings={**measurement.settings, "worker": socket.gethostname()})


# --- the client side ---------------------------------------------------------------------------


@dataclass
class Job:
    """One task: ``fn(*args)`` on the worker that serves ``device``."""

    device: str
    args: tuple
    tag: object = None


class SchedulerLost(Exception):
    """The client lost its connection to the scheduler and could not reconnect."""


class Farm:
    def __init__(self, address: str):
        check_reachable(address)
        Client = _distributed().Client  # noqa: N806

        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # tracebacks of reconnects: not on stderr

        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise BenchError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
        self.address = address

    def offered(self) -> dict[str, list[str]]:
        """Device -> names of the workers that offer it."""
        out: dict[str, list[str]] = {}
        if self.client.status != "running":
            raise SchedulerLost(self.lost_scheduler())
        for address, info in self.client.scheduler_info(n_workers=-1).get("workers", {}).items():
            for name in info.get("resources", {}):
                if name.startswith(RESOURCE_PREFIX):
                    out.setdefault(name[len(RESOURCE_PREFIX) :], []).append(info.get("name") or address)
        return out

    def require(self, devices: list[str]) -> None:
        offered = self.offered()
        missing = [d for d in devices if d not in offered]
        if missing:
            have = ", ".join(sorted(offered)) or "none (no workers)"
            raise BenchError(f"no farm worker offers device {', '.join(missing)}; workers offer: {have}")

    def scatter(self, data):
        """One object onto the cluster (in a list: Dask would scatter a dict's values under its keys)."""
        return self.client.scatter([data], broadcast=False, hash=False)[0]

    def run(self, fn: Callable, jobs: list[Job]) -> Iterator[tuple[Job, object, str | None]]:
        """Yield (job, result, None) or (job, None, reason) for every job, each exactly once."""
        from distributed import KilledWorker, wait

        futures = {
            self.client.submit(fn, *job.args, resources={resource(job.device): 1}, pure=False, retries=0): job
            for job in jobs
        }
        pending = set(futures)
        missing_since: dict[str, float] = {}
        while pending:
            try:
                done, _ = wait(list(pending), timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished within the second: check the workers
                done = set()
            except Exception:  # noqa: BLE001 - the client lost the scheduler: said below for every cell
                done = set()
            if self._scheduler_gone():
                for future in pending:
                    yield futures[future], None, self.lost_scheduler()
                return
            for future in done:
                pending.discard(future)
                job = futures[future]
                if future.status == "finished":
                    try:
                        yield job, self._fetch(future, job.device), None
                    except SchedulerLost as exc:
                        yield job, None, str(exc)
                    except Exception as exc:  # noqa: BLE001 - finished, but the result went down with its worker
                        future.cancel()  # ... or with the scheduler, whose loss the client may not have noticed yet
                        gone = not self._scheduler_listening()
                        reason = self.lost_scheduler() if gone else f"{lost(job.device)} before its result was fetched"
                        yield job, None, f"{reason} ({type(exc).__name__})"
                    continue
                error = future.exception() if future.status == "error" else None
                if isinstance(error, KilledWorker):  # the scheduler gave up on the task's worker
                    yield job, None, f"{lost(job.device)} ({error})"
                    continue
                if self.client.status != "running":
                    yield job, None, self.lost_scheduler()
                    continue
                if future.status == "lost":  # its finished result went down with its worker
                    yield job, None, f"{lost(job.device)} before its result was fetched (Dask: task lost)"
                    continue
                yield job, None, f"{type(error).__name__}: {error}" if error else f"task {future.status}"
            try:
                offered = self.offered()
            except SchedulerLost:
                continue  # reconnecting: decided at the top of the loop
            now = time.monotonic()
            for future in list(pending):
                device = futures[future].device
                if device in offered:
                    missing_since.pop(device, None)
                    continue
                since = missing_since.setdefault(device, now)
                if now - since >= ORPHAN_GRACE_S:
                    future.cancel()
                    pending.discard(future)
                    yield futures[future], None, lost(device)

    def _scheduler_gone(self) -> bool:
        """True once the client gave up reconnecting to the scheduler (Dask closes it then); while
        it is still trying, waits a little and says False."""
        if self.client.status == "running":
            return False
        if self.client.status in ("closing", "closed", "failed"):
            return True
        time.sleep(0.5)
        return False

    def _scheduler_listening(self) -> bool:
        """Whether anything still listens at the scheduler's address: a fetch can fail on a closed
        connection before the client's status says the scheduler is gone."""
        try:
            check_reachable(self.address, timeout=2.0)
        except BenchError:
            return False
        return True

    def lost_scheduler(self) -> str:
        """The reason stored for a cell not received when the scheduler went away."""
        return f"the Dask scheduler at {self.address} was lost before the result arrived"

    def _fetch(self, future, device: str):
        """The result of a finished task. Dask waits for ever to recompute a result whose worker died
        before it was fetched, and no one else offers the device: give up once the device has been
        gone from every worker for ``ORPHAN_GRACE_S``.

        Raises TimeoutError when the device's worker is gone, SchedulerLost when the scheduler is,
        or the task's own error."""
        gone_since = None
        while True:
            try:
                return future.result(timeout=1.0)
            except TimeoutError:
                if device in self.offered():  # SchedulerLost when the client is not connected
                    gone_since = None
                    continue
                gone_since = gone_since or time.monotonic()
                if time.monotonic() - gone_since >= ORPHAN_GRACE_S:
                    raise

    def close(self) -> None:
        self.client.close()


def lost(device: str) -> str:
    """The reason stored for a cell whose device's worker went away (the summary looks for "was lost")."""
    return f"the farm worker serving device '{device}' was lost"


def artifact_payload(path: str, sha256: str, inputs: Inputs) -> dict:
    """What the client scatters to the worker that measures a cell: the file and the model's inputs."""
    return {
        "name": Path(path).name,
        "sha256": sha256,
        "inputs": inputs.to_list(),
        "data": Path(path).read_bytes(),
    }


@dataclass
class FarmResult(MeasurementList):
    """A farm suite: one stored run per device, and every measurement stored (in arrival order)."""

    run_ids: dict[str, str]
    measurements: list[Measurement] = field(default_factory=list)


def run_on_farm(
    address: str,
    devices: list[str],
    cells: list,
    protocol,
    options: dict[str, str],
    store,
    argv: str = "",
    on_row: Callable[[dict], None] | None = None,
    settings: dict | None = None,
    resume: dict[str, dict] | None = None,
    delegation=None,
) -> FarmResult:
    """Measure ``cells`` on every device of the farm; one stored run per device, each under its
    lease (:class:`~bench.results.lease.RunLease`) for as long as the suite runs.

    ``settings`` are recorded with new runs (what a resume measures with). ``resume``: device ->
    run row (:meth:`Store.resumable_run`): measure what each of those runs still lacks by its
    recorded plan, into that run (its lease taken first: BenchError naming the holder when another
    live process measures it). ``delegation``: the run's accelerator settings
    (:class:`~bench.accelerators.base.Delegation`). Raises BenchError when a device is not offered."""
    from bench.measure.environment import fingerprint
    from bench.measure.harness import failed_measurement, prepare_workload
    from bench.results.lease import RunLease, this_holder

    farm = Farm(address)
    try:
        farm.require(devices)
        holder = this_holder()
        with contextlib.ExitStack() as leases:
            if resume is not None:
                run_ids = {d: resume[d]["run_id"] for d in devices}
                for run_id in run_ids.values():
                    lease = RunLease(store, run_id, holder)
                    lease.take()
                    leases.enter_context(lease)
                done = {d: store.done_cells(run_ids[d]) for d in devices}  # read once the runs are ours
            else:
                environment = {**fingerprint(), "farm": address}
                plan = [c.plan_entry() for c in cells]
                run_ids = {d: store.start_run(d, environment, plan, argv, settings, holder) for d in devices}
                for run_id in run_ids.values():
                    leases.enter_context(RunLease(store, run_id, holder))
                done = {d: set() for d in devices}
            result = FarmResult(run_ids)
            todo = [(cell, d) for cell in cells for d in devices if cell.on(d) not in done[d]]
            payloads: dict[tuple, object] = {}
            errors: dict[tuple, str] = {}
            for cell, _ in todo:  # export once, on the client; ship the bytes once per worker
                key = (cell.model, cell.format, cell.precision)
                if key in payloads or key in errors:
                    continue
                workload, error = prepare_workload(cell)
                if error:
                    errors[key] = error
                else:
                    payloads[key] = farm.scatter(artifact_payload(workload.path, workload.sha256, workload.inputs))
            jobs = []
            for cell, device in todo:
                key = (cell.model, cell.format, cell.precision)
                if key in errors:
                    _store(store, result, failed_measurement(cell, device, protocol, errors[key]), on_row)
                    continue
                args = (
                    device,
                    cell,
                    payloads[key],
                    asdict(protocol),
                    options,
                    asdict(delegation) if delegation else None,
                )
                jobs.append(Job(device, args, tag=cell))
            for job, outcome, reason in farm.run(measure_on_worker, jobs):
                measurement = outcome if reason is None else failed_measurement(job.tag, job.device, protocol, reason)
                _store(store, result, measurement, on_row)
            scheduler_lost = farm.lost_scheduler()
            for device, run_id in result.run_ids.items():
                errors_seen = [m.error or "" for m in result.measurements if m.cell.device == device]
                if scheduler_lost in errors_seen:
                    store.finish_run(run_id, "interrupted")
                elif any("was lost" in e for e in errors_seen):
                    store.finish_run(run_id, "device-lost")
                else:
                    store.finish_run(run_id, "finished")
        return result
    finally:
        with contextlib.suppress(Exception):  # a client that lost its scheduler may fail to close
            farm.close()


def _store(store, result: FarmResult, measurement: Measurement, on_row) -> None:
    """Store ``measurement`` in its device's run, keep it in ``result`` and report its row to ``on_row``."""
    measurement = replace(measurement, run_id=result.run_ids[measurement.cell.device])
    measurement = store.stored(measurement)
    result.measurements.append(measurement)
    if on_row:
        on_row(measurement.to_row())
