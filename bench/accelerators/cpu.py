"""The CPU: each runtime's own CPU path, as measured before accelerators existed (the default)."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

CPU = register_accelerator(
    Accelerator(
        name="cpu",
        kind="cpu",
        description="the runtime's CPU path (LiteRT with XNNPACK per --option xnnpack, onnxruntime's CPU "
        "execution provider, CoreML CPU_ONLY, eager PyTorch)",
        serves={
            "litert": Serving(),
            "onnxruntime": Serving(),
            "coreml": Serving(options={"compute_units": "cpu_only"}),
            "torch": Serving(),
        },
        every_runtime=True,
    )
)
