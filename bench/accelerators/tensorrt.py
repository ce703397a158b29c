"""NVIDIA TensorRT through onnxruntime's TensorRT execution provider (CUDA for what TensorRT leaves)."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

TENSORRT = register_accelerator(
    Accelerator(
        name="tensorrt",
        kind="execution provider",
        description="NVIDIA TensorRT (onnxruntime TensorrtExecutionProvider, then CUDA)",
        serves={
            "onnxruntime": Serving(
                options={"providers": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]},
                energy_meter="nvml",
                tool_flags=("-e", "tensorrt"),
                reports_as="TensorrtExecutionProvider",
                needs="pip install onnxruntime-gpu and TensorRT 10 (JetPack ships it)",
            )
        },
    )
)
