"""CoreML: coremltools ML program (.mlpackage) from a traced module.

Conversion runs anywhere; prediction needs macOS, so off macOS the artifact is reported as
"not verified: needs macOS" and never as verified. What can be checked here is checked: the
module is traced at a representative seeded input, then traced again at inputs of other sign and
scale (``torch.jit.trace``'s ``check_inputs``). Data-dependent Python control flow (``if x.mean()
> 0:``, ``x / x.max().item()``) is frozen by tracing into one branch or one constant; the graphs or
outputs then differ and the export fails with the tracer's warning at the user's line, instead
of writing a model that is not the user's.
"""

from __future__ import annotations

import platform
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from bench.runtimes import coreml
from export.base import ConvertReport, Exporter, Runner, flatten_outputs, output_names, register_exporter

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

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

    def settings(self, precision: str, io: str = "float32") -> dict:
        return {"convert_to": "mlprogram", "minimum_deployment_target": DEPLOYMENT_TARGET}

    def convert(
        self,
        model: nn.Module,
        examples: tuple[torch.Tensor, ...],
        path: Path,
        precision: str,
        names: list[str],
        calibration=None,
        io: str = "float32",
    ) -> ConvertReport:
        import coremltools as ct
        import numpy as np

        traced, doubts = checked_trace(model, examples)
        mlmodel = ct.convert(
            traced,
            inputs=[
                ct.TensorType(name=name, shape=tuple(x.shape), dtype=np.float32 if x.is_floating_point() else np.int32)
                for name, x in zip(names, examples, strict=True)
            ],
            outputs=[ct.TensorType(name=name) for name in output_names(model, examples)],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
        )
        mlmodel.save(str(path))
        if mlmodel.is_temp_package:  # coremltools' own copy in the temp folder: removed at exit, or never when killed
            shutil.rmtree(mlmodel.package_path, ignore_errors=True)
        checked = f"traced graph matches PyTorch at {len(_check_inputs(examples))} inputs of other sign and scale"
        return ConvertReport([checked], doubts)

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


def _flat(model: nn.Module) -> nn.Module:
    """The model with its outputs flattened to a tuple (tracing refuses dicts), one tensor as is."""
    import torch.nn as nn

    class _Flat(nn.Module):  # the name tracing records, as before
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *xs: torch.Tensor):
            outputs = flatten_outputs(self.model(*xs))
            return outputs[0] if len(outputs) == 1 else tuple(outputs)

    return _Flat()


def _check_inputs(examples: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, ...]]:
    """Inputs that take data-dependent branches another way and change every data-dependent value:
    float inputs all positive (x 2), then all negative; integer inputs (indices) as they are."""

    def signed(sign: float) -> tuple[torch.Tensor, ...]:
        return tuple(sign * (x.abs() * 2 + 0.1) if x.is_floating_point() else x for x in examples)

    return [signed(1.0), signed(-1.0)]


def checked_trace(model: nn.Module, examples: tuple[torch.Tensor, ...]) -> tuple[torch.jit.ScriptModule, list[str]]:
    """``torch.jit.trace`` at ``examples`` (one tensor per input), re-traced and compared at
    :func:`_check_inputs`, and the tracer's warnings at lines of the user's code (outside this
    program's zoo and installed packages): a data-dependent branch the check inputs did not flip
    may still be frozen, so such a warning keeps the check from counting. Raises ValueError naming
    the user's line when graphs or outputs differ (a frozen data-dependent branch or value)."""
    import torch

    from export.source import is_user_code

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        try:
            flat = _flat(model).eval()
            traced = torch.jit.trace(flat, examples, check_inputs=_check_inputs(examples), check_tolerance=1e-4)
            failure = next((str(w.message) for w in caught if "does not match" in str(w.message)), None)
        except torch.jit.TracingCheckError as exc:
            traced, failure = None, str(exc).strip().splitlines()[1] if str(exc).strip() else "graphs differed"
    user_warnings = [
        f"{Path(w.filename).name}:{w.lineno} ({str(w.message).split(' might')[0]})"
        for w in caught
        if issubclass(w.category, torch.jit.TracerWarning)
        and "does not match" not in str(w.message)
        and is_user_code(w.filename)
    ]
    if failure is None:
        if not user_warnings:
            return traced, []
        return traced, [f"the tracer warned at {user_warnings[0]}: a data-dependent branch may be frozen"]
    where = f" at {user_warnings[0]}" if user_warnings else ""
    raise ValueError(
        f"tracing froze data-dependent code{where}: the trace differs at other inputs "
        f"({failure.strip().removeprefix('ERROR: ')[:80]}); CoreML needs control flow that does not depend on values"
    )
