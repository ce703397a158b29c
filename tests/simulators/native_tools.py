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
    p.add_argument("--input_layer", default="")
    p.add_argument("--input_layer_shape", default="")
    p.add_argument("--input_layer_value_range", default="")
    args, _unknown = p.parse_known_args(argv)
    info = args.sim_format == "info"
    # where the real builds log: the oldest everything to stderr, later ones "INFO: " lines to stdout
    say = (lambda text: print(f"INFO: {text}", flush=True)) if info else (lambda text: log(text))
    say("STARTING!")
    say(f"Min num runs: [{args.num_runs}]")
    say(f"Num threads: [{args.num_threads}]")
    say(f"Graph: [{args.graph}]")
    for flag, title in (("input_layer", "Input layers"), ("input_layer_shape", "Input shapes"),
                        ("input_layer_value_range", "Input value ranges")):  # fmt: skip
        if getattr(args, flag):
            say(f"{title}: [{getattr(args, flag)}]")
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
    plain = tfl.Interpreter(
        model_path=args.graph, experimental_op_resolver_type=tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    ops = plain._get_ops_details()  # noqa: SLF001 - the model's own nodes (no delegate node)
    unsupported = xnnpack_unsupported()
    if args.use_xnnpack != "false":
        taken = [op["op_name"] not in unsupported for op in ops]
        partitions = sum(1 for k, t in enumerate(taken) if t and (k == 0 or not taken[k - 1]))
        log("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")  # the runtime's own logger: stderr
        log(
            f"INFO: Replacing {sum(taken)} out of {len(ops)} node(s) with delegate (TfLiteXNNPackDelegate) node, "
            f"yielding {partitions} partitions."
        )
    say(f"The input model file size (MB): {Path(args.graph).stat().st_size / 2**20:.4f}")
    say(f"Initialized session in {init_us / 1e3:.3f}ms.")
    feeds = input_values(interpreter, args)
    if isinstance(feeds, str):
        print(f"ERROR: {feeds}", file=sys.stderr)
        return 1
    x = feeds[0][1]

    def run():
        for index, value in feeds:
            interpreter.set_tensor(index, value)
        interpreter.invoke()

    busy = Busy()
    say(
        f"Running benchmark for at least {args.warmup_runs} iterations and at least {args.warmup_min_secs} seconds "
        f"but terminate if exceeding {args.max_secs} seconds."
    )
    try:
        warm = run_phase(busy, run, "warmup", args.warmup_runs, args.warmup_min_secs, args.max_secs)
    except RuntimeError as exc:  # a kernel failed (an index out of bounds): TFLite's error reporter, then the tool's
        for line in str(exc).replace("Node number", "\nNode number").splitlines():
            log(f"ERROR: {line.strip()}")
        log("ERROR: Benchmarking failed.")
        return 1
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
    if args.enable_op_profiling == "true":
        delegated = unsupported if args.use_xnnpack != "false" else None
        table = op_profile(args.graph, x, max(args.num_threads, 1), delegated, info)
        if info:
            print(table, flush=True)
        else:
            log(table)
    peak = _peak_mb()
    if info:
        say("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE")
        say(f"Memory footprint delta from the start of the tool (MB): init={peak * 0.6:.4g} overall={peak * 0.8:.4g}")
        say(f"Overall peak memory footprint (MB) via periodic monitoring: {peak:.4g}")
    else:
        say(f"Peak memory footprint (MB): init={peak * 0.6:.4g} overall={peak:.4g}")
    return 0


def input_values(interpreter, args) -> list[tuple[int, np.ndarray]] | str:
    """(tensor index, value) per input: random floats, random integers within
    ``--input_layer_value_range`` (else 0..99, as the tool fills int32 inputs); the error the tool
    stops with when ``--input_layer`` and ``--input_layer_shape`` disagree in count or a shape in
    rank (a misnamed layer: a warning)."""
    details = interpreter.get_input_details()
    ranges = {}
    for item in filter(None, args.input_layer_value_range.split(":")):
        name, low, high = item.split(",")
        ranges[name] = (int(low), int(high))
    if args.input_layer:  # benchmark_tflite_model.cc / benchmark_utils: the real tool's messages
        names = args.input_layer.split(",")
        shapes = args.input_layer_shape.split(":")
        if len(names) != len(shapes):
            return (
                f"The number of items in --input_layer_shape ({args.input_layer_shape}, with {len(shapes)} items) "
                f"must match the number of items in --input_layer ({args.input_layer}, with {len(names)} items). "
                "For example --input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20"
            )
        for i, (name, shape, d) in enumerate(zip(names, shapes, details, strict=False)):
            if name != d["name"]:
                log(f"WARNING: Tensor # {i} is named {d['name']} but flags call it {name}")
            if len(shape.split(",")) != len(d["shape"]):
                return f"Input tensor #{i} should have {len(d['shape'])} dimensions!"
    rng = np.random.default_rng(0)
    values = []
    for d in details:
        if np.issubdtype(d["dtype"], np.integer):
            low, high = ranges.get(d["name"], (0, 99))
            values.append((d["index"], rng.integers(low, high + 1, d["shape"]).astype(d["dtype"])))
        else:
            values.append((d["index"], rng.standard_normal(d["shape"]).astype(d["dtype"])))
    return values


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def xnnpack_unsupported() -> set[str]:
    """``sim/xnnpack_unsupported.json``: builtin op names the simulated XNNPACK leaves to TFLite."""
    import json

    path = SIM / "xnnpack_unsupported.json"
    return set(json.loads(path.read_text())) if path.exists() else set()


def op_times(graph: str, x: np.ndarray, threads: int, runs: int = 15) -> list[tuple[str, list[str], float]]:
    """(op name, output tensor names, median ms) per node, in execution order: each node is cut out
    of the model as a one-op model, fed the real intermediate tensors and timed in turn."""
    import copy

    from ai_edge_litert import interpreter as tfl
    from ai_edge_litert.tools import flatbuffer_utils

    reference = tfl.Interpreter(
        model_path=graph,
        experimental_op_resolver_type=tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], x)
    reference.invoke()
    model = flatbuffer_utils.read_model(graph)
    sub = model.subgraphs[0]
    names = [op["op_name"] for op in reference._get_ops_details()]  # noqa: SLF001
    calls = []
    for op in sub.operators:
        inputs = [t for t in op.inputs if t >= 0 and model.buffers[sub.tensors[t].buffer].data is None]
        one = copy.copy(model)
        graph_copy = copy.copy(sub)
        graph_copy.operators, graph_copy.inputs, graph_copy.outputs = [op], inputs, list(op.outputs)
        one.subgraphs, one.signatureDefs = [graph_copy], []
        part = tfl.Interpreter(
            model_content=bytes(flatbuffer_utils.convert_object_to_bytearray(one)),
            num_threads=threads,
            experimental_op_resolver_type=tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        part.allocate_tensors()
        feeds = [(t, reference.get_tensor(t)) for t in inputs]
        outputs = [sub.tensors[t].name.decode() for t in op.outputs]
        calls.append((part, feeds, outputs))
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for k, (part, feeds, _) in enumerate(calls):
            for t, value in feeds:
                part.set_tensor(t, value)
            start = time.perf_counter_ns()
            part.invoke()
            times[k].append((time.perf_counter_ns() - start) / 1e6)
    return [(names[k], calls[k][2], statistics.median(times[k])) for k in range(len(calls))]


# The kernel names the simulated XNNPACK reports per TFLite op (as XNNPACK's profiler does); a PAD
# is folded into the convolution after it and reports nothing.
XNNPACK_KERNELS = {
    "CONV_2D": "Convolution (NHWC, F32) IGEMM",
    "DEPTHWISE_CONV_2D": "Convolution (NHWC, F32) DWConv",
    "FULLY_CONNECTED": "Fully Connected (NC, F32) GEMM",
    "TRANSPOSE": "Transpose (ND, X32) Transpose",
    "MEAN": "Mean (ND) Reduce2",
    "RESHAPE": "Static Reshape (NC)",
    "MUL": "Multiply (ND)",
}
FOLDED = {"PAD"}


def op_profile(graph: str, x: np.ndarray, threads: int, delegated: set[str] | None, info: bool) -> str:
    """The "Run Order" table as TFLite's stats calculator prints it; without XNNPACK (``delegated``
    None) one row per node. With XNNPACK (``delegated`` = the op names it does not take), nodes it
    leaves run as themselves, and the nodes it takes are shown as newer builds (``info``) show them,
    one row per XNNPACK operator named ``Delegate/<kernel>:<index in its partition>`` (rows are keyed
    by name, so same-named operators of several partitions share a row, called once per each), or
    as older builds do, one ``TfLiteXNNPackDelegate`` node per partition numbered after the model's."""
    per_op = op_times(graph, x, threads)
    rows: list[list] = []  # [node type, ms, name, times called]
    by_name: dict[str, list] = {}
    group, delegates, index, carried = None, 0, 0, 0.0  # the current partition's row (older builds), ...
    for k, (name, outputs, ms) in enumerate(per_op):
        if delegated is not None and name not in delegated:
            if group is None:
                group = ["TfLiteXNNPackDelegate", 0.0, None, 1]
                delegates += 1
                index = 0
                if not info:
                    rows.append(group)
            if not info:
                group[1] += ms
                group[2] = f"[{', '.join(outputs)}]:{len(per_op) + delegates - 1}"
            elif name in FOLDED:
                carried += ms
            else:
                kernel = XNNPACK_KERNELS.get(name, f"{name.title().replace('_', ' ')} (ND)")
                row_name = f"Delegate/{kernel}:{index}"
                index += 1
                if row_name in by_name:
                    by_name[row_name][1] += ms + carried
                    by_name[row_name][3] += 1
                else:
                    by_name[row_name] = [kernel, ms + carried, row_name, 1]
                    rows.append(by_name[row_name])
                carried = 0.0
            continue
        group = None
        rows.append([name, ms, f"[{', '.join(outputs)}]:{k}", 1])
    if SIM.is_dir():  # the truth the tests compare the parsed profile with: one line per profiled run
        import json

        with open(SIM / "op_profiles.jsonl", "a") as log:
            log.write(json.dumps({"xnnpack": delegated is not None, "ops": [[n, ms] for n, _, ms in per_op]}) + "\n")
    total = sum(row[1] for row in rows) or 1.0
    bar = "=" * 30
    out = [("INFO: " if info else "") + "Operator-wise Profiling Info for Regular Benchmark Runs:",
           f"{bar} Run Order {bar}"]  # fmt: skip
    if info:
        out.append(f"{'[node type]':>24}{'[first]':>9}{'[avg ms]':>9}{'[%]':>8}{'[cdf%]':>8}{'[mem KB]':>10}"
                   f"{'[times called]':>9}\t[Name]")  # fmt: skip
    else:
        widths = (("[node type]", 24), ("[start]", 17), ("[first]", 9), ("[avg ms]", 9), ("[%]", 8), ("[cdf%]", 8),
                  ("[mem KB]", 10), ("[times called]", 9))  # fmt: skip
        out.append("\t" + "\t".join(f"{c:>{w}}" for c, w in widths) + "\t[Name]")
    cdf, start = 0.0, 0.0
    for node_type, ms, name, called in rows:
        share, avg = ms / total * 100, ms / called  # [avg ms]: per call
        cdf += share
        if info:
            out.append(f"{node_type:>24}{avg:>9.3f}{avg:>9.3f}{share:>7.3f}%{cdf:>7.3f}%{0:>10.3f}{called:>9}\t{name}")
        else:
            out.append(f"\t{node_type:>24}\t{start:>17.3f}\t{avg:>9.3f}\t{avg:>9.3f}\t{share:>7.3f}%\t{cdf:>7.3f}%"
                       f"\t{0:>10.3f}\t{called:>9}\t{name}")  # fmt: skip
        start += ms
    out += ["", f"{bar} Top by Computation Time {bar}", "", f"Number of nodes executed: {len(rows)}",
            f"Timings (microseconds): count=1 curr={int(total * 1e3)}", "Memory (bytes): count=0",
            f"{len(rows)} nodes observed", ""]  # fmt: skip
    return "\n".join(out)


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
    p.add_argument("-p", dest="profile", help="profile file prefix (the session profiler's JSON)")
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
    if args.profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = args.profile
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
    if args.profile:
        session.end_profiling()  # writes <prefix>_<timestamp>.json, as the real tool does
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
