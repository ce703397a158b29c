"""TFLite: litert-torch converts PyTorch straight to a .tflite flatbuffer; LiteRT runs it.

Why this route: litert-torch lowers torch.export graphs through StableHLO without a TensorFlow
install, and installs beside the pinned torch and numpy (onnx2tf pins old TensorFlow and numpy;
ai-edge-torch is its former name). fp16 (weights stored as float16) and int8 (dynamic range:
int8 weights, float activations) are applied to the fp32 flatbuffer with ai-edge-quantizer, the
LiteRT team's post-training quantizer.

int8-static (full integer: int8 weights per channel and int8 activations) is ai-edge-quantizer's
``static_wi8_ai8`` recipe, calibrated on images. Two choices, both measured (see the notes of
issue #18): (1) calibration keeps the running minimum and maximum of each tensor over all images;
the quantizer's own ``calibrate`` averages per-image ranges with a moving average, which clips
rarer large activations (argmax agreement with fp32 fell from 98% to 80% on a test model with
hardswish, residual adds and LayerNorm). (2) The graph's input and output stay float32 by
default (QUANTIZE after the input, DEQUANTIZE before the output), so the file takes what every
other artifact takes; ``io="int8"`` (``--io int8``) gives int8 input and output tensors, as NPUs
want. litert-torch's PT2E quantizer was not taken: it leaves hardswish, add, mean, concat and
LayerNorm in float between DEQUANTIZE / QUANTIZE pairs, i.e. not full-integer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.runtimes import litert
from export.base import STATIC, Exporter, Runner, register_exporter

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

if TYPE_CHECKING:
    import torch
    import torch.nn as nn


# Entries appended to a static recipe: the graph's input and output stay float32.
_FLOAT_IO = [
    {
        "regex": ".*",
        "operation": op,
        "algorithm_key": "no_quantize",
        "op_config": {"compute_precision": "FLOAT", "explicit_dequantize": False},
    }
    for op in ("INPUT", "OUTPUT")
]


def _running_minmax(kept: dict, new: dict) -> dict:
    """Calibration statistics update: the smallest minimum and largest maximum seen so far."""
    if not kept:
        return new
    return {"min": np.minimum(kept["min"], new["min"]), "max": np.maximum(kept["max"], new["max"])}


def _calibrate(quantizer, fp32: Path, samples: list[list[np.ndarray]]) -> dict:
    """Tensor ranges of the float model over ``samples`` (one array per input each), keyed as the
    quantizer wants them. Uses ai-edge-quantizer's Calibrator with a running min/max update (the
    Quantizer's own ``calibrate`` offers no update rule; its model buffer and recipe manager are
    read from the pinned version, which is part of the cache key)."""
    from ai_edge_quantizer import calibrator

    interpreter = litert.create(fp32, 1, {"xnnpack": False})
    (signature, spec), *_ = interpreter.get_signature_list().items()
    feeds = [dict(zip(spec["inputs"], sample, strict=True)) for sample in samples]
    cal = calibrator.Calibrator(quantizer._float_model_buffer, num_threads=1, qsv_update_func=_running_minmax)  # noqa: SLF001
    cal.calibrate({signature: feeds}, quantizer._recipe_manager)  # noqa: SLF001
    return cal.get_model_qsvs()


@register_exporter
class TFLiteExporter(Exporter):
    name = "tflite"
    suffix = ".tflite"
    converter = "litert-torch (+ ai-edge-quantizer for fp16/int8)"
    precisions = ("fp32", "fp16", "int8", STATIC)
    extra = "tflite"
    quantizes_files = True
    packages = ("litert-torch", "ai-edge-litert", "ai-edge-quantizer")
    modules = ("litert_torch", "ai_edge_quantizer")

    io_types = ("float32", "int8")

    def settings(self, precision: str, io: str = "float32") -> dict:
        recipe = {
            "fp32": None,
            "fp16": "weight-only float16",
            "int8": "dynamic_wi8_afp32",
            STATIC: f"static_wi8_ai8, running min/max calibration, {io} input and output",
        }[precision]
        return {"quantization": recipe}

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
        """litert-torch names the inputs ``args_0``, ``args_1``, ... in forward's order; ``names`` are
        not kept (the runtime feeds inputs by position). int8-static with ``io="int8"``: the
        recipe quantizes the graph's input and output too (int8 tensors, as NPUs take them; the
        runtime quantizes float inputs with the input's scale and zero point)."""
        import litert_torch

        edge_model = litert_torch.convert(model, examples)
        if precision == "fp32":
            edge_model.export(str(path))
            return
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "fp32.tflite"
            edge_model.export(str(fp32))
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
        from ai_edge_quantizer import Quantizer, recipe

        quantizer = Quantizer(str(fp32))
        if precision == STATIC:
            quantizer.load_quantization_recipe(recipe.static_wi8_ai8() + (_FLOAT_IO if io == "float32" else []))
            result = quantizer.quantize(_calibrate(quantizer, fp32, calibration or []))
        else:
            quantizer.load_quantization_recipe(_FP16_RECIPE if precision == "fp16" else recipe.dynamic_wi8_afp32())
            result = quantizer.quantize()
        result.export_model(str(path), overwrite=True)

    def load_runner(self, path: Path) -> Runner | str:
        """The file run by the LiteRT interpreter on one thread with its default options (XNNPACK),
        as the agent opens it."""
        run, _ = litert.open_session(str(path), 1, litert.OPTIONS)
        return run

    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        interpreter = litert.create(path, 1, {"xnnpack": False})  # no delegate (nor its banner) to read shapes

        def describe(details) -> list[dict]:
            return [
                {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": str(np.dtype(d["dtype"]))}
                for d in details
            ]

        return describe(interpreter.get_input_details()), describe(interpreter.get_output_details())

    def static_int8(self, path: Path) -> bool:
        """A QUANTIZE operator (float input quantized to int8 activations) or an int8 input tensor;
        dynamic-range files run hybrid kernels on float activations and have neither."""
        interpreter = litert.create(path, 1, {"xnnpack": False})
        ops = {op["op_name"] for op in interpreter._get_ops_details()}  # noqa: SLF001 - the only op listing
        inputs = {np.dtype(d["dtype"]).name for d in interpreter.get_input_details()}
        return "QUANTIZE" in ops or bool(inputs & {"int8", "uint8"})

    def weight_dtypes(self, path: Path) -> set[str]:
        """Element types of the tensors that hold data in the flatbuffer (the weights); read with the
        builtin kernels only, so that no delegate is made (nor prints its banner)."""
        interpreter = litert.create(path, 1, {"xnnpack": False})
        return {
            np.dtype(d["dtype"]).name
            for d in interpreter.get_tensor_details()
            if d["index"] not in {i["index"] for i in interpreter.get_input_details()}
        }
