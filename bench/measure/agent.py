"""The measurement agent: runs one model on one runtime and prints JSON lines.

Self-contained on purpose (standard library + numpy + the runtime's own package, nothing from
this project), because the same file is copied to remote devices (Raspberry Pi, Jetson) and run
with their Python. Each measurement runs in a fresh agent process, so that memory and imports of
one model never leak into the next.

Usage: ``python agent.py < job.json``. Output events, one JSON object per line:

    {"event": "hello", "versions": {...}, "pid": ...}
    {"event": "init", "init_ms": ..., "rss_before_mb": ...}
    {"event": "first", "first_ms": ...}
    {"event": "window", "start": ..., "end": ..., "n": ..., "energy": {...}}
    {"event": "samples", "ms": [...]}                 # every timed inference, in order
    {"event": "idle", "seconds": ..., "energy": {...}}
    {"event": "done", "peak_rss_mb": ...}
    {"event": "error", "stage": ..., "message": ...}  # instead of the rest, on failure

Protocol: ``warmup`` untimed runs, then timed runs until at least ``min_runs`` runs and
``min_time`` seconds (capped by ``max_runs`` / ``max_time``), or earlier, when ``ci_target`` is
set, once the 95% confidence interval of the median (at least 20 runs) is narrower than
``ci_target`` (relative half-width). Energy
counters named in the job are read right before and after the timed window and around an idle
window of the same length (capped by ``idle_max``) after it.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time

import numpy as np


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


# --- runtimes -------------------------------------------------------------------------------


def _onnxruntime(job: dict):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = job["threads"]
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    level = job.get("options", {}).get("graph_optimization", "all")
    opts.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    providers = job.get("options", {}).get("providers") or ["CPUExecutionProvider"]
    session = ort.InferenceSession(job["artifact"], opts, providers=providers)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x}), {"onnxruntime": ort.__version__}


def _litert(job: dict):
    try:
        from ai_edge_litert import interpreter as tfl

        version = {"ai_edge_litert": getattr(tfl, "__version__", "") or _dist_version("ai-edge-litert")}
    except ImportError:  # older devices: tflite_runtime (numpy 1.x environments)
        from tflite_runtime import interpreter as tfl

        version = {"tflite_runtime": _dist_version("tflite-runtime")}
    xnnpack = job.get("options", {}).get("xnnpack", True)
    kwargs = {"model_path": job["artifact"], "num_threads": job["threads"]}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = tfl.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]

    def run(x):
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run, version


def _torch(job: dict):
    import torch

    torch.set_num_threads(job["threads"])
    import models  # the zoo: PyTorch eager is a host-side reference

    torch.manual_seed(0)
    model = models.create_model(job["artifact"])

    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return run, {"torch": torch.__version__}


def _coreml(job: dict):
    import platform

    if platform.system() != "Darwin":
        raise RuntimeError("CoreML runs only on macOS")
    import coremltools as ct

    model = ct.models.MLModel(job["artifact"], compute_units=ct.ComputeUnit.CPU_ONLY)
    return lambda x: model.predict({"input": x}), {"coremltools": ct.__version__}


RUNTIMES = {"onnxruntime": _onnxruntime, "litert": _litert, "torch": _torch, "coreml": _coreml}


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return "unknown"


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
        for line in self.proc.stdout:
            self.samples.append({"t": time.perf_counter(), "values": {"line": line}})
            if self.stop.is_set():
                break

    def __exit__(self, *exc) -> None:
        if self.stop is None:
            return
        self.stop.set()
        if self.proc is not None:
            self.proc.terminate()
        self.thread.join(timeout=5)


def stream_reading(sampler: Sampler, spec: dict | None) -> dict | None:
    """A streaming meter has no before/after file: the nearest sample stands in."""
    if spec and spec.get("stream"):
        return sampler.samples[-1] if sampler.samples else None
    return read_counters(spec)


def _wait_for_sample(sampler: Sampler, after: float = 0.0, timeout: float = 5.0) -> None:
    """Until a streaming meter has printed a line later than ``after``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if sampler.samples and sampler.samples[-1]["t"] > after:
            return
        time.sleep(0.01)


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


def measure(job: dict) -> None:
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
        rss_before = rss_mb()
        start = time.perf_counter_ns()
        run, versions = RUNTIMES[job["runtime"]](job)
        init_ms = (time.perf_counter_ns() - start) / 1e6
        emit("init", init_ms=init_ms, rss_before_mb=rss_before, versions=versions)

        stage = "first inference"
        x = np.random.default_rng(0).standard_normal(job["input_shape"]).astype(np.float32)
        start = time.perf_counter_ns()
        run(x)
        emit("first", first_ms=(time.perf_counter_ns() - start) / 1e6)

        stage = "warm-up"
        for _ in range(job["warmup"]):
            run(x)

        stage = "timed runs"
        samples: list[float] = []
        energy_spec = job.get("energy")
        sampler = Sampler(energy_spec).__enter__()
        if energy_spec and energy_spec.get("stream"):
            _wait_for_sample(sampler)
        before = stream_reading(sampler, energy_spec)
        window_start = time.perf_counter()
        sustained, chunk_s = job.get("sustained_s"), job.get("chunk_s", 2.0)
        chunk_start, chunk_first = window_start, 0
        while True:
            t0 = time.perf_counter_ns()
            run(x)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
            elapsed = time.perf_counter() - window_start
            n = len(samples)
            if sustained:  # run continuously; one chunk event (latency + temperature) per chunk_s
                if time.perf_counter() - chunk_start >= chunk_s or elapsed >= sustained:
                    chunk = sorted(samples[chunk_first:])
                    emit("chunk", t=round(elapsed, 3), n=len(chunk), median_ms=chunk[len(chunk) // 2],
                         temp_c=hottest_c(job.get("thermal_root", "/sys/class/thermal")))  # fmt: skip
                    chunk_start, chunk_first = time.perf_counter(), n
                if elapsed >= sustained:
                    break
                continue
            if n >= job["max_runs"] or elapsed >= job["max_time"]:
                break
            if n >= job["min_runs"] and elapsed >= job["min_time"]:
                break
            target = job.get("ci_target")
            if target and n % 10 == 0 and median_ci_halfwidth(samples) <= target:
                break  # early stop: the median is already known precisely enough
        window_end = time.perf_counter()
        if energy_spec and energy_spec.get("stream"):
            _wait_for_sample(sampler, after=window_end)
        after = stream_reading(sampler, energy_spec)
        sampler.__exit__()
        emit(
            "window",
            start=window_start,
            end=window_end,
            n=len(samples),
            energy={"before": before, "after": after, "samples": sampler.samples} if energy_spec else None,
        )
        emit("samples", ms=samples)

        if energy_spec:
            stage = "idle window"
            idle_s = min(window_end - window_start, job.get("idle_max", 10.0))
            with Sampler(energy_spec) as idle_sampler:
                if energy_spec.get("stream"):
                    _wait_for_sample(idle_sampler)
                idle_before = stream_reading(idle_sampler, energy_spec)
                time.sleep(idle_s)
                if energy_spec.get("stream"):
                    _wait_for_sample(idle_sampler, after=time.perf_counter())
                idle_after = stream_reading(idle_sampler, energy_spec)
            emit(
                "idle",
                seconds=idle_s,
                energy={"before": idle_before, "after": idle_after, "samples": idle_sampler.samples},
            )
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
