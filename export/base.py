"""The exporter interface and its registry: one small class per format.

An exporter converts an ``nn.Module`` at a fixed example input into one file (or bundle),
reports its converter versions (part of the cache key), and, where the format can run on this
machine, returns a callable that runs the file so that it can be verified against PyTorch.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import BenchError, MissingBackendError
from bench.imports import importable
from export.reference import model_file_format

if TYPE_CHECKING:  # torch is imported where a model is converted, not to read a model file
    import torch
    import torch.nn as nn

Runner = Callable[..., list[np.ndarray]]
"""``run(*arrays)``: one numpy array per model input, in order -> every output, in the file's order."""


@dataclass
class ConvertReport:
    """What a converter checked on the way, for a format that cannot be run here: ``checks`` that
    passed, and ``doubts`` that keep them from counting (a tracer warning at the user's own line)."""

    checks: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)


def flatten_outputs(value) -> list[torch.Tensor]:
    """A model's outputs as the flat list converters write: a tensor, or the tensors of nested
    tuples, lists and dicts (torchvision's OrderedDict) in order (dict values in insertion order,
    as ``torch.export`` flattens them). Raises TypeError for an output that holds no tensor."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        flat = [t for item in value for t in flatten_outputs(item)]
        if flat:
            return flat
    raise TypeError(f"the model returned {type(value).__name__} with no tensor in it: return tensors")


def output_names(model: nn.Module, examples: tuple[torch.Tensor, ...]) -> list[str]:
    """``["output"]`` for one output, else ``output_0``, ``output_1``, ... (what the exported file
    calls the flattened outputs)."""
    import torch

    with torch.no_grad():
        count = len(flatten_outputs(model(*examples)))
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _parameters(model: nn.Module) -> list[inspect.Parameter] | None:
    """``model.forward``'s parameters, or None when its signature cannot be read."""
    try:
        return list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return None


def forward_inputs(model: nn.Module) -> tuple[list[str], int]:
    """``(required, most)``: the names of the tensors ``model.forward`` must be given (positional
    parameters without a default) and how many positional ones it takes at most (a large number
    for ``*args``). ``(["input"], 1)`` when its signature cannot be read."""
    parameters = _parameters(model)
    if parameters is None:
        return ["input"], 1
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    required = [p.name for p in positional if p.default is inspect.Parameter.empty]
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    return required, 2**16 if varargs else len(positional)


def _positional_names(model: nn.Module) -> list[str]:
    """The names of ``model.forward``'s positional parameters, in order ([] when unreadable)."""
    return [p.name for p in _parameters(model) or [] if p.kind in _POSITIONAL]


def check_input_count(model: nn.Module, inputs, label: str) -> None:
    """Raises BenchError when ``model.forward`` cannot take as many tensors as ``inputs`` gives
    (export.reference.Inputs), naming the inputs it takes and how to give them."""
    needed, most = forward_inputs(model)
    if not len(needed) <= len(inputs) <= most:
        shapes = ";".join(f"{n}:SHAPE" for n in needed)
        raise BenchError(
            f"{label}: forward takes {len(needed)} input(s) ({', '.join(needed)}), --input-shape gives "
            f"{len(inputs)}; give each as NAME:SHAPE[:DTYPE], e.g. --input-shape '{shapes}'"
        )
    params = _positional_names(model)
    for position, tensor in enumerate(inputs):  # inputs are passed by position: a name must be the one there
        if tensor.name and position < len(params) and tensor.name != params[position]:
            order = ";".join(f"{n}:SHAPE" for n in params[: len(inputs)])
            raise BenchError(
                f"{label}: input {position + 1} is '{params[position]}' in forward, --input-shape names it "
                f"'{tensor.name}'; give the inputs in the forward's order: --input-shape '{order}'"
            )


def input_names(model: nn.Module, inputs) -> list[str]:
    """The names an exported file gives the model's inputs (``inputs``: export.reference.Inputs):
    ``["input"]`` for one unnamed input (every artifact of a one-input model), else each input's
    given name, or the forward's parameter name at its position (``input_1``, ... past them)."""
    if len(inputs) == 1 and not inputs.tensors[0].name:
        return ["input"]
    params = _positional_names(model)
    return [t.name or (params[i] if i < len(params) else f"input_{i}") for i, t in enumerate(inputs)]


def example_tensors(inputs, arrays: list[np.ndarray] | None = None) -> tuple[torch.Tensor, ...]:
    """Tensors to call the model with: ``arrays`` (one per input) as torch tensors of each input's
    dtype, or zeros of each input's shape and dtype."""
    import torch

    if arrays is None:
        arrays = [np.zeros(t.shape, dtype=t.dtype) for t in inputs]
    return tuple(
        torch.from_numpy(np.ascontiguousarray(a).astype(t.dtype, copy=False))
        for a, t in zip(arrays, inputs, strict=True)
    )


class Exporter(ABC):
    name: str
    suffix: str
    converter: str
    precisions: tuple[str, ...]
    extra: str  # the pip extra that installs this backend
    packages: tuple[str, ...]  # distributions whose versions go into the cache key
    modules: tuple[str, ...]  # what must import for this backend to work

    def check_available(self) -> None:
        """MissingBackendError (exit 2, naming what to install) when a module this format's export
        needs cannot be imported; imports nothing (cheap: a command checks it before any work)."""
        for module in self.modules:
            if not importable(module):
                raise MissingBackendError(f"{self.name} export", self.extra, module)

    def versions(self) -> dict[str, str]:
        """Versions of torch and this format's converter packages; missing backend -> exit 2."""
        self.check_available()
        import torch

        versions = {"torch": torch.__version__}
        for package in self.packages:
            try:
                versions[package] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                raise MissingBackendError(f"{self.name} export", self.extra, package) from None
        return versions

    io_types: tuple[str, ...] = ("float32",)  # element types the file's inputs/outputs can have at int8-static
    # its lower precisions are made from its fp32 file (:meth:`quantize`), so the export pipeline starts
    # them from a cached fp32 export; False where a precision is an option of the conversion (CoreML fp16)
    quantizes_files: bool = False

    def settings(self, precision: str, io: str = "float32") -> dict:
        """Export settings that change the produced file (part of the cache key)."""
        return {}

    @abstractmethod
    def convert(
        self,
        model: nn.Module,
        examples: tuple[torch.Tensor, ...],
        path: Path,
        precision: str,
        names: list[str],
        calibration: list[list[np.ndarray]] | None = None,
        io: str = "float32",
    ) -> ConvertReport | None:
        """Write the exported model for the shapes of ``examples`` (one representative seeded tensor
        per input, for converters that trace) to ``path``, its inputs called ``names`` where the
        format keeps names; ``calibration`` (one array per input, per image) for ``int8-static``,
        and ``io`` the element type of its inputs and outputs there (one of :attr:`io_types`).
        Returns what was checked on the way, for a format that cannot be run here
        (:class:`ConvertReport`, or None); raises whatever the converter raises."""

    def quantize(
        self,
        fp32: Path,
        path: Path,
        precision: str,
        names: list[str],
        calibration: list[list[np.ndarray]] | None = None,
        io: str = "float32",
    ) -> None:
        """Write ``precision`` (not fp32) of ``fp32``, this format's fp32 file of the same model, to
        ``path`` without converting the model again (arguments as :meth:`convert`'s); only where
        :attr:`quantizes_files`. Raises whatever the quantizer raises."""
        raise NotImplementedError(f"{self.name} makes its precisions in the conversion itself")

    @abstractmethod
    def load_runner(self, path: Path) -> Runner | str:
        """A callable running the file on one array per input (:data:`Runner`), or the reason it
        cannot run here."""

    @abstractmethod
    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        """Input and output names and shapes as stored in the file."""

    def precision_of(self, path: Path) -> str:
        """The precision of a model file: :func:`precision_of_dtypes` of its weights, ``int8-static``
        where the format shows activations quantized too (:meth:`static_int8`). Raises what the
        reader raises for a file it cannot parse."""
        precision = precision_of_dtypes(self.weight_dtypes(path))
        return STATIC if precision == "int8" and self.static_int8(path) else precision

    def static_int8(self, path: Path) -> bool:
        """Whether an int8 file's activations are int8 too (full-integer), not only its weights."""
        return False

    def weight_dtypes(self, path: Path) -> set[str]:
        """Element types of the file's weights (numpy names: ``float32``, ``float16``, ``int8``, ...), from
        which :func:`precision_of_dtypes` reads its precision. Raises whatever the reader raises for a
        file it cannot parse; NotImplementedError for a format whose files are not read directly."""
        raise NotImplementedError(f"{self.name} files are not read directly")


_EXPORTERS: dict[str, Exporter] = {}


def register_exporter(cls: type[Exporter]) -> type[Exporter]:
    _EXPORTERS[cls.name] = cls()
    return cls


_MODULES = ("export.to_onnx", "export.to_tflite", "export.to_coreml")  # registration order = listing order


def _load_all() -> None:
    for module in _MODULES:
        importlib.import_module(module)


def get_exporter(name: str) -> Exporter:
    _load_all()
    if name not in _EXPORTERS:
        raise BenchError(f"unknown format '{name}'; supported: {', '.join(_EXPORTERS)}")
    return _EXPORTERS[name]


def supported() -> dict[str, tuple[str, ...]]:
    """Format -> precisions it supports."""
    _load_all()
    return {name: e.precisions for name, e in _EXPORTERS.items()}


STATIC = "int8-static"  # full-integer int8: weights and activations, ranges calibrated on images


def io_type_for(fmt: str, precision: str, io: str) -> str:
    """The element type a ``fmt`` / ``precision`` file's inputs and outputs get when ``--io io`` was
    asked: ``io`` where the format offers it (:attr:`Exporter.io_types`) at int8-static, else float32."""
    return io if precision == STATIC and io in get_exporter(fmt).io_types else "float32"


def check_io(io: str, formats: list[str], precisions: list[str]) -> None:
    """``--io``: ``float32``, or a type that a chosen format offers at ``--precision int8-static``
    (``int8`` with TFLite). Raises BenchError naming the formats that offer it otherwise."""
    if io == "float32":
        return
    _load_all()
    if STATIC not in precisions or not any(f in _EXPORTERS and io in _EXPORTERS[f].io_types for f in formats):
        offering = ",".join(name for name, e in _EXPORTERS.items() if "int8" in e.io_types)
        raise BenchError(f"--io {io[:20]}: int8 inputs and outputs come with -f {offering} --precision int8-static")


def declared_dims(shape) -> list[int | None]:
    """A shape as :meth:`Exporter.io_signature` gives it, each dimension its fixed size or None
    where the file leaves it dynamic (onnxruntime names it, ``'batch'``, or gives None; a negative
    or zero size is dynamic too)."""
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def declared_dtype(described: dict) -> str:
    """numpy's name of a tensor's element type as :meth:`Exporter.io_signature` describes it
    (``tensor(int64)`` from onnxruntime, ``int32`` from LiteRT, none from CoreML: float32)."""
    text = described.get("dtype") or "float32"
    if text.startswith("tensor("):
        from bench.runtimes.onnxruntime import NUMPY_TYPES

        return NUMPY_TYPES.get(text, "float32")
    return text


def precision_of_dtypes(dtypes: set[str]) -> str:
    """A model's precision from the element types of its weights: ``int8`` when any is an 8-bit
    integer (dynamic or static quantization: a file does not say which), else ``fp16`` when any is
    float16, else ``fp32``."""
    if dtypes & {"int8", "uint8"}:
        return "int8"
    return "fp16" if "float16" in dtypes else "fp32"


@functools.lru_cache(maxsize=64)
def _read_model_file(path: str, _mtime_ns: int) -> tuple[str, str | None]:
    fmt = model_file_format(path)
    with open(path, "rb") as f:
        tflite = f.read(8)[4:8] == b"TFL3"  # a TFLite flatbuffer's file identifier
    if tflite != (fmt == "tflite"):
        raise BenchError(f"{path} is {'a' if tflite else 'not a'} TFLite flatbuffer: its content contradicts its name")
    try:
        return fmt, get_exporter(fmt).precision_of(Path(path))
    except Exception:  # noqa: BLE001 - unreadable: the cell fails with the reason when it runs
        return fmt, None


def read_model_file(path: str | Path) -> tuple[str, str | None]:
    """``(format, precision)`` of a user's model file (``.onnx``, ``.tflite``): the format from its
    name, checked against its content, the precision from its weights' types (and its quantize
    operators: ``int8-static``); precision None when
    the file is missing or cannot be parsed (its cell then fails with the reason). Raises BenchError
    when the content is not the format its name says (a TFLite flatbuffer named ``.onnx``)."""
    _load_all()
    file = Path(path)
    if not file.is_file():
        return model_file_format(file), None
    return _read_model_file(str(file.resolve()), file.stat().st_mtime_ns)


def check_combination(fmt: str, precision: str) -> None:
    exporter = get_exporter(fmt)
    if precision not in exporter.precisions:
        combos = "; ".join(f"{f}: {','.join(p)}" for f, p in supported().items())
        raise BenchError(f"{fmt} does not support precision '{precision}'; supported: {combos}")
