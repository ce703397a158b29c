"""Apple's Neural Engine: CoreML's CPU_AND_NE compute units (macOS; CoreML decides per layer and
falls back to the CPU for what the Neural Engine cannot run)."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

ANE = register_accelerator(
    Accelerator(
        name="ane",
        kind="compute units",
        description="Apple Neural Engine (CoreML CPU_AND_NE)",
        serves={
            "coreml": Serving(
                options={"compute_units": "cpu_and_ne"},
                reports_as="MLNeuralEngineComputeDevice",
                tool=False,
                why_not="CoreML has no native tool",
            )
        },
    )
)
