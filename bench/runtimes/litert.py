"""Runtime plug-in: LiteRT runs TFLite flatbuffers (``ai_edge_litert``; ``tflite_runtime`` where only it is installed).

Everything the toolkit knows about LiteRT is here: its format and options (XNNPACK on or off), how
an interpreter is created (the one place: the agent, export verification and the profiler all call
:func:`create`), its native tool on phones (``benchmark_model``) and its profiler hook.

Self-contained on purpose: this file imports only the standard library at the top, because the
measurement agent loads it by path on boards where ``bench`` is not installed (older boards have
``tflite_runtime`` and numpy 1.x). The host-side hook (:func:`profile`) imports ``bench`` inside
its body.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME = "litert"
FORMAT = "tflite"
MODULES = ("ai_edge_litert", "tflite_runtime")  # any one importable = available
EXTRA = "tflite"  # pip install 'edge-bench[tflite]'
DISTRIBUTIONS = ("ai-edge-litert", "tflite-runtime")  # versions reported in the environment fingerprint
NEEDS_OS = None
NATIVE_TOOL = "benchmark_model"
TOOL_NEEDS_ESTIMATE = False  # --num_runs and --min_secs together
OPTIONS: dict[str, Any] = {"xnnpack": True}
CHOICES: dict[str, Any] = {"xnnpack": ("true", "false")}


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - a version we cannot read is "unknown", never a failed run
        return "unknown"


def interpreter_module() -> tuple[Any, dict[str, str]]:
    """``(the interpreter module, {package: version})``: ``ai_edge_litert.interpreter``, or
    ``tflite_runtime.interpreter`` on devices that only have it. ImportError when neither is installed."""
    try:
        from ai_edge_litert import interpreter as tfl

        return tfl, {"ai_edge_litert": getattr(tfl, "__version__", "") or _dist_version("ai-edge-litert")}
    except ImportError:  # older devices: tflite_runtime (numpy 1.x environments)
        from tflite_runtime import interpreter as tfl

        return tfl, {"tflite_runtime": _dist_version("tflite-runtime")}


def create(path: str | Path, threads: int, options: dict | None = None):
    """An allocated LiteRT ``Interpreter`` for a ``.tflite`` file with ``threads`` threads;
    ``options["xnnpack"]`` False runs TFLite's builtin kernels only (no default delegates).
    Raises ImportError without an interpreter package, ValueError for an unreadable model."""
    tfl, _ = interpreter_module()
    kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": threads}
    if not (options or {}).get("xnnpack", True):
        kwargs["experimental_op_resolver_type"] = tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = tfl.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    return interpreter


def input_details(interpreter) -> list[dict]:
    """The interpreter's input details in the model's argument order: the order of its serving
    signature's inputs (litert-torch writes ``args_0``, ``args_1``, ...) where it has one, else
    the order the interpreter lists them."""
    details = interpreter.get_input_details()
    signatures = interpreter.get_signature_list() if hasattr(interpreter, "get_signature_list") else {}
    if len(details) < 2 or len(signatures) != 1:
        return details
    order = next(iter(signatures.values())).get("inputs", [])
    rank = {name: i for i, name in enumerate(order)}
    position = [next((rank[n] for n in rank if d["name"].endswith("_" + n) or d["name"] == n), None) for d in details]
    if None in position or len(set(position)) != len(details):
        return details
    return [d for _, d in sorted(zip(position, details, strict=True), key=lambda pair: pair[0])]


def open_session(artifact: str, threads: int, options: dict) -> tuple[Callable, dict[str, str]]:
    """``(run, versions)``: ``run(*arrays)`` sets one array per input (in :func:`input_details`
    order, each cast to the tensor's type: litert-torch stores int64 inputs as int32; a float
    array for a quantized int8/uint8 input is quantized with its scale and zero point), invokes,
    and returns copies of every output in the file's order (a list of numpy arrays; a quantized
    output dequantized to float32); ``versions`` names the interpreter package that ran it."""
    _, versions = interpreter_module()
    interpreter = create(artifact, threads, options)
    inputs = [(d["index"], d["dtype"], quantization(d)) for d in input_details(interpreter)]
    outputs = [(d["index"], quantization(d)) for d in interpreter.get_output_details()]

    def run(*xs):
        for (index, dtype, scale), x in zip(inputs, xs, strict=True):
            if scale is not None and x.dtype.kind == "f":  # quantize: round(x / s) + z, saturated
                import numpy as np

                limits = np.iinfo(dtype)
                x = np.clip(np.round(x / scale[0]) + scale[1], limits.min, limits.max)
            interpreter.set_tensor(index, x.astype(dtype, copy=False))
        interpreter.invoke()
        out = []
        for index, scale in outputs:
            y = interpreter.get_tensor(index)  # a copy
            out.append(y if scale is None else ((y.astype("float32") - scale[1]) * scale[0]).astype("float32"))
        return out

    return run, versions


def quantization(detail: dict) -> tuple[float, int] | None:
    """``(scale, zero_point)`` of a quantized integer tensor (int8 / uint8 with a scale; an
    interpreter's input or output detail), else None: what :func:`open_session` quantizes a float
    input with and dequantizes an output by."""
    scale, zero = detail.get("quantization", (0.0, 0))
    kind = getattr(detail["dtype"], "__name__", str(detail["dtype"]))
    return (float(scale), int(zero)) if scale and kind in ("int8", "uint8") else None


def tool_argv(run) -> list[str]:
    """``benchmark_model``'s command line on the device for ``run`` (a
    :class:`bench.runtimes.base.ToolRun`): ``runs`` timed inferences (at least ``seconds``, at most
    ``max_secs``; ``runs=None``: as many as fit in ``seconds``), a fixed ``warmup`` count (no
    warm-up time), XNNPACK per ``options``. ``estimate_ms`` is not needed: the tool takes a count
    and a duration together. A model with several or integer inputs gets them named with their
    shapes (``--input_layer``, ``--input_layer_shape``) and integer inputs the values 0..1
    (``--input_layer_value_range``: the tool's own random integers could index past an embedding).
    ``accelerator`` flags (``--use_gpu=true`` ...) put the graph on a delegate; they come before
    ``--use_xnnpack``, because benchmark_model applies delegates in the order their flags appear
    (each provider's rank is its flag's position: tensorflow/lite/tools/delegates/delegate_provider.h),
    so the accelerator takes the graph first and XNNPACK what it leaves to the CPU (unless the options
    turn XNNPACK off)."""
    xnnpack = run.options.get("xnnpack", True)
    accelerator = getattr(run, "accelerator", ())
    # an accelerator that sets XNNPACK itself (the explicit xnnpack one) decides; else the runtime option
    xnnpack_flag = (
        [] if any(f.startswith("--use_xnnpack=") for f in accelerator) else [f"--use_xnnpack={str(xnnpack).lower()}"]
    )
    layers: list[str] = []
    if run.inputs:
        layers.append("--input_layer=" + ",".join(i["name"] for i in run.inputs))
        layers.append("--input_layer_shape=" + ":".join(",".join(map(str, i["shape"])) for i in run.inputs))
        ranges = [f"{i['name']},0,1" for i in run.inputs if not str(i["dtype"]).startswith("float")]
        if ranges:
            layers.append("--input_layer_value_range=" + ":".join(ranges))
    return [run.tool, f"--graph={run.graph}", f"--num_threads={run.threads}", f"--num_runs={run.runs or 1}",
            f"--min_secs={run.seconds:g}", f"--max_secs={run.max_secs:g}", f"--warmup_runs={run.warmup}",
            "--warmup_min_secs=0", *accelerator, *xnnpack_flag, *layers, *run.extra]  # fmt: skip


def profile(spec, model, tree, threads: int, runs: int, precision: str, device=None):
    """``bench profile``: operator times from LiteRT's own profiler, attributed to blocks
    (:class:`bench.profiling.runtimes.RuntimeProfile`), of the ``precision`` TFLite export;
    ``device`` (a remote Device, None = this machine) runs ``benchmark_model --enable_op_profiling``
    there. Raises BenchError when the model does not export to TFLite."""
    from bench.errors import BenchError
    from bench.profiling import runtimes
    from export.pipeline import export_model

    artifact = export_model(spec, FORMAT, precision)
    if artifact.error:
        raise BenchError(f"cannot export {spec.name} to TFLite: {artifact.error}")
    if device is not None:
        from bench.profiling.device import profile_on_device, tflite_tool_profile

        return profile_on_device(device, NAME, Path(artifact.path), tree, threads, runs, tflite_tool_profile)
    return runtimes.profile_litert(Path(artifact.path), spec.input_shape, tree, threads, runs)
