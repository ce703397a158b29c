"""ONNX: torch.onnx.export (dynamo) at a fixed opset, simplified with onnxslim, run by onnxruntime.

int8 is onnxruntime's dynamic-range quantization (int8 weights, activations quantized on the fly);
int8-static its static quantization (``quantize_static``): QDQ format, int8 weights per output
channel and int8 activations whose ranges are calibrated (min/max) on images. The graph's input
and output stay float32 (QuantizeLinear after the input, DequantizeLinear before the output), as
execution providers of NPUs (QNN, NNAPI) take QDQ graphs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.runtimes import onnxruntime
from export.base import STATIC, Exporter, Runner, output_names, register_exporter

OPSET = 18

if TYPE_CHECKING:
    import torch
    import torch.nn as nn


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over calibration samples (one array per input)."""

    def __init__(self, names: list[str], samples: list[list[np.ndarray]]) -> None:
        self._feeds = iter([dict(zip(names, sample, strict=True)) for sample in samples])

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


@register_exporter
class OnnxExporter(Exporter):
    name = "onnx"
    suffix = ".onnx"
    converter = "torch.onnx.export (dynamo) + onnxslim"
    precisions = ("fp32", "int8", STATIC)
    extra = "onnx"
    quantizes_files = True
    packages = ("onnx", "onnxscript", "onnxslim", "onnxruntime")
    modules = ("onnx", "onnxslim", "onnxruntime")

    def settings(self, precision: str, io: str = "float32") -> dict:
        quantization = {
            "int8": "dynamic QInt8",
            STATIC: "static QDQ, QInt8 per-channel weights, QInt8 activations (MinMax)",
        }
        return {"opset": OPSET, "quantization": quantization.get(precision)}

    def convert(
        self,
        model: nn.Module,
        examples: tuple[torch.Tensor, ...],
        path: Path,
        precision: str,
        names: list[str],
        calibration: list[list[np.ndarray]] | None = None,
        io: str = "float32",
    ) -> None:
        import onnx
        import onnxslim
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            torch.onnx.export(
                model,
                examples,
                str(raw),
                opset_version=OPSET,
                input_names=names,
                output_names=output_names(model, examples),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            slim = onnxslim.slim(onnx.load(str(raw)))
            kept = {i.name for i in slim.graph.input}
            dropped = [n for n in names if n not in kept]
            if dropped:  # the exporter removes inputs the graph never reads: the file would take fewer
                raise ValueError(
                    f"the model never uses input {', '.join(dropped)}: torch.onnx.export drops it, so the file "
                    "takes fewer inputs than forward; remove it from forward (or use it)"
                )
            if precision == "fp32":
                onnx.save(slim, str(path))
                return
            fp32 = Path(tmp) / "fp32.onnx"
            onnx.save(slim, str(fp32))
            self.quantize(fp32, path, precision, names, calibration, io)

    def quantize(
        self,
        fp32: Path,
        path: Path,
        precision: str,
        names: list[str],
        calibration: list[list[np.ndarray]] | None = None,
        io: str = "float32",
    ) -> None:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        if precision == "int8":
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
            return
        with tempfile.TemporaryDirectory() as tmp:
            ready = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32), str(ready))  # shape inference + basic fusions, as onnxruntime advises
            quantize_static(
                str(ready),
                str(path),
                _Reader(names, calibration or []),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )

    def load_runner(self, path: Path) -> Runner | str:
        """The file run by onnxruntime on one thread with its default options, as the agent opens it."""
        return onnxruntime.open_session(str(path), 1, onnxruntime.OPTIONS)[0]

    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        session = onnxruntime.create(path, 1)

        def describe(values) -> list[dict]:
            return [{"name": v.name, "shape": list(v.shape), "dtype": v.type} for v in values]

        return describe(session.get_inputs()), describe(session.get_outputs())

    def static_int8(self, path: Path) -> bool:
        """QDQ or QOperator activations (QuantizeLinear, QLinear* nodes), not DynamicQuantizeLinear."""
        import onnx

        ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
        return "DynamicQuantizeLinear" not in ops and any(
            op == "QuantizeLinear" or op.startswith("QLinear") for op in ops
        )

    def weight_dtypes(self, path: Path) -> set[str]:
        """Element types of the initializers (the weights), without loading external data."""
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        return {onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in model.graph.initializer}
