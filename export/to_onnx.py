"""ONNX: torch.onnx.export (dynamo) at a fixed opset, simplified with onnxslim, run by onnxruntime.

int8 is onnxruntime's dynamic-range quantization (int8 weights, activations quantized on the fly).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from export.base import Exporter, Runner, register_exporter

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
                output_names=["output"],
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

    def _session(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def load_runner(self, path: Path) -> Runner | str:
        session = self._session(path)
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0]

        return run

    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        session = self._session(path)

        def describe(values) -> list[dict]:
            return [{"name": v.name, "shape": list(v.shape), "dtype": v.type} for v in values]

        return describe(session.get_inputs()), describe(session.get_outputs())
