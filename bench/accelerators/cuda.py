"""NVIDIA GPUs through onnxruntime's CUDA execution provider (Jetson boards, hosts with a GPU)."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

CUDA = register_accelerator(
    Accelerator(
        name="cuda",
        kind="execution provider",
        description="NVIDIA GPU (onnxruntime CUDAExecutionProvider)",
        serves={
            "onnxruntime": Serving(
                options={"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]},
                energy_meter="nvml",
                tool_flags=("-e", "cuda"),
                reports_as="CUDAExecutionProvider",
                needs="pip install onnxruntime-gpu (with CUDA 12 and cuDNN 9), or JetPack's onnxruntime-gpu wheel",
            )
        },
    )
)
