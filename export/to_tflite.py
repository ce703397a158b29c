"""TFLite: litert-torch converts PyTorch straight to a .tflite flatbuffer; LiteRT runs it.

Why this route: litert-torch lowers torch.export graphs through StableHLO without a TensorFlow
install, and installs beside the pinned torch and numpy (onnx2tf pins old TensorFlow and numpy;
ai-edge-torch is its former name). fp16 (weights stored as float16) and int8 (dynamic range:
int8 weights, float activations) are applied to the fp32 flatbuffer with ai-edge-quantizer, the
LiteRT team's post-training quantizer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from bench.runtimes import litert
from export.base import Exporter, Runner, register_exporter

# ai-edge-quantizer recipe for weight-only float16, the same shape as its built-in recipes.
_FP16_RECIPE = [
    {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "float_casting",
        "op_config": {
            "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
        },
    }
]


@register_exporter
class TFLiteExporter(Exporter):
    name = "tflite"
    suffix = ".tflite"
    converter = "litert-torch (+ ai-edge-quantizer for fp16/int8)"
    precisions = ("fp32", "fp16", "int8")
    extra = "tflite"
    packages = ("litert-torch", "ai-edge-litert", "ai-edge-quantizer")
    modules = ("litert_torch", "ai_edge_quantizer")

    def settings(self, precision: str) -> dict:
        recipe = {"fp32": None, "fp16": "weight-only float16", "int8": "dynamic_wi8_afp32"}[precision]
        return {"quantization": recipe}

    def convert(self, model: nn.Module, example: torch.Tensor, path: Path, precision: str) -> None:
        import litert_torch

        edge_model = litert_torch.convert(model, (example,))
        if precision == "fp32":
            edge_model.export(str(path))
            return
        from ai_edge_quantizer import Quantizer, recipe

        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "fp32.tflite"
            edge_model.export(str(fp32))
            quantizer = Quantizer(str(fp32))
            quantizer.load_quantization_recipe(_FP16_RECIPE if precision == "fp16" else recipe.dynamic_wi8_afp32())
            quantizer.quantize().export_model(str(path), overwrite=True)

    def load_runner(self, path: Path) -> Runner | str:
        """The file run by the LiteRT interpreter on one thread with its default options (XNNPACK),
        as the agent opens it."""
        run, _ = litert.open_session(str(path), 1, litert.OPTIONS)
        return run

    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        interpreter = litert.create(path, 1)

        def describe(details) -> list[dict]:
            return [
                {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": str(np.dtype(d["dtype"]))}
                for d in details
            ]

        return describe(interpreter.get_input_details()), describe(interpreter.get_output_details())

    def weight_dtypes(self, path: Path) -> set[str]:
        """Element types of the tensors that hold data in the flatbuffer (the weights); read with the
        builtin kernels only, so that no delegate is made (nor prints its banner)."""
        interpreter = litert.create(path, 1, {"xnnpack": False})
        return {
            np.dtype(d["dtype"]).name
            for d in interpreter.get_tensor_details()
            if d["index"] not in {i["index"] for i in interpreter.get_input_details()}
        }
