"""Runtime plug-in: CoreML runs ML programs (``.mlpackage``) through coremltools, on macOS only.

Everything the toolkit knows about CoreML is here: its format, that it needs macOS, and how a model
is loaded for prediction (the one place: the agent and export verification call :func:`create`).
It has no profiler hook and no native tool on phones.

Self-contained on purpose: this file imports only the standard library at the top, because the
measurement agent loads it by path on Macs where ``bench`` is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME = "coreml"
FORMAT = "coreml"
MODULES = ("coremltools",)  # any one importable = available
EXTRA = "coreml"  # pip install 'edge-bench[coreml]'
DISTRIBUTIONS = ("coremltools",)  # versions reported in the environment fingerprint
NEEDS_OS = "Darwin"
NATIVE_TOOL = None
OPTIONS: dict[str, Any] = {}
CHOICES: dict[str, Any] = {}


def create(path: str | Path, threads: int = 1, options: dict | None = None):
    """A ``coremltools.models.MLModel`` on the CPU (``threads`` is not settable in CoreML).
    Raises RuntimeError off macOS, where CoreML cannot predict."""
    import platform

    if platform.system() != "Darwin":
        raise RuntimeError("CoreML runs only on macOS")
    import coremltools as ct

    return ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)


def open_session(artifact: str, threads: int, options: dict) -> tuple[Callable, dict[str, str]]:
    """``(run, versions)``: ``run(*arrays)`` predicts with one array per input feature (in the model
    description's order, each cast to the feature's type) and returns every output feature in the
    description's order (a list of numpy arrays). Raises RuntimeError off macOS."""
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

    return run, {"coremltools": ct.__version__}
