"""Qualcomm's Hexagon DSP through TFLite's Hexagon delegate (deprecated by Qualcomm for QNN, still in
benchmark_model as ``--use_hexagon``; it runs only fully quantized models)."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

HEXAGON = register_accelerator(
    Accelerator(
        name="hexagon",
        kind="delegate",
        description="Qualcomm Hexagon DSP (TFLite --use_hexagon=true; int8 models only)",
        serves={
            "litert": Serving(
                tool_flags=("--use_hexagon=true",),
                reports_as="Hexagon",
                inference_diff="hexagon",
                agent=False,
                why_not="Android only",
            )
        },
    )
)
