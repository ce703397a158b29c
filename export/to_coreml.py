"""CoreML: coremltools ML program (.mlpackage) from a traced module.

Conversion runs anywhere; prediction needs macOS, so off macOS the artifact is reported as
"not verified: needs macOS" and never as verified.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch
import torch.nn as nn

from bench.runtimes import coreml
from export.base import Exporter, Runner, register_exporter

DEPLOYMENT_TARGET = "iOS16"


@register_exporter
class CoreMLExporter(Exporter):
    name = "coreml"
    suffix = ".mlpackage"
    converter = "coremltools (mlprogram)"
    precisions = ("fp32", "fp16")
    extra = "coreml"
    packages = ("coremltools",)
    modules = ("coremltools",)

    def settings(self, precision: str) -> dict:
        return {"convert_to": "mlprogram", "minimum_deployment_target": DEPLOYMENT_TARGET}

    def convert(self, model: nn.Module, example: torch.Tensor, path: Path, precision: str) -> None:
        import coremltools as ct

        traced = torch.jit.trace(model, example)
        mlmodel = ct.convert(
            traced,
            inputs=[ct.TensorType(name="input", shape=tuple(example.shape))],
            outputs=[ct.TensorType(name="output")],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
        )
        mlmodel.save(str(path))

    def load_runner(self, path: Path) -> Runner | str:
        """The file predicted by CoreML as the agent opens it (CPU only), or why not here (off macOS)."""
        if platform.system() != "Darwin":
            return "not verified: needs macOS (CoreML prediction runs only there)"
        run, _ = coreml.open_session(str(path), 1, coreml.OPTIONS)
        return run

    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        import coremltools as ct

        spec = ct.utils.load_spec(str(path))

        def describe(features) -> list[dict]:
            return [{"name": f.name, "shape": list(f.type.multiArrayType.shape)} for f in features]

        return describe(spec.description.input), describe(spec.description.output)
