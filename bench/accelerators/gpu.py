"""The GPU: TFLite's GPU delegate (OpenCL or OpenGL ES on Android, Metal on Apple), CoreML's
CPU_AND_GPU compute units.

The delegate's options are benchmark_model's (tensorflow/lite/tools/delegates/gpu_delegate_provider.cc):
``--gpu_backend=cl|gl`` and ``--gpu_precision_loss_allowed`` (fp16 arithmetic; the tool's default
is true)."""

from bench.accelerators.base import Accelerator, Option, Serving, register_accelerator

GPU = register_accelerator(
    Accelerator(
        name="gpu",
        kind="delegate",
        description="the GPU (TFLite GPU delegate --use_gpu=true; CoreML CPU_AND_GPU)",
        serves={
            "litert": Serving(
                tool_flags=("--use_gpu=true",),
                reports_as="GPU",
                inference_diff="gpu",
                agent=False,
                why_not="the LiteRT GPU delegate is not part of the ai-edge-litert wheel; measure it on a phone "
                "with benchmark_model",
            ),
            "coreml": Serving(
                options={"compute_units": "cpu_and_gpu"},
                reports_as="MLGPUComputeDevice",
                tool=False,
                why_not="CoreML has no native tool",
            ),
        },
        options={
            "gpu_backend": Option(("litert",), ("cl", "gl"), "cl", "--gpu_backend={value}", "OpenCL or OpenGL ES"),
            "gpu_precision_loss_allowed": Option(
                ("litert",), ("true", "false"), "true", "--gpu_precision_loss_allowed={value}", "fp16 arithmetic"
            ),
        },
    )
)
