"""SIMULATION: stand-ins for TFLite's ``benchmark_model`` and ``onnxruntime_perf_test``.

A ``sim/throttle.json`` makes the phone heat up: after ``after_s`` every inference is ``slowdown``
times slower and ``dumpsys thermalservice`` reports ``status``.

A ``sim/accelerators.json`` gives the phone accelerators (see "the simulated accelerators" below):
``benchmark_model`` takes ``--use_gpu``, ``--gpu_precision_loss_allowed``, ``--gpu_backend``,
``--use_nnapi``, ``--nnapi_accelerator_name``, ``--disable_nnapi_cpu`` and ``--use_hexagon``,
``perf_test`` takes ``-e nnapi|xnnpack|qnn|...``, ``-i`` provider options and ``-v``; both print what
the real builds print for a delegation that is full, partial, refused (no node taken) or failed,
still run the model on the CPU here, and add a per-partition hand-over to each inference.

They take the real tools' flags, really run the model (LiteRT interpreter / onnxruntime on this
machine), and print the real tools' output formats: ``benchmark_model`` in the older plain
format or the newer ``INFO:``-prefixed one (``--sim-format=plain|info``), ``perf_test`` in its
own. Each inference adds its duration to ``$SIM_ROOT/sim/busy_ns`` (the simulated power monitor
charges extra power for busy time) and is logged in ``sim/invokes.log`` as ``pid phase ns``.

``run_eval`` stands in for TFLite's inference_diff evaluation tool (a delegate's outputs against the
CPU reference's).

Usage (the tests write a wrapper script per tool and point the device profile at it):
    python native_tools.py benchmark_model --sim-format=info --graph=m.tflite --num_runs=50 ...
    python native_tools.py benchmark_model --graph=m.tflite --use_nnapi=true --disable_nnapi_cpu=true
    python native_tools.py onnxruntime_perf_test -m times -r 50 -x 1 -e cpu -I -s m.onnx
    python native_tools.py onnxruntime_perf_test -e nnapi -i NNAPI_FLAG_CPU_DISABLED -v -m times -r 50 m.onnx
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
    # as the real tool: whole microseconds per run (tflite::Stat<int64_t>), every statistic from them,
    # so the average never exceeds the maximum
    times = [int(t) for t in times]
    ordered = sorted(times)
    fields = (
        f"count={len(times)} first={int(first)} curr={times[-1]} min={ordered[0]} "
        f"max={ordered[-1]} avg={statistics.fmean(times):g} std={int(statistics.pstdev(times))}"
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
    for flag in DELEGATE_FLAGS:  # None: not given (the real tool logs only the parameters given)
        p.add_argument(f"--{flag}", default=None)
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
    config = accelerators()
    log_delegate_params(args, config, say)
    if not Path(args.graph).is_file():
        print(f"ERROR: File [{args.graph}] does not exist", file=sys.stderr)
        return 1
    from ai_edge_litert import interpreter as tfl

    plain = tfl.Interpreter(
        model_path=args.graph, experimental_op_resolver_type=tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    ops = plain._get_ops_details()  # noqa: SLF001 - the model's own nodes (no delegate node)
    start = time.perf_counter()
    kwargs = {"model_path": args.graph, "num_threads": max(args.num_threads, 1)}
    explicit = [name for name, flag in EXPLICIT_DELEGATES if is_true(getattr(args, flag))]
    if args.use_xnnpack == "false" or explicit:  # an explicitly applied delegate replaces the default XNNPACK one
        kwargs["experimental_op_resolver_type"] = tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = tfl.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    init_us = (time.perf_counter() - start) * 1e6
    say(f"Loaded model {args.graph}")
    overhead_ms, applied = 0.0, False
    if any(getattr(args, flag) is not None for flag in DELEGATE_FLAGS):
        outcome = apply_delegates(args, config, [op["op_name"] for op in ops], say)
        if outcome is None:
            return 1
        overhead_ms, applied = outcome
    unsupported = xnnpack_unsupported()
    if args.use_xnnpack != "false" and not applied:
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
        if overhead_ms:  # the simulated accelerators: a hand-over per partition per inference
            time.sleep(overhead_ms / 1e3)

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
        delegated = unsupported if args.use_xnnpack != "false" and not applied else None
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


# --- the simulated accelerators (SIMULATION) ----------------------------------------------------
#
# ``sim/accelerators.json`` says which accelerators the simulated device has and how each behaves:
#
#   {"gpu":     {"create": true, "apply_error": null, "unsupported_ops": ["MEAN"], "overhead_ms": 1.0},
#    "nnapi":   {"devices": ["google-edgetpu", "nnapi-reference"], "unsupported_ops": ["MEAN"],
#                "undelegatable_ops": [], "overhead_ms": 0.5, "reference_ms_per_node": 0.05,
#                "unsupported_op_types": ["ReduceMean"]},
#    "hexagon": {"create": false},
#    "xnnpack": {"unsupported_op_types": ["Gemm"]},          # onnxruntime's execution providers (perf_test)
#    "qnn":     {"unsupported_op_types": [], "overhead_ms": 0.3}}
#
# An accelerator missing from the file is one the device does not have. ``create: false``: the
# delegate cannot be created (benchmark_model's provider warns and the run goes on without it).
# ``apply_error``: it is created but fails to prepare (the real failure lines, the run fails).
# ``unsupported_ops`` (TFLite builtin names): nodes the accelerator leaves to the CPU; for NNAPI the
# nodes no real accelerator among ``devices`` supports, which the ``nnapi-reference`` CPU
# implementation takes unless --disable_nnapi_cpu=true (or --nnapi_accelerator_name) excludes it;
# ``undelegatable_ops``: nodes the NNAPI delegate cannot express at all. ``unsupported_op_types``
# (ONNX op types): the same for onnxruntime's execution providers. A partition is approximated as a
# maximal run of delegated nodes in execution order (the runtimes group by graph connectivity); the
# GPU delegate keeps only its largest partition and NNAPI its 3 largest (their default
# max_delegated_partitions). Latency: the model still runs on LiteRT's / onnxruntime's CPU kernels
# here; a delegated run adds ``overhead_ms`` per partition per inference (the hand-over between the
# CPU and the accelerator), and NNAPI ``reference_ms_per_node`` per node on nnapi-reference, slept
# inside the timed call (so it is busy time too). Every invocation's accelerator flags and outcome go
# to ``sim/delegates.log`` (one JSON line per process, with its pid).

DELEGATE_FLAGS = ("use_gpu", "gpu_precision_loss_allowed", "gpu_backend", "use_nnapi", "nnapi_accelerator_name",
                  "disable_nnapi_cpu", "use_hexagon")  # fmt: skip
EXPLICIT_DELEGATES = (("GPU", "use_gpu"), ("NNAPI", "use_nnapi"), ("Hexagon", "use_hexagon"))
DEFAULT_OVERHEAD_MS = {"gpu": 1.0, "nnapi": 0.5, "hexagon": 0.5, "xnnpack": 0.05, "qnn": 0.3}
REFERENCE = "nnapi-reference"  # NNAPI's CPU implementation
DELEGATE_KERNELS = {"GPU": "TfLiteGpuDelegateV2", "NNAPI": "TfLiteNnapiDelegate", "Hexagon": "TfLiteHexagonDelegate"}


def is_true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def accelerators() -> dict:
    """``sim/accelerators.json`` (see above); {} when the device has none."""
    import json

    path = SIM / "accelerators.json"
    return json.loads(path.read_text()) if path.exists() else {}


def delegates_log(record: dict) -> None:
    """One line per process in ``sim/delegates.log``: what ran, for the tests to compare with what was parsed."""
    import json

    if SIM.is_dir():
        with open(SIM / "delegates.log", "a") as out:
            out.write(json.dumps({"pid": os.getpid(), **record}) + "\n")


def log_delegate_params(args, config: dict, say) -> None:
    """The delegate providers' LogParams (gpu/nnapi/hexagon_delegate_provider.cc): a parameter is
    logged when it was given; the NNAPI devices whenever NNAPI is used."""
    flag = lambda name: int(is_true(getattr(args, name)))  # noqa: E731
    if args.use_gpu is not None:
        say(f"Use gpu: [{flag('use_gpu')}]")
    if args.gpu_precision_loss_allowed is not None:
        say(f"Allow lower precision in gpu: [{flag('gpu_precision_loss_allowed')}]")
    if args.gpu_backend is not None:
        say(f"GPU backend: [{args.gpu_backend}]")
    if args.use_nnapi is not None:
        say(f"Use NNAPI: [{flag('use_nnapi')}]")
        if is_true(args.use_nnapi):
            if args.nnapi_accelerator_name is not None:
                say(f"NNAPI accelerator name: [{args.nnapi_accelerator_name}]")
            if devices := nnapi_devices(config):
                say(f"NNAPI accelerators available: [{','.join(devices)}]")
            if args.disable_nnapi_cpu is not None:
                say(f"Disable NNAPI cpu: [{flag('disable_nnapi_cpu')}]")
    if args.use_hexagon is not None:
        say(f"Use Hexagon: [{flag('use_hexagon')}]")


def nnapi_devices(config: dict) -> list[str]:
    return list(config["nnapi"].get("devices", [REFERENCE])) if "nnapi" in config else []


def runs_of(taken: list[bool]) -> list[list[int]]:
    """The partitions: maximal runs of taken nodes in execution order (node indices)."""
    runs: list[list[int]] = []
    for k, t in enumerate(taken):
        if t:
            if k == 0 or not taken[k - 1]:
                runs.append([])
            runs[-1].append(k)
    return runs


def keep_largest(runs: list[list[int]], most: int) -> list[list[int]]:
    """The ``most`` largest partitions (earlier first among equals), in execution order."""
    kept = sorted(sorted(runs, key=lambda r: (-len(r), r[0]))[:most], key=lambda r: r[0])
    return kept


def apply_delegates(args, config: dict, op_names: list[str], say) -> tuple[float, bool] | None:
    """Create and apply the delegates the flags ask for, printing what benchmark_model and the
    runtime print (benchmark_tflite_model.cc Init, delegate_provider.cc, subgraph.cc, the delegates).
    Returns (overhead ms per inference, whether a delegate was applied), or None when the run fails."""
    flags = {f: getattr(args, f) for f in DELEGATE_FLAGS if getattr(args, f) is not None}
    record: dict = {"tool": "benchmark_model", "flags": flags, "delegates": {}}
    if args.nnapi_accelerator_name is not None and not is_true(args.use_nnapi):
        named = args.nnapi_accelerator_name
        log(f"WARNING: `--use_nnapi=true` must be set for the provided NNAPI accelerator ({named}) to be used.")
    created = []
    for name, flag in EXPLICIT_DELEGATES:
        if not is_true(getattr(args, flag)):
            continue
        spec = config.get(name.lower())
        if spec is None or spec.get("create", True) is False:  # the provider gets no delegate: it warns, goes on
            log({"GPU": "WARNING: GPU acceleration is unsupported on this platform.",
                 "NNAPI": "WARNING: NNAPI acceleration is unsupported on this platform.",
                 "Hexagon": "WARNING: Could not create Hexagon delegate: platform may not support delegate or "
                            "required libraries are missing"}[name])  # fmt: skip
            record["delegates"][name] = {"created": False}
            continue
        log(f"INFO: Created TensorFlow Lite delegate for {name}.")  # the delegate's own log (stderr)
        say(f"{name} delegate created.")
        created.append((name, spec))
    say(f"Going to apply {len(created)} delegates one after another.")
    nodes = len(op_names)
    owner: list[str | None] = [None] * nodes  # which delegate runs each node (None: TFLite's CPU kernels)
    plan, overhead = nodes, 0.0  # the execution plan's size (a delegate kernel replaces its partition)
    kernels = 0  # delegate kernels added so far (their nodes are numbered after the model's)
    for name, spec in created:
        free = [owner[k] is None for k in range(nodes)]
        result = {"created": True}
        record["delegates"][name] = result
        if name == "GPU":
            ok = [f and op not in set(spec.get("unsupported_ops", [])) for f, op in zip(free, op_names, strict=True)]
            runs = keep_largest(runs_of(ok), 1)  # TfLiteGpuDelegateOptionsV2Default: max_delegated_partitions 1
            taken = sum(len(r) for r in runs)
            left = [op for f, op in zip(free, op_names, strict=True) if f]
            refused = sorted({op for f, o, op in zip(free, ok, op_names, strict=True) if f and not o})
            if refused:  # model_builder.cc GetOpsToReplace: one ERROR message, its lines as they are
                log("ERROR: Following operations are not supported by GPU delegate:")
                for op in refused:
                    log(f"{op}: Operation is not supported.")
                rest = len(left) - taken
                log(f"{taken} operations will run on the GPU, and the remaining {rest} operations will run on the CPU."
                    if taken else f"No operations will run on the GPU, and all {len(left)} operations will run on the "
                    "CPU.")  # fmt: skip
        elif name == "NNAPI":
            runs, taken, result = nnapi_plan(args, spec, config, op_names, free, result)
            record["delegates"][name] = result
            if runs is None:  # the named accelerator is not on the device
                return fail_delegate(record, name, None)
        else:  # Hexagon
            ok = [f and op not in set(spec.get("unsupported_ops", [])) for f, op in zip(free, op_names, strict=True)]
            runs = runs_of(ok)
            taken = sum(len(r) for r in runs)
            log(f"INFO: TfLiteHexagonDelegate delegate: {taken} nodes delegated out of {plan} nodes with {len(runs)} "
                "partitions.")  # fmt: skip
        kernel = DELEGATE_KERNELS[name]
        if taken:
            log(f"INFO: Replacing {taken} out of {plan} node(s) with delegate ({kernel}) node, yielding {len(runs)} "
                "partitions.")  # fmt: skip
        if spec.get("apply_error") and taken:  # created, but its kernels fail to prepare: the original plan is back
            error = spec["apply_error"]
            if name == "GPU":
                log(f"ERROR: TfLiteGpuDelegate Init: {error}")
                log("INFO: Created 0 GPU delegate kernels.")
                log("ERROR: TfLiteGpuDelegate Prepare: delegate is not initialized")
            else:  # the delegate's own error; Hexagon's kernel then reports itself uninitialised
                log(f"ERROR: {error}")
                if name == "Hexagon":
                    log("ERROR: Delegate kernel was not initialized")
            log(f"ERROR: Node number {nodes + kernels} ({kernel}) failed to prepare.")  # the first new node
            log("ERROR: Restored original execution plan after delegate application failure.")
            result.update(applied=False, error=error)
            return fail_delegate(record, name, error)
        for run in runs:
            for k in run:
                owner[k] = name
        plan -= taken - len(runs)
        kernels += len(runs)
        if name == "GPU":
            if taken:
                api = "OpenGL" if args.gpu_backend == "gl" else "OpenCL"
                log(f"INFO: Initialized {api}-based API.")
            log(f"INFO: Created {len(runs)} GPU delegate kernels.")
        # benchmark_tflite_model.cc: the delegate's kernels in the execution plan
        if len(runs) == 1 and plan == 1:
            say(f"Explicitly applied {name} delegate, and the model graph will be completely executed by the delegate.")
        elif runs:
            say(f"Explicitly applied {name} delegate, and the model graph will be partially executed by the delegate "
                f"w/ {len(runs)} delegate kernels.")  # fmt: skip
        else:
            say(f"Though {name} delegate is explicitly applied, the model graph will not be executed by the delegate.")
        execution = "full" if taken == nodes else "partial" if taken else "none"
        result.update(applied=True, execution=execution, replaced=taken, total=nodes, partitions=len(runs))
        cost = spec.get("overhead_ms", DEFAULT_OVERHEAD_MS[name.lower()]) * len(runs)
        cost += spec.get("reference_ms_per_node", 0.05) * result.get("on_nnapi_reference", 0)
        overhead += cost
        result["overhead_ms"] = cost
    record["overhead_ms"] = overhead
    delegates_log(record)
    return overhead, bool(created)


def nnapi_plan(args, spec: dict, config: dict, op_names: list[str], free: list[bool], result: dict):
    """(partitions, nodes taken, record) of the NNAPI delegate (nnapi_delegate.cc): the target devices
    are the named accelerator, else every device (without nnapi-reference when --disable_nnapi_cpu);
    a node goes to a real accelerator that supports it, else to nnapi-reference when that is a
    target. At most 3 partitions (the delegate's default max_number_delegated_partitions).
    Partitions None: the named accelerator is not on the device (its failure lines are printed)."""
    devices = nnapi_devices(config)
    name = args.nnapi_accelerator_name
    if name:
        if name not in devices:
            known = ",".join(devices)
            log(f"ERROR: Could not find the specified NNAPI accelerator: {name}. Must be one of: {{{known}}}.")
            log("ERROR: Restored original execution plan after delegate application failure.")
            result.update(applied=False, error=f"no NNAPI accelerator {name}")
            return None, 0, result
        targets = [name]
    elif is_true(args.disable_nnapi_cpu):
        targets = [d for d in devices if d != REFERENCE]
    else:
        targets = devices
    accelerators_ = [d for d in targets if d != REFERENCE]
    unsupported, never = set(spec.get("unsupported_ops", [])), set(spec.get("undelegatable_ops", []))
    device = []
    for f, op in zip(free, op_names, strict=True):
        if not f or op in never:
            device.append(None)
        elif accelerators_ and op not in unsupported:
            device.append(accelerators_[0])
        elif REFERENCE in targets:
            device.append(REFERENCE)
        else:
            device.append(None)
    runs = keep_largest(runs_of([d is not None for d in device]), 3)
    kept = {k for r in runs for k in r}
    per_device: dict[str, int] = {}
    for k in sorted(kept):
        per_device[device[k]] = per_device.get(device[k], 0) + 1
    result.update(targets=targets, devices=per_device, on_nnapi_reference=per_device.get(REFERENCE, 0))
    return runs, len(kept), result


def fail_delegate(record: dict, name: str, error: str | None) -> None:
    """benchmark_tflite_model.cc: the delegate could not be applied, Init fails, the tool fails."""
    log(f"ERROR: Failed to apply {name} delegate.")
    log("ERROR: Benchmarking failed.")
    record["failed"] = f"{name}: {error}" if error else name
    delegates_log(record)
    return None


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


# perf_test's -e names -> (execution provider, the name its "not supported in this build" message uses;
# ort_test_session.cc), and whether the provider compiles its partitions into fused nodes
EXECUTION_PROVIDERS = {
    "cpu": ("CPUExecutionProvider", None, False),
    "cuda": ("CUDAExecutionProvider", "CUDA", False),
    "dnnl": ("DnnlExecutionProvider", "DNNL", False),
    "tensorrt": ("TensorrtExecutionProvider", "TensorRT", True),
    "openvino": ("OpenVINOExecutionProvider", "OpenVINO", True),
    "qnn": ("QNNExecutionProvider", "QNN", True),
    "snpe": ("SNPEExecutionProvider", "SNPE", True),
    "nnapi": ("NnapiExecutionProvider", "NNAPI", True),
    "coreml": ("CoreMLExecutionProvider", "COREML", True),
    "dml": ("DmlExecutionProvider", "DML", False),
    "acl": ("ACLExecutionProvider", "Acl", False),
    "armnn": ("ArmNNExecutionProvider", "ArmNN", False),
    "rocm": ("ROCMExecutionProvider", "ROCM", False),
    "migraphx": ("MIGraphXExecutionProvider", "MIGraphX", True),
    "xnnpack": ("XnnpackExecutionProvider", "Xnnpack", False),
    "vitisai": ("VitisAIExecutionProvider", "VitisAI", True),
    "webgpu": ("WebGpuExecutionProvider", None, False),
}
NNAPI_FLAGS = ("NNAPI_FLAG_USE_FP16", "NNAPI_FLAG_USE_NCHW", "NNAPI_FLAG_CPU_DISABLED", "NNAPI_FLAG_CPU_ONLY")
QNN_KEYS = ("backend_type", "backend_path", "profiling_level", "profiling_file_path", "rpc_control_latency", "vtcm_mb",
            "soc_model", "device_id", "htp_performance_mode", "qnn_saver_path",
            "htp_graph_finalization_optimization_mode", "qnn_context_priority", "htp_arch",
            "enable_htp_fp16_precision", "offload_graph_io_quantization", "enable_htp_spill_fill_buffer")  # fmt: skip
# OnnxRuntimeException::what() of an ORT_THROW in the perf test's session constructor (clang's
# __PRETTY_FUNCTION__, as the Android NDK prints it; the path and line depend on the build)
THROW_SITE = (
    "/onnxruntime_src/onnxruntime/test/perftest/ort_test_session.cc:{line} "
    "onnxruntime::perftest::OnnxRuntimeTestSession::OnnxRuntimeTestSession(Ort::Env &, std::random_device &, "
    "const onnxruntime::perftest::PerformanceTestConfig &, const TestModelInfo &) "
)


def ort_throw(message: str, line: int = 900) -> None:
    """main.cc: ``std::cerr << ex.what() << std::endl`` of an ORT_THROW (what() ends with the message and "\n")."""
    sys.stderr.write(THROW_SITE.format(line=line) + message + "\n\n")
    sys.stderr.flush()


def ort_log(severity: str, where: str, message: str, logger: str = "") -> None:
    """onnxruntime's default log sink (stderr): ``YYYY-MM-DD HH:MM:SS.nnnnnnnnn [S:onnxruntime:ID, file:line
    function] message``; the session logger's id is empty in perf_test, the default logger's "Default"."""
    ns = time.time_ns()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 10**9)) + f".{ns % 10**9:09d}"
    sys.stderr.write(f"{stamp} [{severity}:onnxruntime:{logger}, {where}] {message}\n")
    sys.stderr.flush()


def place_nodes(args) -> float | None:
    """SIMULATION of the execution provider ``-e`` asks for: refuse one the device's build lacks as
    ort_test_session.cc does (None), else print what onnxruntime logs about its partitioning (the
    provider's GetCapability summary where it has one, the node placement with -v, the warning
    when nodes fell back to the CPU) and return its overhead per inference (ms)."""
    import hashlib

    import onnx

    provider, build_name, compiles = EXECUTION_PROVIDERS[args.e]
    spec = accelerators().get(args.e)
    record = {"tool": "onnxruntime_perf_test", "flags": {"-e": args.e, "-i": args.options, "-v": args.verbose}}
    if spec is None or spec.get("create", True) is False:
        if build_name is None:
            ort_throw("This backend is not included in perf test runner.\n")
        else:
            ort_throw(f"{build_name} is not supported in this build\n")
        delegates_log({**record, "failed": f"{provider} not in the build"})
        return None
    tokens = args.options.split()
    if args.e == "nnapi":  # bare flag names
        if bad := [t for t in tokens if t not in NNAPI_FLAGS]:
            ort_throw("[ERROR] [NNAPI] wrong key type entered. Choose from the following runtime key options that are "
                      "available for NNAPI. ['NNAPI_FLAG_USE_FP16', 'NNAPI_FLAG_USE_NCHW', 'NNAPI_FLAG_CPU_DISABLED', "
                      "'NNAPI_FLAG_CPU_ONLY'] \n")  # fmt: skip
            delegates_log({**record, "failed": f"bad NNAPI option {bad[0]}"})
            return None
    elif args.e == "qnn":
        for token in tokens:
            key, bar, value = token.partition("|")
            if not bar or not key or not value:
                ort_throw("Use a '|' to separate the key and value for the run-time option you are trying to use.")
                delegates_log({**record, "failed": f"bad QNN option {token}"})
                return None
            if key not in QNN_KEYS:
                ort_throw(f"Wrong key type entered. Choose from options: {list(QNN_KEYS)}")
                delegates_log({**record, "failed": f"bad QNN option {key}"})
                return None
    model = onnx.load(args.model)
    nodes = list(model.graph.node)  # ONNX keeps them in topological order
    unsupported = set(spec.get("unsupported_op_types", []))
    taken = [node.op_type not in unsupported for node in nodes]
    if args.e == "nnapi" and "NNAPI_FLAG_CPU_DISABLED" in tokens and spec.get("devices") == [REFERENCE]:
        taken = [False] * len(nodes)  # only NNAPI's own CPU implementation, and that is excluded
    runs = runs_of(taken)
    supported = sum(taken)
    model_hash = int(hashlib.sha1(Path(args.model).read_bytes()).hexdigest()[:15], 16)
    if args.e == "nnapi":  # LOGS_DEFAULT: a warning when the graph is split, else info
        severity = "W" if len(runs) > 1 else "I"
        if severity == "W" or args.verbose:
            ort_log(severity, "nnapi_execution_provider.cc:245 GetCapability",
                    f"NnapiExecutionProvider::GetCapability, number of partitions supported by NNAPI: {len(runs)} "
                    f"number of nodes in the graph: {len(nodes)} number of nodes supported by NNAPI: {supported}",
                    logger="Default")  # fmt: skip
    elif args.e == "qnn" and args.verbose:  # the session's logger, info
        summary = f"Number of partitions supported by QNN EP: {len(runs)}"
        if supported:  # qnn_execution_provider.cc: no supported node -> only the 0
            summary += f", number of nodes in the graph: {len(nodes)}, number of nodes supported by QNN: {supported}"
        ort_log("I", "qnn_execution_provider.cc:1152 GetCapability", summary)
    placed: dict[str, list[str]] = {}
    if compiles:  # each partition becomes one fused node
        prefix = {"nnapi": "Nnapi", "qnn": "QNN", "coreml": "CoreML"}.get(args.e, args.e.upper())
        for k, _ in enumerate(runs):
            fused = f"{prefix}_{model_hash}_{k}"
            placed.setdefault(provider, []).append(f"{fused} ({provider}_{fused}_{k})")
    else:
        for node, t in zip(nodes, taken, strict=True):
            if t:
                placed.setdefault(provider, []).append(f"{node.op_type} ({node.name})")
    for node, t in zip(nodes, taken, strict=True):
        if not t:
            placed.setdefault("CPUExecutionProvider", []).append(f"{node.op_type} ({node.name})")
    where = "session_state.cc:{} VerifyEachNodeIsAssignedToAnEp"
    if args.verbose:
        ort_log("V", where.format(1598), "Node placements")
        if len(placed) == 1:
            [(only, names)] = placed.items()
            ort_log("V", where.format(1601), f" All nodes placed on [{only}]. Number of nodes: {len(names)}")
        else:
            for name, names in placed.items():
                ort_log("V", where.format(1604), f" Node(s) placed on [{name}]. Number of nodes: {len(names)}")
                for text in names:
                    ort_log("V", where.format(1606), f"  {text}")
    if len(placed) > 1:  # the provider asked for and the CPU it fell back to (a warning: always printed)
        ort_log("W", where.format(1629), "Some nodes were not assigned to the preferred execution providers which may "
                "or may not have an negative impact on performance. e.g. ORT explicitly assigns shape related ops to "
                "CPU to improve perf.")  # fmt: skip
        if not args.verbose:
            ort_log("W", where.format(1631), "Rerunning with verbose output on a non-minimal build will show node "
                    "assignments.")  # fmt: skip
    execution = "full" if supported == len(nodes) else "partial" if supported else "none"
    overhead = spec.get("overhead_ms", DEFAULT_OVERHEAD_MS.get(args.e, 0.5)) * len(runs)
    delegates_log({**record, "provider": provider, "execution": execution, "replaced": supported, "total": len(nodes),
                   "partitions": len(runs), "placement": {k: len(v) for k, v in placed.items()},
                   "overhead_ms": overhead})  # fmt: skip
    return overhead


def perf_test(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="onnxruntime_perf_test")
    p.add_argument("-m", default="duration")
    p.add_argument("-r", type=int, default=1000)
    p.add_argument("-t", type=float, default=10.0)
    p.add_argument("-x", type=int, default=0)
    p.add_argument("-e", default="cpu")
    p.add_argument("-i", dest="options", default="", help="execution provider options ('key|value ...')")
    p.add_argument("-v", dest="verbose", action="store_true")
    p.add_argument("-I", action="store_true")
    p.add_argument("-s", action="store_true")
    p.add_argument("-p", dest="profile", help="profile file prefix (the session profiler's JSON)")
    p.add_argument("model")
    p.add_argument("result", nargs="?")
    args = p.parse_args(argv)
    if args.e not in EXECUTION_PROVIDERS:  # command_args_parser.cc: an unknown -e is a bad command line
        sys.stderr.write("See 'onnxruntime_perf_test --help'.")
        return 255
    if not Path(args.model).is_file():
        print(f"failed to load model: {args.model}", file=sys.stderr)
        return 255
    import onnxruntime as ort

    start = time.perf_counter()
    overhead_ms = place_nodes(args) if args.e != "cpu" else 0.0
    if overhead_ms is None:
        return 255
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

    def run():
        session.run(None, {inp.name: x})
        if overhead_ms:  # the simulated execution provider: a hand-over per partition per inference
            time.sleep(overhead_ms / 1e3)

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


def run_eval(argv: list[str]) -> int:
    """TFLite's inference_diff (``run_eval --model_file=M --delegate=D --num_runs=N``): the model on
    the CPU reference and on the delegate with the same random inputs, printed as the real tool
    prints its result (as posted in tensorflow/tensorflow#42294). The simulated delegate computes on
    the CPU too; ``sim/accelerators.json``'s ``"<delegate>": {"output_error": E}`` adds E to every
    output element of the test run (a delegate computing wrong results), and a delegate absent from
    the file cannot be created."""
    p = argparse.ArgumentParser(prog="run_eval")
    p.add_argument("--model_file", required=True)
    p.add_argument("--delegate", default="")
    p.add_argument("--num_runs", type=int, default=50)
    args, _unknown = p.parse_known_args(argv)
    config = accelerators()
    if args.delegate and args.delegate not in config:
        print(f"ERROR: {args.delegate.upper()} delegate could not be created.", flush=True)
        print("ERROR: Could not create test stage.", flush=True)
        return 1
    from ai_edge_litert import interpreter as tfl

    interpreter = tfl.Interpreter(model_path=args.model_file)
    interpreter.allocate_tensors()
    name = {"gpu": "GPU", "nnapi": "NNAPI", "hexagon": "Hexagon", "xnnpack": "XNNPACK"}.get(args.delegate)
    if name:
        print(f"{name} delegate is created.", flush=True)
    rng = np.random.default_rng(0)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    shift = float(config.get(args.delegate, {}).get("output_error", 0.0))
    reference_us, test_us, errors = [], [], [[] for _ in outputs]
    for _ in range(args.num_runs):
        for detail in inputs:
            interpreter.set_tensor(detail["index"], rng.standard_normal(detail["shape"]).astype(detail["dtype"]))
        results = []
        for times in (reference_us, test_us):
            start = time.perf_counter()
            interpreter.invoke()
            times.append((time.perf_counter() - start) * 1e6)
            results.append([interpreter.get_tensor(d["index"]).astype(np.float64) for d in outputs])
        for k, (want, got) in enumerate(zip(*results, strict=True)):
            errors[k].append(float(np.mean(np.abs(got + shift - want))))
    print(f"Num evaluation runs: {args.num_runs}")
    for label, times in (("Reference", reference_us), ("Test", test_us)):
        print(f"{label} run latency: avg={statistics.fmean(times):g}(us), std_dev={statistics.pstdev(times):g}(us)")
    for k, values in enumerate(errors):
        print(f"OutputDiff[{k}]: avg_error={statistics.fmean(values):g}, std_dev={statistics.pstdev(values):g}")
    return 0


if __name__ == "__main__":
    tool = sys.argv[1]
    tools = {"benchmark_model": benchmark_model, "onnxruntime_perf_test": perf_test, "run_eval": run_eval}
    sys.exit(tools[tool](sys.argv[2:]))
