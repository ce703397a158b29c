"""XNNPACK asked for explicitly: TFLite's XNNPACK delegate, onnxruntime's XNNPACK execution provider.

On the CPU too, but a delegate: it may leave operators to the runtime's builtin kernels, so its
coverage is checked like any other delegate's."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

XNNPACK = register_accelerator(
    Accelerator(
        name="xnnpack",
        kind="delegate",
        description="XNNPACK on the CPU, explicitly (TFLite delegate --use_xnnpack=true; onnxruntime -e xnnpack)",
        serves={
            "litert": Serving(
                options={"xnnpack": True},
                tool_flags=("--use_xnnpack=true",),
                reports_as="XNNPACK",
                inference_diff="xnnpack",
                agent=False,
                why_not="the agent's LiteRT interpreter does not report XNNPACK's coverage; there XNNPACK is the cpu "
                "accelerator's default (--option xnnpack=true), and benchmark_model reports it on phones",
            ),
            "onnxruntime": Serving(
                options={"providers": ["XnnpackExecutionProvider", "CPUExecutionProvider"]},
                tool_flags=("-e", "xnnpack"),
                reports_as="XnnpackExecutionProvider",
                needs="an onnxruntime build with --use_xnnpack (the Android package has it)",
            ),
        },
    )
)
