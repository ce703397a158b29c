"""Runtime plug-in: CoreML runs ML programs (``.mlpackage``) through coremltools, on macOS only.

Everything the toolkit knows about CoreML is here: its format, that it needs macOS, and how a model
is loaded for prediction (the one place: the agent and export verification call :func:`create`).
It has no profiler hook and no native tool on phones.

Self-contained on purpose: this file imports only the standard library at the top, because the
measurement agent loads it by path on Macs where ``bench`` is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NAME = "coreml"
FORMAT = "coreml"
MODULES = ("coremltools",)  # any one importable = available
EXTRA = "coreml"  # pip install 'edge-bench[coreml]'
DISTRIBUTIONS = ("coremltools",)  # versions reported in the environment fingerprint
NEEDS_OS = "Darwin"
NATIVE_TOOL = None
# CoreML's compute units (coremltools ComputeUnit): which of CPU, GPU and Neural Engine it may use
COMPUTE_UNITS = ("cpu_only", "cpu_and_gpu", "cpu_and_ne", "all")
OPTIONS: dict[str, Any] = {"compute_units": "cpu_only"}
CHOICES: dict[str, Any] = {"compute_units": COMPUTE_UNITS}


def create(path: str | Path, threads: int = 1, options: dict | None = None):
    """A ``coremltools.models.MLModel`` on the compute units ``options["compute_units"]`` names
    (:data:`COMPUTE_UNITS`, default the CPU only; ``threads`` is not settable in CoreML). Raises
    RuntimeError off macOS, where CoreML cannot predict."""
    import platform

    if platform.system() != "Darwin":
        raise RuntimeError("CoreML runs only on macOS")
    import coremltools as ct

    units = (options or {}).get("compute_units", "cpu_only")
    return ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, units.upper()))


def open_session(artifact: str, threads: int, options: dict) -> tuple:
    """``(run, versions)``: ``run(*arrays)`` predicts with one array per input feature (in the model
    description's order, each cast to the feature's type) and returns every output feature in the
    description's order (a list of numpy arrays); with compute units other than the CPU's,
    ``(run, versions, applied)``, ``applied`` holding the planned ``placement``. Raises RuntimeError
    off macOS."""
    model = create(artifact, threads, options)
    import coremltools as ct
    import numpy as np

    description = model.get_spec().description
    names = [o.name for o in description.output]
    inputs = [i.name for i in description.input]
    int32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32
    types = [np.int32 if i.type.multiArrayType.dataType == int32 else np.float32 for i in description.input]

    def run(*xs):
        outputs = model.predict({n: x.astype(t, copy=False) for n, x, t in zip(inputs, xs, types, strict=True)})
        return [np.asarray(outputs[name]) for name in names]

    units = (options or {}).get("compute_units", "cpu_only")
    if units == "cpu_only":
        return run, {"coremltools": ct.__version__}
    return run, {"coremltools": ct.__version__}, {**options, "placement": placement(model, units)}


def placement(model, units: str) -> dict[str, int]:
    """How many of the ML program's operations CoreML plans for each compute device
    (``MLCPUComputeDevice``, ``MLGPUComputeDevice``, ``MLNeuralEngineComputeDevice``: the preferred
    device of coremltools' ``MLComputePlan``, macOS 14.4+), constants and operations it gives no
    device left out. Empty when this macOS or coremltools cannot say (the cell then fails as not
    shown to run on the accelerator)."""
    import coremltools as ct

    try:
        from coremltools.models.compute_plan import MLComputePlan

        plan = MLComputePlan.load_from_path(
            path=model.get_compiled_model_path(), compute_units=getattr(ct.ComputeUnit, units.upper())
        )
        operations = plan.model_structure.program.functions["main"].block.operations
    except Exception:  # noqa: BLE001 - an older macOS / coremltools, or not an ML program
        return {}
    counts: dict[str, int] = {}
    for operation in operations:
        usage = plan.get_compute_device_usage_for_mlprogram_operation(operation)
        if usage is None or operation.operator_name == "const":
            continue
        device = type(usage.preferred_compute_device).__name__
        counts[device] = counts.get(device, 0) + 1
    return counts
