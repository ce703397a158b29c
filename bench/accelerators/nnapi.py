"""Android's Neural Networks API: TFLite's NNAPI delegate, onnxruntime's NNAPI execution provider.

``nnapi:NAME`` picks one NNAPI device by the name the phone gives it (``--nnapi_accelerator_name``,
e.g. ``google-edgetpu`` on a Pixel 6). NNAPI's own CPU implementation (``nnapi-reference``) is
disabled unless ``--delegate-option nnapi_cpu=true``: otherwise a model no accelerator takes would
run on NNAPI's reference CPU kernels and look delegated (benchmark_model ``--disable_nnapi_cpu``,
onnxruntime's ``NNAPI_FLAG_CPU_DISABLED``)."""

from dataclasses import replace

from bench.accelerators.base import Accelerator, Option, Serving, register_accelerator
from bench.errors import BenchError


class Nnapi(Accelerator):
    def adjust(self, serving: Serving, runtime: str, variant: str, options: dict[str, str]) -> Serving:
        cpu_allowed = options.get("nnapi_cpu", "false") == "true"
        if runtime == "litert":
            flags = [*serving.tool_flags, f"--disable_nnapi_cpu={str(not cpu_allowed).lower()}"]
            if variant:
                flags.append(f"--nnapi_accelerator_name={variant}")
            return replace(serving, tool_flags=tuple(flags))
        if variant:
            raise BenchError(
                f"nnapi:{variant} picks an NNAPI device by name, which only TFLite's NNAPI delegate can "
                "(onnxruntime's NNAPI provider chooses its own devices)"
            )
        if cpu_allowed:
            return serving
        return replace(serving, tool_flags=(*serving.tool_flags, "-i", "NNAPI_FLAG_CPU_DISABLED"))


NNAPI = register_accelerator(
    Nnapi(
        name="nnapi",
        kind="delegate",
        description="Android NNAPI (TFLite --use_nnapi=true; onnxruntime -e nnapi), its CPU reference disabled",
        serves={
            "litert": Serving(
                tool_flags=("--use_nnapi=true",),
                reports_as="NNAPI",
                inference_diff="nnapi",
                agent=False,
                why_not="Android only",
            ),
            "onnxruntime": Serving(
                tool_flags=("-e", "nnapi"), reports_as="NnapiExecutionProvider", agent=False, why_not="Android only"
            ),
        },
        options={
            "nnapi_cpu": Option(
                ("litert", "onnxruntime"), ("true", "false"), "false", "", "allow NNAPI's CPU reference implementation"
            )
        },
        variant_help="the NNAPI device name, e.g. google-edgetpu",
    )
)
