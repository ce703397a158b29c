"""Runtime plug-in: onnxruntime runs ONNX files (CPU execution provider unless ``--option providers=...``).

Everything the toolkit knows about onnxruntime is here: its format and options, how a session is
opened (the one place: the agent, export verification and the profiler all call :func:`create`),
its native tool on phones (``onnxruntime_perf_test``) and its profiler hook.

Self-contained on purpose: this file imports only the standard library at the top, because the
measurement agent loads it by path on boards where ``bench`` is not installed (the runner copies
it next to the agent). The host-side hook (:func:`profile`) imports ``bench`` inside its body.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME = "onnxruntime"
FORMAT = "onnx"
MODULES = ("onnxruntime",)  # any one importable = available
EXTRA = "onnx"  # pip install 'edge-bench[onnx]'
DISTRIBUTIONS = ("onnxruntime",)  # versions reported in the environment fingerprint
NEEDS_OS = None
NATIVE_TOOL = "onnxruntime_perf_test"
TOOL_NEEDS_ESTIMATE = True  # perf_test takes -r COUNT or -t SECONDS, not both

_LEVELS = ("disable", "basic", "extended", "all")


def _providers(text: str) -> list[str]:
    """``"CUDAExecutionProvider+CPUExecutionProvider"`` -> the list, in order of preference."""
    return [p.strip() for p in text.split("+") if p.strip()]


OPTIONS: dict[str, Any] = {"graph_optimization": "all", "providers": ["CPUExecutionProvider"]}
CHOICES: dict[str, Any] = {"graph_optimization": _LEVELS, "providers": _providers}


def create(
    artifact: str | bytes | Path,
    threads: int,
    options: dict | None = None,
    profile_prefix: str | None = None,
    optimized_path: str | None = None,
):
    """An ``onnxruntime.InferenceSession`` for a model file (or its serialized bytes).

    ``threads`` intra-op threads, one inter-op thread, sequential execution; ``options`` as in
    :data:`OPTIONS` (graph optimization level, execution providers); ``profile_prefix``: write the
    session profiler's JSON there (``end_profiling()`` returns its path); ``optimized_path``: write
    the graph as the session runs it (after onnxruntime's fusions) there as ONNX. Raises RuntimeError when a
    requested execution provider is not available or the session did not take it (onnxruntime would
    fall back to the CPU silently), and whatever onnxruntime raises for an unreadable model."""
    import onnxruntime as ort

    options = options or {}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[options.get("graph_optimization", "all")]
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    if optimized_path:
        opts.optimized_model_filepath = optimized_path
        opts.log_severity_level = 3  # its warning that an NCHWc graph is specific to this CPU: known, and so used
    providers = options.get("providers") or ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    absent = [p for p in providers if p not in available]
    if absent:
        raise RuntimeError(
            f"execution provider {', '.join(absent)} requested but not available here "
            f"(onnxruntime {ort.__version__} offers {', '.join(available)})"
        )
    source = artifact if isinstance(artifact, bytes) else str(artifact)
    session = ort.InferenceSession(source, opts, providers=providers)
    dropped = [p for p in providers if p not in session.get_providers()]
    if dropped:  # available, but it failed to load (e.g. CUDA libraries missing): onnxruntime fell back
        raise RuntimeError(
            f"execution provider {', '.join(dropped)} requested but the session runs on "
            f"{', '.join(session.get_providers())} only"
        )
    return session


def int8_kernel_caveat() -> str | None:
    """Why int8 scores measured by onnxruntime on this CPU may understate the file, or None.

    On x86-64 without VNNI (``avx512_vnni`` / ``avx_vnni`` in ``/proc/cpuinfo``) onnxruntime's fused
    int8 convolutions and matrix products use U8S8 kernels (VPMADDUBSW) whose 16-bit pair sums can
    saturate; its quantization guide names the problem ("Quantization on GPU / x86-64 ... saturation",
    onnxruntime.ai/docs/performance/model-optimizations/quantization.html). Measured here (AVX2, AMD
    EPYC): the digits ConvNet's int8-static file scored 97.2% top-1 with the fused kernels and 99.3%
    with its QDQ nodes computed in float, the fp32 model 99.2%."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    except OSError:
        return None
    if not flags or {"avx512_vnni", "avx_vnni"} & set(flags):
        return None
    return (
        "onnxruntime's int8 kernels on this x86-64 CPU without VNNI can saturate (U8S8 pair sums in 16 bits), "
        "so this score may be below what the file gives on a CPU with VNNI or on ARM"
    )


def missing(options: dict) -> str | None:
    """Why this machine's onnxruntime cannot run ``options``' execution providers, or None."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    absent = [p for p in options.get("providers") or [] if p not in available]
    if not absent:
        return None
    has = ", ".join(available)
    return f"execution provider {', '.join(absent)} is not in onnxruntime {ort.__version__} here (it has {has})"


def open_session(artifact: str, threads: int, options: dict) -> tuple[Callable, dict[str, str], dict]:
    """``(run, versions, applied)``: ``run(*arrays)`` feeds one array per input in the file's order
    (each cast to the input's element type: integer inputs take int64 or int32 as the file says)
    and returns every output in the file's order (a list of numpy arrays); ``versions`` names the runtime that
    ran it; ``applied`` is ``options`` with ``providers`` as the session reports them (with
    onnxruntime's own CPU fallback appended), i.e. what runs, and with an execution provider other
    than the CPU's, ``placement`` (:func:`placement`). RuntimeError when a requested provider is
    absent (see :func:`create`)."""
    import onnxruntime as ort

    session = create(artifact, threads, options)
    inputs = [(i.name, NUMPY_TYPES.get(i.type, "float32")) for i in session.get_inputs()]
    applied = {**options, "providers": session.get_providers()}
    if session.get_providers()[0] != "CPUExecutionProvider":  # an accelerator: which nodes, and right?
        applied["placement"] = placement(artifact, threads, options)
        applied["output_check"] = output_check(session, create(artifact, threads, {**options, "providers": None}))

    def run(*xs):
        return session.run(None, {n: x.astype(t, copy=False) for (n, t), x in zip(inputs, xs, strict=True)})

    return run, {"onnxruntime": ort.__version__}, applied


def placement(artifact: str | bytes | Path, threads: int, options: dict) -> dict[str, int]:
    """How many of the graph's nodes each execution provider ran: ``{provider: nodes}``, read from
    the session profiler's node events (``args.provider``) of one inference on zeros, in a second
    session opened like the measured one (onnxruntime has no API that lists the placement; its
    verbose log does, on stderr). Symbolic dimensions are taken as 1."""
    import json
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        session = create(artifact, threads, options, profile_prefix=str(Path(folder) / "placement"))
        feed = {
            i.name: np.zeros(
                [d if isinstance(d, int) and d > 0 else 1 for d in i.shape], NUMPY_TYPES.get(i.type, "float32")
            )
            for i in session.get_inputs()
        }
        session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes: dict[str, set[str]] = {}
    for event in events:
        args = event.get("args") or {}
        name = str(event.get("name", ""))
        if event.get("cat") == "Node" and "provider" in args and name.endswith("_kernel_time"):
            nodes.setdefault(args["provider"], set()).add(name[: -len("_kernel_time")])
    return {provider: len(names) for provider, names in nodes.items()}


def output_check(session, reference, runs: int = 3) -> dict:
    """How far ``session``'s outputs (an accelerator's) are from ``reference``'s (the CPU execution
    provider's) on the same seeded random inputs (standard normal floats, zeros for integer inputs):
    per output the mean absolute difference, averaged over ``runs`` runs, as TFLite's inference_diff
    tool reports it (``output_errors``; ``max_error`` the largest)."""
    import numpy as np

    rng = np.random.default_rng(0)
    errors: list[list[float]] = []
    for _ in range(runs):
        feed = {}
        for i in session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
            kind = NUMPY_TYPES.get(i.type, "float32")
            feed[i.name] = rng.standard_normal(shape).astype(kind) if "float" in kind else np.zeros(shape, kind)
        got, want = session.run(None, feed), reference.run(None, feed)
        errors.append(
            [
                float(np.mean(np.abs(np.asarray(g, np.float64) - np.asarray(w, np.float64))))
                for g, w in zip(got, want, strict=True)
            ]
        )
    per_output = [float(np.mean(column)) for column in zip(*errors, strict=True)]
    return {"tool": "agent", "runs": runs, "output_errors": per_output, "max_error": max(per_output)}


# onnxruntime's input type names -> numpy's (the types an exported model's inputs have)
NUMPY_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def tool_argv(run) -> list[str]:
    """``onnxruntime_perf_test``'s command line on the device for ``run`` (a
    :class:`bench.runtimes.base.ToolRun`; ``threads`` threads; the CPU execution provider, or the
    accelerator's ``-e PROVIDER`` and its ``-i`` provider options).

    The tool takes a run count or a duration, not both: ``runs`` timed inferences, sized up to last
    about ``seconds`` (and at most ``max_secs``) when a latency ``estimate_ms`` is known (from a
    short run: a slow first inference makes the run shorter); ``runs=None``: as many as fit in
    ``seconds``. It has no warm-up setting (one untimed first inference), so ``warmup`` and
    ``options`` are not used."""
    runs = run.runs
    if runs and run.estimate_ms > 0:  # enough to last ``seconds``, not so many as to pass ``max_secs``
        sized = math.ceil(run.seconds * 1e3 / run.estimate_ms)
        if run.max_secs > 0:
            sized = min(sized, math.floor(run.max_secs * 1e3 / run.estimate_ms))
        runs = max(runs, sized)
    mode = ["-m", "times", "-r", str(runs)] if runs else ["-m", "duration", "-t", f"{run.seconds:g}"]
    # an accelerator's -e PROVIDER [-i OPTIONS], with -v: the node placement is logged only verbosely
    accelerator = list(getattr(run, "accelerator", ()))
    provider = [*accelerator, "-v"] if accelerator else ["-e", "cpu"]
    return [run.tool, *mode, "-x", str(run.threads), *provider, "-I", "-s", *run.extra, run.graph]


def profile(spec, model, tree, threads: int, runs: int, precision: str, device=None):
    """``bench profile``: kernel times from the session profiler, attributed to blocks
    (:class:`bench.profiling.runtimes.RuntimeProfile`). The model is exported without graph slimming
    so each node keeps its module path; ``device`` (a remote Device, None = this machine) runs
    ``onnxruntime_perf_test -p`` there. ``precision`` is not used (the profile is of fp32)."""
    import tempfile

    from bench.profiling import runtimes

    with tempfile.TemporaryDirectory() as folder:
        path = runtimes.export_profiling_onnx(model, spec.input_shape, Path(folder))
        if device is not None:
            from bench.profiling.device import onnx_tool_profile, profile_on_device

            return profile_on_device(device, NAME, path, tree, threads, runs, onnx_tool_profile)
        return runtimes.profile_onnxruntime(path, spec.input_shape, tree, threads, runs)
