"""ONNX: torch.onnx.export (dynamo) at a fixed opset, simplified with onnxslim, run by onnxruntime.

int8 is onnxruntime's dynamic-range quantization (int8 weights, activations quantized on the fly).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import torch.nn as nn

from bench.runtimes import onnxruntime
from export.base import Exporter, Runner, output_names, register_exporter

OPSET = 18


@register_exporter
class OnnxExporter(Exporter):
    name = "onnx"
    suffix = ".onnx"
    converter = "torch.onnx.export (dynamo) + onnxslim"
    precisions = ("fp32", "int8")
    extra = "onnx"
    packages = ("onnx", "onnxscript", "onnxslim", "onnxruntime")
    modules = ("onnx", "onnxslim", "onnxruntime")

    def settings(self, precision: str) -> dict:
        return {"opset": OPSET, "quantization": "dynamic QInt8" if precision == "int8" else None}

    def convert(self, model: nn.Module, example: torch.Tensor, path: Path, precision: str) -> None:
        import onnx
        import onnxslim

        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            torch.onnx.export(
                model,
                (example,),
                str(raw),
                opset_version=OPSET,
                input_names=["input"],
                output_names=output_names(model, example),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            slim = onnxslim.slim(onnx.load(str(raw)))
            if precision == "fp32":
                onnx.save(slim, str(path))
                return
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = Path(tmp) / "fp32.onnx"
            onnx.save(slim, str(fp32))
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)

    def load_runner(self, path: Path) -> Runner | str:
        """The file run by onnxruntime on one thread with its default options, as the agent opens it."""
        return onnxruntime.open_session(str(path), 1, onnxruntime.OPTIONS)[0]

    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        session = onnxruntime.create(path, 1)

        def describe(values) -> list[dict]:
            return [{"name": v.name, "shape": list(v.shape), "dtype": v.type} for v in values]

        return describe(session.get_inputs()), describe(session.get_outputs())

    def weight_dtypes(self, path: Path) -> set[str]:
        """Element types of the initializers (the weights), without loading external data."""
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        return {onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in model.graph.initializer}
