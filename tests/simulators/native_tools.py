"""SIMULATION: stand-ins for TFLite's ``benchmark_model`` and ``onnxruntime_perf_test``.

A ``sim/throttle.json`` makes the phone heat up: after ``after_s`` every inference is ``slowdown``
times slower and ``dumpsys thermalservice`` reports ``status``.

They take the real tools' flags, really run the model (LiteRT interpreter / onnxruntime on this
machine), and print the real tools' output formats: ``benchmark_model`` in the older plain
format or the newer ``INFO:``-prefixed one (``--sim-format=plain|info``), ``perf_test`` in its
own. Each inference adds its duration to ``$SIM_ROOT/sim/busy_ns`` (the simulated power monitor
charges extra power for busy time) and is logged in ``sim/invokes.log`` as ``pid phase ns``.

Usage (the tests write a wrapper script per tool and point the device profile at it):
    python native_tools.py benchmark_model --sim-format=info --graph=m.tflite --num_runs=50 ...
    python native_tools.py onnxruntime_perf_test -m times -r 50 -x 1 -e cpu -I -s m.onnx
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SIM = Path(os.environ.get("SIM_ROOT", ".")) / "sim"


def throttle_slowdown() -> float:
    """``sim/throttle.json`` ({"after_s", "slowdown", "status"}; "start" is set by the first inference):
    every inference is ``slowdown`` times slower from ``after_s`` seconds after that."""
    import json

    path = SIM / "throttle.json"
    if not path.exists():
        return 1.0
    spec = json.loads(path.read_text())
    if "start" not in spec:  # the phone starts heating with the first inference
        spec["start"] = time.monotonic()
        path.write_text(json.dumps(spec))
    return spec["slowdown"] if time.monotonic() >= spec["start"] + spec["after_s"] else 1.0


class Busy:
    """Time each inference; report busy time to the simulated power monitor."""

    def __init__(self):
        self.log = open(SIM / "invokes.log", "a") if SIM.is_dir() else None

    def timed(self, run, phase: str) -> float:
        start = time.perf_counter_ns()
        run()
        slowdown = throttle_slowdown()
        if slowdown > 1:  # a hot phone: its clocks are capped, every inference takes longer
            time.sleep((time.perf_counter_ns() - start) / 1e9 * (slowdown - 1))
        ns = time.perf_counter_ns() - start
        if self.log:
            busy = SIM / "busy_ns"
            total = int(busy.read_text() or 0) + ns
            tmp = SIM / f".busy.{os.getpid()}"
            tmp.write_text(str(total))
            os.replace(tmp, busy)
            self.log.write(f"{os.getpid()} {phase} {ns}\n")
            self.log.flush()
        return ns / 1e3  # us


def run_phase(busy: Busy, run, phase: str, min_runs: int, min_secs: float, max_secs: float) -> list[float]:
    times, start = [], time.perf_counter()
    while True:
        times.append(busy.timed(run, phase))
        elapsed = time.perf_counter() - start
        if (len(times) >= min_runs and elapsed >= min_secs) or elapsed >= max_secs:
            return times


def stats_line(times: list[float], info: bool, first: float) -> str:
    ordered = sorted(times)
    fields = (
        f"count={len(times)} first={int(first)} curr={int(times[-1])} min={int(ordered[0])} "
        f"max={int(ordered[-1])} avg={statistics.fmean(times):g} std={int(statistics.pstdev(times))}"
    )
    if info:
        pick = lambda q: int(ordered[min(len(ordered) - 1, int(q * len(ordered)))])  # noqa: E731
        fields += f" p5={pick(0.05)} median={pick(0.5)} p95={pick(0.95)}"
    return fields


def benchmark_model(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="benchmark_model")
    p.add_argument("--sim-format", choices=["plain", "info"], default="info")
    p.add_argument("--graph", required=True)
    p.add_argument("--num_threads", type=int, default=-1)
    p.add_argument("--num_runs", type=int, default=50)
    p.add_argument("--warmup_runs", type=int, default=1)
    p.add_argument("--min_secs", type=float, default=1.0)
    p.add_argument("--max_secs", type=float, default=150.0)
    p.add_argument("--warmup_min_secs", type=float, default=0.5)
    p.add_argument("--use_xnnpack", default="true")
    p.add_argument("--enable_op_profiling", default="false")
    args, _unknown = p.parse_known_args(argv)
    info = args.sim_format == "info"
    say = (lambda text: print(f"INFO: {text}", flush=True)) if info else (lambda text: print(text, flush=True))
    say("STARTING!")
    say(f"Min num runs: [{args.num_runs}]")
    say(f"Num threads: [{args.num_threads}]")
    say(f"Graph: [{args.graph}]")
    if not Path(args.graph).is_file():
        print(f"ERROR: File [{args.graph}] does not exist", file=sys.stderr)
        return 1
    from ai_edge_litert import interpreter as tfl

    start = time.perf_counter()
    kwargs = {"model_path": args.graph, "num_threads": max(args.num_threads, 1)}
    if args.use_xnnpack == "false":
        kwargs["experimental_op_resolver_type"] = tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = tfl.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    init_us = (time.perf_counter() - start) * 1e6
    say(f"Loaded model {args.graph}")
    if args.use_xnnpack != "false":
        nodes = len(interpreter._get_ops_details())  # noqa: SLF001
        say("Created TensorFlow Lite XNNPACK delegate for CPU.")
        say(
            f"Replacing {nodes} out of {nodes} node(s) with delegate (TfLiteXNNPackDelegate) node, "
            "yielding 1 partitions."
        )
    say(f"The input model file size (MB): {Path(args.graph).stat().st_size / 2**20:.4f}")
    say(f"Initialized session in {init_us / 1e3:.3f}ms.")
    detail = interpreter.get_input_details()[0]
    x = np.random.default_rng(0).standard_normal(detail["shape"]).astype(np.float32)

    def run():
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()

    busy = Busy()
    say(
        f"Running benchmark for at least {args.warmup_runs} iterations and at least {args.warmup_min_secs} seconds "
        f"but terminate if exceeding {args.max_secs} seconds."
    )
    warm = run_phase(busy, run, "warmup", args.warmup_runs, args.warmup_min_secs, args.max_secs)
    say(stats_line(warm, info, warm[0]))
    say(
        f"Running benchmark for at least {args.num_runs} iterations and at least {args.min_secs} seconds "
        f"but terminate if exceeding {args.max_secs} seconds."
    )
    timed = run_phase(busy, run, "timed", args.num_runs, args.min_secs, args.max_secs)
    say(stats_line(timed, info, timed[0]))
    say(
        f"Inference timings in us: Init: {int(init_us)}, First inference: {int(warm[0])}, "
        f"Warmup (avg): {statistics.fmean(warm):g}, Inference (avg): {statistics.fmean(timed):g}"
    )
    peak = _peak_mb()
    if info:
        say("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE")
        say(f"Memory footprint delta from the start of the tool (MB): init={peak * 0.6:.4g} overall={peak * 0.8:.4g}")
        say(f"Overall peak memory footprint (MB) via periodic monitoring: {peak:.4g}")
    else:
        say(f"Peak memory footprint (MB): init={peak * 0.6:.4g} overall={peak:.4g}")
    return 0


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def perf_test(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="onnxruntime_perf_test")
    p.add_argument("-m", default="duration")
    p.add_argument("-r", type=int, default=1000)
    p.add_argument("-t", type=float, default=10.0)
    p.add_argument("-x", type=int, default=0)
    p.add_argument("-e", default="cpu")
    p.add_argument("-I", action="store_true")
    p.add_argument("-s", action="store_true")
    p.add_argument("model")
    p.add_argument("result", nargs="?")
    args = p.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"failed to load model: {args.model}", file=sys.stderr)
        return 255
    import onnxruntime as ort

    start = time.perf_counter()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.x
    session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    created = time.perf_counter() - start
    print(f"Session creation time cost: {created:g} s", flush=True)
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    busy = Busy()
    run = lambda: session.run(None, {inp.name: x})  # noqa: E731
    first = busy.timed(run, "warmup") / 1e3
    print(f"First inference time cost: {first:g} ms", flush=True)
    if args.m == "times":
        times = run_phase(busy, run, "timed", args.r, 0.0, 1e9)
    else:
        times = run_phase(busy, run, "timed", 1, args.t, args.t)
    seconds = [t / 1e6 for t in times]
    ordered = sorted(seconds)
    print(f"Total inference time cost: {sum(seconds):g} s")
    print(f"Total inference requests: {len(seconds)}")
    print(f"Average inference time cost: {statistics.fmean(seconds) * 1e3:g} ms")
    print(f"Total inference run time: {sum(seconds):g} s")
    print(f"Number of inferences per second: {len(seconds) / sum(seconds):g}")
    print(f"Avg CPU usage: {98} %")
    print(f"Peak working set size: {int(_peak_mb() * 2**20)} bytes")
    if args.s:
        print(f"Min Latency: {ordered[0]:g} s")
        print(f"Max Latency: {ordered[-1]:g} s")
        for q in (50, 90, 95, 99, 999):
            frac = q / (1000 if q == 999 else 100)
            print(f"P{q} Latency: {ordered[min(len(ordered) - 1, int(frac * len(ordered)))]:g} s")
    return 0


if __name__ == "__main__":
    tool = sys.argv[1]
    sys.exit({"benchmark_model": benchmark_model, "onnxruntime_perf_test": perf_test}[tool](sys.argv[2:]))
