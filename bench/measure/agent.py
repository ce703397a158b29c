"""The measurement agent: runs one model on one runtime and prints JSON lines.

Self-contained on purpose (standard library + numpy + the runtime's own package, nothing from
this project), because the same file is copied to remote devices (Raspberry Pi, Jetson) and run
with their Python. How a runtime opens a session is its plug-in's (``bench/runtimes/<name>.py``,
equally self-contained): the job names the plug-in's file, copied to the device with this one, and the agent
loads it by path. Each measurement runs in a fresh agent process, so that memory and imports of
one model never leak into the next.

Usage: ``python agent.py < job.json``. Output events, one JSON object per line:

    {"event": "hello", "versions": {...}, "pid": ...}
    {"event": "init", "init_ms": ..., "rss_before_mb": ..., "versions": {...}, "options": {...}}
    {"event": "first", "first_ms": ...}
    {"event": "window", "start": ..., "end": ..., "n": ..., "energy": {...}, "contention": {...}}
    {"event": "samples", "ms": [...]}                 # every timed inference, in order
    {"event": "idle", "seconds": ..., "energy": {...}}
    {"event": "done", "peak_rss_mb": ...}
    {"event": "error", "stage": ..., "message": ...}  # instead of the rest, on failure

Protocol: ``warmup`` untimed runs, then timed runs until at least ``min_runs`` runs and
``min_time`` seconds (capped by ``max_runs`` / ``max_time``), or earlier, when ``ci_target`` is
set, once the 95% confidence interval of the median (at least 20 runs) is narrower than
``ci_target`` (relative half-width). Energy
counters named in the job are read right before and after the timed window and around an idle
window of the same length (capped by ``idle_max``) after it. What else used the measured CPUs
during the timed window (``/proc/stat`` and this process's own CPU time: :func:`contention`) is
reported with it.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable

import numpy as np


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


# --- runtimes -------------------------------------------------------------------------------


def load_runtime(path: str, name: str):
    """The runtime plug-in module at ``path`` (``bench/runtimes/<name>.py``, copied next to this
    agent on a device), loaded by file so that the rest of ``bench`` need not be installed. The
    plug-in's ``open_session(artifact, threads, options)`` returns ``(run, versions)``, or
    ``(run, versions, applied)`` with the options as the session really runs them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_runtime_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the {name} runtime plug-in from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ on the device
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = write_bytecode
    return module


# --- energy counters ------------------------------------------------------------------------


def read_counters(spec: dict | None) -> dict | None:
    """One raw reading of the meter's files / command (text, parsed by the meter on the host),
    with a timestamp; None without a spec. Streams are read by the Sampler only."""
    if not spec:
        return None
    values: dict = {}
    for name, path in spec.get("files", {}).items():
        with open(path) as f:
            values[name] = f.read()
    if spec.get("command"):
        import subprocess

        values["output"] = subprocess.run(spec["command"], capture_output=True, text=True, timeout=10).stdout
    if spec.get("nvml"):
        import pynvml

        pynvml.nvmlInit()
        for index in spec["nvml"]:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            values[f"gpu{index}"] = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))  # mJ
    return {"t": time.perf_counter(), "values": values}


class Sampler:
    """Polls a sampled (instantaneous-power) meter every ``period_s`` in a thread, or reads the
    lines of a streaming tool (tegrastats), while a window runs."""

    def __init__(self, spec: dict | None):
        self.spec = spec if spec and (spec.get("period_s") or spec.get("stream")) else None
        self.samples: list[dict] = []
        self.stop = None
        self.thread = None
        self.proc = None

    def __enter__(self) -> Sampler:
        if not self.spec:
            return self
        import threading

        self.stop = threading.Event()
        target = self._stream if self.spec.get("stream") else self._poll
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        return self

    def _poll(self) -> None:
        while not self.stop.wait(self.spec["period_s"]):
            self.samples.append(read_counters({k: v for k, v in self.spec.items() if k != "stream"}))

    def _stream(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(self.spec["stream"], stdout=subprocess.PIPE, text=True)
        if self.stop.is_set():  # the window closed before the tool started
            self.proc.terminate()
            return
        for line in self.proc.stdout:
            self.samples.append({"t": time.perf_counter(), "values": {"line": line}})
            if self.stop.is_set():
                break

    def __exit__(self, *exc) -> None:
        """Stop the thread and the streaming tool, and wait until the tool has exited (a tool the
        thread started while this ran is stopped too); never suppresses an exception."""
        import subprocess

        if self.stop is None:
            return
        self.stop.set()
        if self.proc is not None:
            self.proc.terminate()
        self.thread.join(timeout=5)
        if self.proc is not None:
            try:
                self.proc.terminate()
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class MeteredWindow:
    """Energy readings around a window (the timed runs, or the idle window after them): a reading
    on entry and one on exit, with the sampler running in between; ``readings()`` returns them as
    ``{"before", "after", "samples"}`` (None without an energy spec). The sampler stops on exit
    even when the window raised. A streaming meter has no before/after file: the nearest line it
    printed stands in, waited for (at most 5 s) on entry and after the window's end."""

    def __init__(self, spec: dict | None):
        self.spec = spec
        self.streaming = bool(spec and spec.get("stream"))
        self.sampler = Sampler(spec)
        self.before: dict | None = None
        self.after: dict | None = None

    def __enter__(self) -> MeteredWindow:
        self.sampler.__enter__()
        try:
            self.before = self._reading(after=0.0)
        except BaseException:
            self.sampler.__exit__()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.after = self._reading(after=time.perf_counter())
        finally:
            self.sampler.__exit__()

    def _reading(self, after: float) -> dict | None:
        if not self.streaming:
            return read_counters(self.spec)
        deadline = time.perf_counter() + 5.0
        while time.perf_counter() < deadline:
            if self.sampler.samples and self.sampler.samples[-1]["t"] > after:
                break
            time.sleep(0.01)
        return self.sampler.samples[-1] if self.sampler.samples else None

    def readings(self) -> dict | None:
        """``{"before", "after", "samples"}`` raw readings for the meter on the host; None without a spec."""
        if not self.spec:
            return None
        return {"before": self.before, "after": self.after, "samples": self.sampler.samples}


# --- statistics the agent needs to stop early ----------------------------------------------


def median_ci_halfwidth(samples: list[float]) -> float:
    """Relative half-width of a distribution-free 95% CI of the median (order statistics)."""
    n = len(samples)
    if n < 20:
        return math.inf
    ordered = sorted(samples)
    k = int(math.floor(n / 2 - 1.96 * math.sqrt(n) / 2))
    lo, hi = ordered[max(k, 0)], ordered[min(n - 1 - k, n - 1)]
    median = ordered[n // 2]
    return (hi - lo) / 2 / median if median > 0 else math.inf


# --- the timed runs: a loop, a stop policy, an optional observer ------------------------------


def protocol_stop(
    min_runs: int, min_time: float, max_runs: int, max_time: float, ci_target: float | None = None
) -> Callable[[list[float], float], bool]:
    """The protocol's stop rule for ``timed_runs``: stop at ``max_runs`` runs or ``max_time`` s,
    or once both ``min_runs`` and ``min_time`` are met, or (with ``ci_target``, checked every 10
    runs) once the 95% CI of the median is narrower than ``ci_target`` (relative half-width)."""

    def stop(samples: list[float], elapsed: float) -> bool:
        n = len(samples)
        if n >= max_runs or elapsed >= max_time:
            return True
        if n >= min_runs and elapsed >= min_time:
            return True
        return bool(ci_target) and n % 10 == 0 and median_ci_halfwidth(samples) <= ci_target

    return stop


def duration_stop(seconds: float) -> Callable[[list[float], float], bool]:
    """Stop once ``seconds`` have passed (a sustained run measures continuously)."""
    return lambda samples, elapsed: elapsed >= seconds


def stop_policy(job: dict) -> Callable[[list[float], float], bool]:
    """The job's stop rule: ``duration_stop`` for a sustained run, else ``protocol_stop``."""
    if job.get("sustained_s"):
        return duration_stop(job["sustained_s"])
    return protocol_stop(job["min_runs"], job["min_time"], job["max_runs"], job["max_time"], job.get("ci_target"))


def job_inputs(job: dict) -> list:
    """One seeded array per model input (``job["inputs"]``: name, shape, dtype; an older job's
    ``input_shape``: one float32 input): standard normal for float inputs, 0 and 1 for integer and
    bool inputs (indices and masks any model accepts)."""
    rng = np.random.default_rng(0)
    specs = job.get("inputs") or [{"shape": job["input_shape"], "dtype": "float32"}]
    arrays = []
    for spec in specs:
        dtype = np.dtype(spec.get("dtype", "float32"))
        if dtype.kind in "iub":
            arrays.append(rng.integers(0, 2, spec["shape"]).astype(dtype))
        else:
            arrays.append(rng.standard_normal(spec["shape"]).astype(dtype))
    return arrays


def timed_runs(
    run: Callable,
    xs: list,
    stop: Callable[[list[float], float], bool],
    observe: Callable[[list[float], float], None] | None = None,
) -> tuple[list[float], float, float]:
    """Time ``run(*xs)`` (one array per model input) until ``stop(samples_ms, elapsed_s)`` says so
    (asked after every run, after ``observe``): (every latency in ms in order, window start, window
    end; ``perf_counter`` s)."""
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter_ns()
        run(*xs)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        elapsed = time.perf_counter() - start
        if observe is not None:
            observe(samples, elapsed)
        if stop(samples, elapsed):
            return samples, start, time.perf_counter()


class Chunks:
    """Observer of a sustained run: every ``chunk_s`` seconds (and at ``end_s``) one ``chunk``
    event with the chunk's median latency and the hottest thermal zone under ``thermal_root``."""

    def __init__(self, chunk_s: float, end_s: float, thermal_root: str):
        self.chunk_s, self.end_s, self.thermal_root = chunk_s, end_s, thermal_root
        self.began = 0.0  # elapsed seconds when the current chunk began
        self.first = 0  # index of its first sample

    def __call__(self, samples: list[float], elapsed: float) -> None:
        if elapsed - self.began < self.chunk_s and elapsed < self.end_s:
            return
        chunk = sorted(samples[self.first :])
        emit("chunk", t=round(elapsed, 3), n=len(chunk), median_ms=chunk[len(chunk) // 2],
             temp_c=hottest_c(self.thermal_root))  # fmt: skip
        self.first = len(samples)
        self.began = elapsed


def hottest_c(root: str) -> float | None:
    """The hottest thermal zone in C (Linux sysfs), None where none is readable."""
    import glob

    temps = []
    for path in glob.glob(os.path.join(root, "thermal_zone*", "temp")):
        try:
            with open(path) as f:
                temps.append(int(f.read().split()[0]) / 1000.0)
        except (OSError, ValueError, IndexError):
            continue
    return max(temps) if temps else None


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process. On Linux VmHWM (per address space, reset by exec):
    ru_maxrss is inherited across fork + exec and would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def cpu_times(cpus: list[int] | None) -> dict | None:
    """What the CPUs the agent runs on did so far (``/proc/stat``, seconds since boot: ``busy`` =
    user + nice + system + irq + softirq, ``steal``, ``total``) and this process's own CPU seconds;
    None where there is no ``/proc/stat`` (macOS)."""
    try:
        with open("/proc/stat") as f:
            text = f.read()
    except OSError:
        return None
    own = os.times()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return proc_stat_times(text, cpus, own.user + own.system, tick)


def proc_stat_cpus(text: str) -> dict[int, list[int]]:
    """The per-CPU lines (``cpuN``) of a ``/proc/stat`` text: CPU number -> its first eight counters
    in ticks (user nice system idle iowait irq softirq steal; older kernels print fewer, read as 0).
    Only online CPUs have a line. Format: proc(5), "/proc/stat"."""
    cpus: dict[int, list[int]] = {}
    for line in text.splitlines():
        name, *values = line.split() or [""]
        if name.startswith("cpu") and name[3:].isdigit():
            cpus[int(name[3:])] = ([int(x) if x.isdigit() else 0 for x in values[:8]] + [0] * 8)[:8]
    return cpus


def proc_stat_times(text: str, cpus: list[int] | None, own_s: float, tick: int = 100) -> dict | None:
    """The per-CPU counters of a ``/proc/stat`` text (:func:`proc_stat_cpus`) summed over ``cpus`` (all
    when None), in seconds (``tick``: USER_HZ, 100 on every Linux and Android build): ``busy``,
    ``steal``, ``total``, with ``own`` (the measured process's CPU seconds) and ``cpus`` counted. None
    when no line of those CPUs is there."""
    busy = steal = total = count = 0
    for cpu, v in proc_stat_cpus(text).items():
        if cpus and cpu not in cpus:
            continue
        busy += v[0] + v[1] + v[2] + v[5] + v[6]
        steal += v[7]
        total += sum(v)
        count += 1
    if not count:
        return None
    return {"busy": busy / tick, "steal": steal / tick, "total": total / tick, "own": own_s, "cpus": count}


def contention(before: dict | None, after: dict | None, load1: float | None = None) -> dict | None:
    """What else used the measured CPUs during a window: ``others_share`` = (their busy time minus the
    measured process's CPU time) / their total time, ``steal_share`` = steal / total (a VM's host took
    it), ``load1`` (the 1-minute load average: ``load1``, else this machine's), ``cpus`` counted.
    None without readings."""
    if not before or not after:
        return None
    total = after["total"] - before["total"]
    if total <= 0:
        return None
    others = max(0.0, (after["busy"] - before["busy"]) - (after["own"] - before["own"]))
    if load1 is None and hasattr(os, "getloadavg"):
        load1 = os.getloadavg()[0]
    return {
        "others_share": round(min(others / total, 1.0), 4),
        "steal_share": round((after["steal"] - before["steal"]) / total, 4),
        "load1": load1,
        "cpus": after["cpus"],
    }


def measure(job: dict, stop: Callable[[list[float], float], bool] | None = None) -> None:
    """Run the job and print its events; a failure is an ``error`` event, never an exception.
    ``stop``: the stop rule of the timed runs (default: ``stop_policy(job)``)."""
    stage = "load"
    try:
        if job.get("cpus") and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, job["cpus"])  # before the runtime creates its thread pool
        emit(
            "hello",
            pid=os.getpid(),
            python=sys.version.split()[0],
            cpus=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        )
        runtime = load_runtime(job["runtime_file"], job["runtime"])
        rss_before = rss_mb()
        start = time.perf_counter_ns()
        run, versions, *applied = runtime.open_session(job["artifact"], job["threads"], job.get("options", {}))
        init_ms = (time.perf_counter_ns() - start) / 1e6
        options = applied[0] if applied else job.get("options", {})  # what runs, as the runtime reports it
        emit("init", init_ms=init_ms, rss_before_mb=rss_before, versions=versions, options=options)

        stage = "first inference"
        xs = job_inputs(job)
        start = time.perf_counter_ns()
        run(*xs)
        emit("first", first_ms=(time.perf_counter_ns() - start) / 1e6)

        stage = "warm-up"
        for _ in range(job["warmup"]):
            run(*xs)

        stage = "timed runs"
        energy_spec = job.get("energy")
        chunks = None
        if job.get("sustained_s"):  # one chunk event (latency + temperature) per chunk_s
            chunks = Chunks(job.get("chunk_s", 2.0), job["sustained_s"], job.get("thermal_root", "/sys/class/thermal"))
        measured_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        with MeteredWindow(energy_spec) as window:
            before = cpu_times(measured_cpus)
            samples, window_start, window_end = timed_runs(run, xs, stop or stop_policy(job), chunks)
            seen = contention(before, cpu_times(measured_cpus))
        emit("window", start=window_start, end=window_end, n=len(samples), energy=window.readings(), contention=seen)
        emit("samples", ms=samples)

        if energy_spec:
            stage = "idle window"
            idle_s = min(window_end - window_start, job.get("idle_max", 10.0))
            with MeteredWindow(energy_spec) as idle:
                time.sleep(idle_s)
            emit("idle", seconds=idle_s, energy=idle.readings())
        emit("done", peak_rss_mb=peak_rss_mb())
    except Exception as exc:  # noqa: BLE001 - any failure is reported, never a hang
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        emit("error", stage=stage, message=f"{type(exc).__name__}: {message}"[:500])


def main() -> None:
    job = json.loads(sys.stdin.read())
    sys.path[:0] = job.get("python_path", [])
    measure(job)


if __name__ == "__main__":
    main()
