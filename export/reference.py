"""Model references: how every command names a model, and how a stored cell names it again.

One grammar for ``bench export``, ``bench run``, ``bench profile`` and ``bench flops`` (and for
``Cell.model``, what a run stores and a resume or a farm worker reads back):

- a zoo name (``edgevit_xxs``; the commands also expand shell patterns such as ``edgevit_*``);
- a user's factory, ``path/to/net.py:make``, with its arguments as Python literals:
  ``path/to/net.py:make(0.5, depth=2)`` (on the command line also ``--factory-args '{"depth": 2}'``);
- a model file run as it is: ``.onnx``, ``.tflite``, ``.mlpackage`` (``bench run`` only);
- a zoo name or a factory followed by `` --input-shape 1,3,16,16`` and `` --weights PATH``, the
  options as a command line gives them. A model with several inputs names each one
  ``[NAME:]SHAPE[:DTYPE]``, separated by ``;`` (or ``--input-shape`` repeated):
  ``--input-shape 'image:1,3,64,64;ids:1,16:int64'`` (:class:`Inputs`).

:func:`parse_reference` reads one into a :class:`ModelRef`; :attr:`ModelRef.canonical` writes it
back in one form: the model file and the weights as absolute paths, keyword arguments sorted by
name, the options in a fixed order. A cell's model is that string, so a stored run names
everything its artifact was built from (a resume and a farm export the same thing without any
other record), and ``bench compare`` never pairs a model measured at 16x16 with the same model at
224x224.

Pure parsing: nothing here imports torch or the zoo's model code (the CLI checks options before it
loads them; :func:`canonical` reads a zoo model's card from the catalogue).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError

# model files run as they are: name suffix (any case: a Windows export's .ONNX too) -> format
MODEL_FILE_FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".mlpackage": "coreml"}
MAX_INPUT_ELEMENTS = 2**28  # 1 GiB of float32: a larger input is a typo, not a benchmark
_OPTIONS = re.compile(r"\s+(--input-shape|--weights)\s+")
_CALL_HELP = "a name, or a call with literal arguments like make(0.5, width=2)"


def parse_shape(text: str, option: str = "--input-shape") -> tuple[int, ...]:
    """'1,3,224,224' or '1x3x224x224' -> (1, 3, 224, 224): positive integers, any rank (a sequence
    model's (1, 128), a signal's (1, 2, 16000)); raises BenchError naming ``option``."""
    try:
        shape = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        raise BenchError(f"{option} '{text}' is not a list of integers like 1,3,224,224") from None
    if min(shape) <= 0:
        raise BenchError(f"{option} '{text}' must be positive integers")
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise BenchError(f"{option} '{text}' has {math.prod(shape)} elements; at most {MAX_INPUT_ELEMENTS}")
    return shape


INPUT_DTYPES = ("float32", "float16", "int64", "int32", "bool")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class TensorSpec:
    """One model input: ``shape`` (positive integers, any rank), ``name`` ("" when the user named
    none: the forward's parameter name is used), ``dtype`` (one of :data:`INPUT_DTYPES`)."""

    shape: tuple[int, ...]
    name: str = ""
    dtype: str = "float32"

    @property
    def text(self) -> str:
        """``[NAME:]SHAPE[:DTYPE]`` as :func:`parse_inputs` reads it (dtype only when not float32)."""
        text = ",".join(map(str, self.shape))
        text = f"{self.name}:{text}" if self.name else text
        return text if self.dtype == "float32" else f"{text}:{self.dtype}"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class Inputs:
    """The inputs a model is exported and measured at, in the order ``forward`` takes them.

    One unnamed float32 input is the common case (``--input-shape 1,3,224,224``); a model with
    several names or orders each of them (:func:`parse_inputs`)."""

    tensors: tuple[TensorSpec, ...]

    @classmethod
    def of_shape(cls, shape) -> Inputs:
        """One unnamed float32 input of ``shape``."""
        return cls((TensorSpec(tuple(int(v) for v in shape)),))

    @classmethod
    def from_list(cls, items: list[dict]) -> Inputs:
        """The inverse of :meth:`to_list` (what a job or a farm payload carries)."""
        return cls(tuple(TensorSpec(tuple(d["shape"]), d.get("name", ""), d.get("dtype", "float32")) for d in items))

    def to_list(self) -> list[dict]:
        return [t.to_dict() for t in self.tensors]

    def __len__(self) -> int:
        return len(self.tensors)

    def __iter__(self):
        return iter(self.tensors)

    @property
    def plain(self) -> bool:
        """One unnamed float32 input (every zoo model; the common user model)."""
        return len(self.tensors) == 1 and self.tensors[0] == TensorSpec(self.tensors[0].shape)

    @property
    def text(self) -> str:
        """The ``--input-shape`` value that gives these inputs (``1,3,224,224``; ``a:1,3;b:1,4:int64``)."""
        return ";".join(t.text for t in self.tensors)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the one input; BenchError for a model with several (for what takes one only)."""
        if len(self.tensors) != 1:
            raise BenchError(
                f"the model has {len(self.tensors)} inputs ({self.text}); this takes models with one input"
            )
        return self.tensors[0].shape


def parse_inputs(text: str, option: str = "--input-shape") -> Inputs:
    """``--input-shape``: one shape (``1,3,224,224`` or ``1x3x224x224``) or several inputs separated
    by ``;`` each ``[NAME:]SHAPE[:DTYPE]`` (``image:1,3,64,64;ids:1,16:int64``). Raises BenchError
    naming ``option`` for a malformed item, a bad name or dtype, a name given twice, or more than
    :data:`MAX_INPUT_ELEMENTS` elements in all."""
    items = [item.strip() for item in text.split(";")]
    if not all(items):
        raise BenchError(f"{option} '{text[:80]}' has an empty item; give SHAPE or NAME:SHAPE[:DTYPE] separated by ;")
    tensors = []
    for item in items:
        parts = item.split(":")
        if len(parts) == 1:
            parts = ["", parts[0], "float32"]
        elif len(parts) == 2:  # NAME:SHAPE or SHAPE:DTYPE
            parts = ["", *parts] if parts[1] in INPUT_DTYPES else [*parts, "float32"]
        if len(parts) != 3:
            raise BenchError(f"{option} '{item[:80]}' is not SHAPE or NAME:SHAPE[:DTYPE] like ids:1,16:int64")
        name, shape, dtype = parts
        if name and not _NAME.match(name):
            raise BenchError(
                f"{option}: input name '{name[:40]}': use ASCII letters, digits and _ (not first), at most 64"
            )
        if dtype not in INPUT_DTYPES:
            raise BenchError(f"{option}: dtype '{dtype[:20]}' of '{item[:60]}' is not one of {', '.join(INPUT_DTYPES)}")
        tensors.append(TensorSpec(parse_shape(shape, option), name, dtype))
    names = [t.name for t in tensors if t.name]
    if len(set(names)) != len(names):
        raise BenchError(f"{option} '{text[:80]}' names an input twice")
    total = sum(math.prod(t.shape) for t in tensors)
    if total > MAX_INPUT_ELEMENTS:
        raise BenchError(f"{option} '{text[:80]}' has {total} elements; at most {MAX_INPUT_ELEMENTS}")
    return Inputs(tuple(tensors))


def parse_factory_args(text: str) -> tuple[tuple, dict[str, Any]]:
    """``--factory-args``: a JSON object (keyword arguments) or list (positional ones) ->
    ``(args, kwargs)``; raises BenchError."""
    try:
        value = json.loads(text)
    except ValueError:
        raise BenchError(f"""--factory-args '{text}' is not JSON like '{{"width": 0.5}}'""") from None
    if isinstance(value, dict):
        return (), value
    if isinstance(value, list):
        return tuple(value), {}
    raise BenchError(f"--factory-args '{text}' must be a JSON object (keyword arguments) or a list (positional ones)")


def model_file_format(path: str | Path) -> str | None:
    """The format of a model file by its name (``onnx``, ``tflite``, ``coreml``; the suffix in any
    case), None for any other name. The content is checked against it by ``export.base.read_model_file``."""
    return MODEL_FILE_FORMATS.get(Path(path).suffix.lower())


def is_model_file(text: str) -> bool:
    """A model file measured as it is (``.onnx``, ``.tflite``, ``.mlpackage``, any case), not a factory or a name."""
    head = split_options(text)[0]
    return model_file_format(head) is not None and not is_user_reference(head)


def is_user_reference(text: str) -> bool:
    """``path/to/file.py:factory`` (also a bare ``file.py``, refused later with how to name the factory)."""
    head = split_options(text)[0]
    return ".py:" in head or head.endswith(".py")


def split_options(text: str) -> tuple[str, str]:
    """``'net.py:make --input-shape 1,8'`` -> ``('net.py:make', ' --input-shape 1,8')``."""
    match = _OPTIONS.search(text)
    return (text, "") if match is None else (text[: match.start()], text[match.start() :])


@dataclass(frozen=True)
class ModelRef:
    """One model as a command or a cell names it (see the module docstring).

    ``target``: a zoo name, or the absolute path of a user's ``.py`` file; ``factory``: the function
    (or class) in that file, None for a zoo model; ``args`` / ``kwargs``: its literal arguments
    (kwargs sorted by name); ``inputs``: None for the model's default; ``weights``: an absolute
    path. ``shown``: the file for error messages (relative to the working folder when in it).
    """

    target: str
    factory: str | None = None
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    inputs: Inputs | None = None
    weights: str | None = None
    shown: str = field(default="", compare=False, repr=False)

    @property
    def is_user(self) -> bool:
        return self.factory is not None

    @property
    def call(self) -> str:
        """The factory call as written in a reference: ``make``, ``make(0.5, width=2)``; a zoo model's name."""
        if self.factory is None:
            return self.target
        if not (self.args or self.kwargs):
            return self.factory
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.factory}({', '.join(parts)})"

    @property
    def label(self) -> str:
        """The factory as the user named it, for messages: ``models/net.py:make``."""
        return f"{self.shown or self.target}:{self.factory}" if self.is_user else self.target

    @property
    def canonical(self) -> str:
        """The one string for this model (what ``Cell.model`` stores); :func:`parse_reference` reads it back."""
        text = f"{self.target}:{self.call}" if self.is_user else self.target
        if self.inputs is not None:
            text += f" --input-shape {self.inputs.text}"
        if self.weights is not None:
            text += f" --weights {self.weights}"
        return text

    def __str__(self) -> str:
        return self.canonical

    def without_shape(self, default: Inputs) -> ModelRef:
        """This reference with ``inputs`` None when they are ``default`` (the canonical form names a
        shape only when it is not the model's own)."""
        return replace(self, inputs=None) if self.inputs == default else self


def parse_reference(
    text: str,
    input_shape: Inputs | tuple[int, ...] | None = None,
    weights: str | Path | None = None,
    factory_args: tuple[tuple, dict[str, Any]] | None = None,
) -> ModelRef:
    """Read a model reference (see the module docstring); ``input_shape`` (:class:`Inputs`, or the
    shape of one input), ``weights`` and
    ``factory_args`` (``(args, kwargs)``) are the command line's options, added to what the text
    names. Raises BenchError for a malformed reference, arguments that are not literals, and an
    option given twice (in the text and on the command line) with different values."""
    head, tail = split_options(text.strip())
    inline = _inline_options(text, tail)
    if input_shape is not None and not isinstance(input_shape, Inputs):
        input_shape = Inputs.of_shape(input_shape)
    shape = _one_of("--input-shape", text, inline.get("--input-shape"), input_shape)
    weights_path = _one_of("--weights", text, inline.get("--weights"), str(weights) if weights else None)
    weights_path = os.path.abspath(os.path.expanduser(weights_path)) if weights_path else None
    if not is_user_reference(head):
        if factory_args is not None:
            raise BenchError(f"--factory-args applies to file.py:factory models, not to the zoo model '{head}'")
        return ModelRef(head, inputs=shape, weights=weights_path)
    file, sep, call = head.partition(".py:")
    if not sep or not call.strip():
        raise BenchError(f"'{head}': name the factory as path/to/file.py:factory")
    factory, args, kwargs = _parse_call(call.strip(), head)
    if factory_args is not None:
        args, kwargs = _merge_args(head, (args, kwargs), factory_args)
    path = os.path.abspath(os.path.expanduser(f"{file}.py"))
    ref = ModelRef(path, factory, args, tuple(sorted(kwargs.items())), shape, weights_path, shown=_shown(path))
    try:  # nan, inf, ... (from --factory-args JSON) have no literal: the reference could not be read back
        same = _parse_call(ref.call, head)[1:] == (ref.args, dict(ref.kwargs))
    except BenchError:
        same = False
    if not same:
        raise BenchError(f"'{head}': factory arguments must be values Python writes as literals; {ref.call} is not")
    return ref


def _shown(path: str) -> str:
    """A path for messages: relative to the working folder when it is in it (as a user types it)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if relative.startswith("..") else relative


def _inline_options(text: str, tail: str) -> dict[str, str]:
    parts = _OPTIONS.split(tail)[1:]  # ['--input-shape', '1,3,8,8', '--weights', 'w.pt']
    options: dict[str, str] = {}
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        if name in options or not value.strip():
            raise BenchError(f"'{text}': {name} is given twice or without a value")
        options[name] = value.strip()
    return options


def _one_of(option: str, text: str, inline: str | None, given):
    """The value of ``option``: from the reference's text or from the command line, not both unless equal."""
    if option == "--input-shape" and inline is not None:
        inline = parse_inputs(inline)
    if inline is not None and given is not None and inline != given:
        raise BenchError(f"'{text}' names {option} already; give it once")
    return given if given is not None else inline


def _parse_call(call: str, ref: str) -> tuple[str, tuple, dict[str, Any]]:
    """``make`` or ``make(0.5, width=2)`` -> (name, args, kwargs); only literal arguments."""
    try:
        node = ast.parse(call, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL character
        raise BenchError(f"'{ref}': the factory must be {_CALL_HELP}") from None
    if isinstance(node, ast.Name):
        return node.id, (), {}
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise BenchError(f"'{ref}': the factory must be {_CALL_HELP}")
    values = [*node.args, *(k.value for k in node.keywords)]
    try:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise ValueError
        literals = [ast.literal_eval(v) for v in values]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise BenchError(
            f"'{ref}': factory arguments must be Python literals (numbers, strings, True/False/None, "
            "lists, tuples, dicts)"
        ) from None
    args = tuple(literals[: len(node.args)])
    return node.func.id, args, {k.arg: v for k, v in zip(node.keywords, literals[len(node.args) :], strict=True)}


def _merge_args(ref: str, written: tuple[tuple, dict], given: tuple[tuple, dict]) -> tuple[tuple, dict]:
    """The reference's own arguments and ``--factory-args``: positional ones from one of them only,
    a keyword from one of them only."""
    (args, kwargs), (more_args, more_kwargs) = written, given
    if args and more_args:
        raise BenchError(f"'{ref}': positional factory arguments are given twice (in the reference and --factory-args)")
    twice = sorted(set(kwargs) & set(more_kwargs))
    if twice:
        raise BenchError(f"'{ref}': factory argument '{twice[0]}' is given twice (in the reference and --factory-args)")
    for name in more_kwargs:
        if not name.isidentifier():
            raise BenchError(f"--factory-args: '{name}' is not an argument name")
    return args or more_args, {**kwargs, **more_kwargs}


USER_INPUT_SHAPE = (1, 3, 224, 224)  # a user's model without --input-shape
USER_INPUTS = Inputs.of_shape(USER_INPUT_SHAPE)


def canonical(ref: str, *options) -> str:
    """The canonical reference of ``ref`` with the command line's ``options`` (input shape, weights,
    factory arguments, as :func:`export.source.resolve` takes them): the input shape named only
    when it is not the model's default (a zoo model's card, or :data:`USER_INPUT_SHAPE`). Loads
    nothing: no torch, no model code. Raises what :func:`parse_reference` raises and the zoo's
    UnknownModelError."""
    import models  # the catalogue of names and cards only

    parsed = parse_reference(ref, *options)
    default = USER_INPUTS if parsed.is_user else Inputs.of_shape(models.get_card(parsed.target).input_shape)
    return parsed.without_shape(default).canonical
