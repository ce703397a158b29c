"""Parsing of option values shared by several commands (lists, integers, fractions, shapes).

Each parser raises :class:`~bench.errors.BenchError` (exit code 2) with the option's name and the
value the user gave. Every numeric option is checked by one rule, :func:`bench.measure.protocol.check_number`
(finite, within its documented range in ``bench.measure.protocol.LIMITS``): plain int / float options
through the :func:`bounded` callback, comma-separated ones through :func:`ints`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bench.errors import BenchError
from bench.measure.protocol import check_number

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store path or SQLAlchemy URL (default: $BENCH_STORE or results/).")
]


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
        raise BenchError(f"{option} '{text}' must be between 0 and 100%")
    return value


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'1,3,224,224' or '1x3x224x224' -> (1, 3, 224, 224): 4 (NCHW) or 5 (NCTHW) positive integers."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        raise BenchError(f"--input-shape '{text}' is not a list of integers like 1,3,224,224") from None
    if len(shape) not in (4, 5) or min(shape) <= 0:
        raise BenchError(f"--input-shape '{text}' must be 4 (NCHW) or 5 (NCTHW) positive integers")
    return shape
