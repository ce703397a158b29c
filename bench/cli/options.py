"""Parsing of option values shared by several commands (lists, integers, fractions, shapes), and
the options of every command that takes a model.

Each parser raises :class:`~bench.errors.BenchError` (exit code 2) with the option's name and the
value the user gave. Every numeric option is checked by one rule, :func:`bench.measure.protocol.check_number`
(finite, within its documented range in ``bench.measure.protocol.LIMITS``): plain int / float options
through the :func:`bounded` callback, comma-separated ones through :func:`ints`.

``bench export``, ``bench run``, ``bench profile`` and ``bench flops`` take the same model references
(:mod:`export.reference`) with the same options, declared here once (:data:`InputShapeOption`,
:data:`WeightsOption`, :data:`FactoryArgsOption`) and applied by :func:`model_references`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bench.errors import BenchError
from bench.measure.protocol import check_number

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Store path or SQLAlchemy URL (default: $BENCH_STORE, else results/bench.sqlite)."),
]


def input_shape_text(value: list[str] | str | None) -> str | None:
    """Repeated ``--input-shape`` values as one (``a:1,3;b:1,4``), as a reference writes them."""
    return ";".join(value) if isinstance(value, list) else value


InputShapeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        help="Input shape, e.g. 1,3,224,224; any rank for file.py:factory models (default 1,3,224,224), "
        "a zoo model's rank for zoo models (default: its card's). Several inputs: NAME:SHAPE[:DTYPE] "
        "each, repeated or separated by ';' (image:1,3,64,64;ids:1,16:int64).",
    ),
]
WeightsOption = Annotated[str | None, typer.Option("--weights", help="Local checkpoint (one model only).")]
FactoryArgsOption = Annotated[
    str | None,
    typer.Option(
        "--factory-args",
        help="Arguments of file.py:factory models as JSON, e.g. '{\"width\": 0.5}' (or name them: "
        "file.py:factory(width=0.5)).",
    ),
]
CalibrationOption = Annotated[
    str | None,
    typer.Option(
        "--calibration",
        help="int8-static: a folder of images to calibrate activation ranges on (up to 200 used).",
    ),
]
IoOption = Annotated[
    str,
    typer.Option(
        "--io", help="int8-static: element type of the file's input and output, float32 or int8 (TFLite, for NPUs)."
    ),
]
MeanOption = Annotated[
    str | None,
    typer.Option("--mean", help="Preprocessing of a file.py:factory model: R,G,B mean (default ImageNet's)."),
]
StdOption = Annotated[
    str | None, typer.Option("--std", help="Preprocessing of a file.py:factory model: R,G,B std (default ImageNet's).")
]
CropPctOption = Annotated[
    float | None,
    typer.Option("--crop-pct", help="Preprocessing: centre crop share of the resized image (default 0.875)."),
]
InterpolationOption = Annotated[
    str | None,
    typer.Option(
        "--interpolation", help="Preprocessing: resize filter nearest, bilinear or bicubic (default bilinear)."
    ),
]


def preprocess_options(mean: str | None, std: str | None, crop_pct: float | None, interpolation: str | None) -> dict:
    """``--mean``, ``--std``, ``--crop-pct``, ``--interpolation`` as ``export.calibration.preprocess_for``
    takes them (None: the model's own); BenchError for a mean or std that is not 3 finite numbers."""

    def triplet(text: str | None, option: str) -> tuple[float, ...] | None:
        if text is None:
            return None
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            raise BenchError(f"{option} '{text[:40]}' is not 3 comma-separated numbers like 0.5,0.5,0.5") from None
        if len(values) != 3 or not all(abs(v) < 1e30 for v in values):
            raise BenchError(f"{option} '{text[:40]}' needs 3 finite numbers, one per RGB channel")
        return values

    if crop_pct is not None:
        check_number("--crop-pct", crop_pct)
    return {
        "mean": triplet(mean, "--mean"),
        "std": triplet(std, "--std"),
        "crop_pct": crop_pct,
        "interpolation": interpolation,
    }


def split(value: str) -> list[str]:
    """Comma-separated values, stripped, empty ones and repeats dropped: 'onnx, tflite,,onnx' -> ['onnx', 'tflite']."""
    return list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def split_or_none(value: str | None) -> list[str] | None:
    """:func:`split`, or ``None`` when the option was not given (meaning: no filter)."""
    return split(value) if value else None


def bounded(ctx: typer.Context, param: typer.CallbackParam, value):
    """Typer callback of every int / float option: the value when :func:`check_number` accepts it for
    the option (and the command: ``profile --depth`` has its own range); BenchError otherwise."""
    return check_number(param.opts[0], value, ctx.info_name)


# the measurement protocol's options, shared by `bench run` and `bench ab` (defaults: Protocol's)
WarmupOption = Annotated[int, typer.Option(callback=bounded, help="Untimed runs before timing.")]
MinRunsOption = Annotated[int, typer.Option(callback=bounded, help="Minimum timed runs.")]
MinTimeOption = Annotated[float, typer.Option(callback=bounded, help="Minimum seconds of timed runs.")]
MaxRunsOption = Annotated[int, typer.Option(callback=bounded, help="Maximum timed runs.")]
MaxTimeOption = Annotated[float, typer.Option(callback=bounded, help="Maximum seconds of timed runs.")]

OnContentionOption = Annotated[
    str,
    typer.Option(
        "--on-contention",
        help="When other processes took over 20% of the measured CPUs during a cell: retry (once, then keep it "
        "flagged), warn (keep it flagged) or fail (store the cell as failed).",
    ),
]

# Where the graph runs (bench.accelerators): declared once for bench run and bench ab.
AcceleratorOption = Annotated[
    str | None,
    typer.Option(
        "--accelerator",
        "-a",
        help="Comma-separated accelerators (default cpu): cpu, xnnpack, gpu, nnapi[:DEVICE], hexagon, qnn, cuda, "
        "tensorrt, openvino, ane; each runs on the runtimes it serves and must be in the device's profile.",
    ),
]
DelegateOption = Annotated[
    list[str] | None,
    typer.Option(
        "--delegate-option",
        help="Accelerator setting KEY=VALUE, repeatable: gpu_backend=cl|gl, gpu_precision_loss_allowed=true|false "
        "(litert gpu); nnapi_cpu=true|false (allow NNAPI's CPU reference; default false).",
    ),
]
RequireFullOption = Annotated[
    bool,
    typer.Option(
        "--require-full-delegation", help="A cell whose accelerator took only part of the graph fails instead."
    ),
]


def accelerator_specs(accelerator: str | None) -> list[str]:
    """The ``--accelerator`` specs (default ``["cpu"]``), each checked; BenchError naming the known
    accelerators for an unknown one."""
    from bench.accelerators.base import accelerators, get_accelerator

    specs = list(dict.fromkeys(split(accelerator))) if accelerator is not None else ["cpu"]
    if not specs:
        raise BenchError(f"--accelerator is empty; known: {', '.join(accelerators())}")
    for spec in specs:
        get_accelerator(spec)
    return specs


def delegation_settings(specs: list[str], values: list[str] | None, require_full: bool, runtimes: list[str]):
    """The run's :class:`~bench.accelerators.base.Delegation`: the ``--delegate-option`` values parsed
    and checked against the accelerator ``specs`` and the ``runtimes`` of the planned cells.
    BenchError (exit 2, one line) for an unknown option, an option of an accelerator the run does
    not use or of another runtime, a value the option does not take, or full delegation required
    of the CPU alone."""
    from bench.accelerators.base import Delegation, check_options

    options = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--delegate-option '{value[:80]}': use KEY=VALUE")
        key, text = key.strip(), text.strip()
        if key in options and options[key] != text:
            raise BenchError(f"--delegate-option {key} is given twice ({options[key]} and {text[:40]}); give it once")
        options[key] = text
    check_options(options, specs, runtimes)
    if require_full and specs == ["cpu"]:
        raise BenchError("--require-full-delegation needs an --accelerator other than cpu")
    return Delegation(options, require_full)


def ints(value: str, option: str) -> list[int]:
    """Comma-separated positive integers ('1,4' -> [1, 4]), each within ``option``'s range; raises
    BenchError naming ``option``."""
    try:
        values = [int(v) for v in split(value)]
    except ValueError:
        raise BenchError(f"{option} '{value[:40]}' must be comma-separated integers") from None
    if not values or min(values) < 1:
        raise BenchError(f"{option} '{value[:40]}' must be positive integers")
    return [check_number(option, v) for v in values]


def fraction(text: str, option: str) -> float:
    """'5%' or '0.05' -> 0.05, in [0, 1); raises BenchError naming ``option``."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BenchError(f"{option} '{text}' is not a number like 5% or 0.05") from None
    if not 0 <= value < 1:
        bare = not text.endswith("%") and 1 <= value < 100  # "5" meant as 5%
        hint = f" ({text} reads as {percent(value)}: write {text}% or {value / 100:g})" if bare else ""
        raise BenchError(f"{option} '{text}' must be between 0 and 100%{hint}")
    return value


def percent(value: float) -> str:
    """A fraction as :func:`fraction` reads it back, in percent: 0.03 -> '3%', 0.005 -> '0.5%'."""
    return f"{100 * value:.6g}%"


def parse_shape(text: str | None):
    """``--input-shape`` (:func:`export.reference.parse_inputs`: '1,3,224,224', or several inputs
    'a:1,3,8,8;b:1,4:int64') -> ``export.reference.Inputs``; None when the option was not given."""
    from export.reference import parse_inputs

    return None if text is None else parse_inputs(text)


def model_references(
    given: list[str] | None,
    suite: str = "default",
    input_shape: list[str] | str | None = None,
    weights: str | None = None,
    factory_args: str | None = None,
    files: bool = False,
) -> list[str]:
    """The canonical references (:mod:`export.reference`) of the models a command names, in order,
    each once: zoo names and patterns expanded (the ``suite`` when none is named), ``file.py:factory``
    with its arguments; ``--input-shape``, ``--weights`` and ``--factory-args`` applied to each of
    them. Model files (``.onnx``, ``.tflite``, ``.mlpackage``) stay as typed where the command
    measures them as they are (``files``); a file named twice (``a.onnx`` and ``/abs/a.onnx``, or
    through a link) is the first spelling, once.

    Loads no model file. Raises BenchError for a malformed reference or option, a ``file.py`` that
    does not exist, a model file where
    ``files`` is False, ``--weights`` for several models or ``--factory-args`` without a factory to
    take them; the zoo's UnknownModelError for an unknown name.
    """
    from bench.measure.suite import resolve_models
    from export.reference import (
        canonical,
        is_model_file,
        is_user_reference,
        parse_factory_args,
        parse_reference,
        split_options,
    )

    shape = parse_shape(input_shape_text(input_shape))
    arguments = parse_factory_args(factory_args) if factory_args is not None else None
    if weights is not None and not Path(weights).is_file():
        raise BenchError(f"weights file not found: {weights}")
    refs: list[str] = []
    for text in given or resolve_models(None, suite):
        if is_model_file(text):
            if not files:
                raise BenchError(f"{text} is a model file already: `bench run -m {text}` measures it as it is")
            refs.append(text)
        elif is_user_reference(text):
            refs.append(canonical(text, shape, weights, arguments))
            parsed = parse_reference(refs[-1])
            if not Path(parsed.target).is_file():  # a mistyped path: exit 2 before anything loads
                raise BenchError(f"model file not found: {parsed.shown or parsed.target}")
        else:
            head, tail = split_options(text)
            refs += [canonical(name + tail, shape, weights) for name in resolve_models([head], suite)]

    # each model once: a model file by the file it is (./a.onnx, a.onnx and /abs/a.onnx are one cell,
    # named as first typed), everything else by its canonical reference
    def identity(ref: str) -> str:
        if not is_model_file(ref):
            return ref
        try:
            return str(Path(ref).resolve())
        except (OSError, RuntimeError):  # a link loop: the file is then not found, with its name as typed
            return ref

    first: dict[str, str] = {}
    for ref in refs:
        first.setdefault(identity(ref), ref)
    refs = list(first.values())
    models = [r for r in refs if not is_model_file(r)]
    if weights is not None and len(models) > 1:
        raise BenchError("--weights applies to one model; name one model (and no suite)")
    if arguments is not None and not any(is_user_reference(r) for r in models):
        raise BenchError("--factory-args applies to file.py:factory models; none is named")
    if (shape or weights) and not models:
        raise BenchError(
            "--input-shape and --weights apply to zoo and file.py:factory models; a model file runs as it is"
        )
    return refs


def one_model(
    given: str, input_shape: list[str] | str | None, weights: str | None, factory_args: str | None, command: str
) -> str:
    """The canonical reference of the one model ``command`` (``bench profile``, ``bench flops``) takes:
    :func:`model_references` of ``given``; BenchError when it is a pattern matching several."""
    refs = model_references([given], "default", input_shape, weights, factory_args)
    if len(refs) != 1:
        raise BenchError(f"'{given}' names {len(refs)} models; {command} takes one")
    return refs[0]


# command-line parameter -> Protocol field, for the options that set the measurement protocol
PROTOCOL_PARAMS = {
    "warmup": "warmup",
    "min_runs": "min_runs",
    "min_time": "min_time",
    "max_runs": "max_runs",
    "max_time": "max_time",
    "ci_target": "ci_target",
    "cooldown": "cooldown",
    "sustained": "sustained_s",
    "chunk": "chunk_s",
}


def protocol_params(protocol: dict) -> dict:
    """A recorded protocol (``Protocol`` fields) keyed by the command-line parameters that set it."""
    return {param: protocol.get(field) for param, field in PROTOCOL_PARAMS.items()}


def refuse_typed_conflicts(ctx: typer.Context, given: dict, recorded: dict, run_id: str) -> None:
    """A resume measures with the run's recorded settings: an option typed on the command line whose
    value (``given``, by parameter name) differs from the recorded one raises BenchError (exit 2)
    naming both; options left at their defaults are not compared."""
    for param in ctx.command.params:
        if param.name not in given or getattr(ctx.get_parameter_source(param.name), "name", None) != "COMMANDLINE":
            continue
        if given[param.name] != recorded.get(param.name):
            raise BenchError(
                f"{param.opts[0]} {shown_setting(given[param.name])} conflicts with the recorded "
                f"{shown_setting(recorded.get(param.name))} of run {run_id}: a resume measures with the run's "
                "own settings; drop the option"
            )


def shown_setting(value: Any) -> str:
    """A recorded setting as the user would type it: lists comma-separated, options KEY=VALUE."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(none)"
    return "(default)" if value is None else str(value)
