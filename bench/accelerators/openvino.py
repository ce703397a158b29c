"""Intel CPUs, GPUs and NPUs through onnxruntime's OpenVINO execution provider."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

OPENVINO = register_accelerator(
    Accelerator(
        name="openvino",
        kind="execution provider",
        description="Intel OpenVINO (onnxruntime OpenVINOExecutionProvider)",
        serves={
            "onnxruntime": Serving(
                options={"providers": ["OpenVINOExecutionProvider", "CPUExecutionProvider"]},
                tool_flags=("-e", "openvino"),
                reports_as="OpenVINOExecutionProvider",
                needs="pip install onnxruntime-openvino",
            )
        },
    )
)
