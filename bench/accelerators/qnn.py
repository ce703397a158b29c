"""Qualcomm AI Engine Direct (QNN): onnxruntime's QNN execution provider on the HTP (NPU) backend."""

from bench.accelerators.base import Accelerator, Serving, register_accelerator

QNN = register_accelerator(
    Accelerator(
        name="qnn",
        kind="execution provider",
        description="Qualcomm QNN HTP/NPU (onnxruntime -e qnn, backend libQnnHtp.so)",
        serves={
            "onnxruntime": Serving(
                options={"providers": ["QNNExecutionProvider", "CPUExecutionProvider"]},
                tool_flags=("-e", "qnn", "-i", "backend_path|libQnnHtp.so"),
                reports_as="QNNExecutionProvider",
                needs="pip install onnxruntime-qnn (Windows on Snapdragon) or an onnxruntime build with --use_qnn",
            )
        },
    )
)
