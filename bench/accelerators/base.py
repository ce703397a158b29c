"""Accelerators: where a cell's graph runs (CPU, a TFLite delegate, an onnxruntime execution
provider, CoreML compute units), one plug-in per accelerator and one registry.

An accelerator names a piece of hardware or a software backend (``gpu``, ``nnapi``, ``cuda``);
what it means on a runtime is that runtime's :class:`Serving`: the options the measurement agent
opens the session with (boards and hosts), the flags of the runtime's native tool (phones), and the
name the runtime reports for it in its output or its session, by which the coverage of each cell
is checked (a delegate that took no node must never be measured as the accelerator).

A cell's accelerator is a *spec*: the accelerator's name, optionally with a variant after a colon
(``nnapi:google-edgetpu`` picks one NNAPI device by the name the phone gives it). Adding an
accelerator is one file in this package plus one line in :func:`accelerators`.

Names and flags follow the tools' own: TFLite ``benchmark_model`` (``--use_gpu``, ``--use_nnapi``,
``--nnapi_accelerator_name``, ``--disable_nnapi_cpu``, ``--use_hexagon``, ``--use_xnnpack``;
tensorflow/lite/tools/delegates/*_delegate_provider.cc), ``onnxruntime_perf_test -e`` (cpu, cuda,
tensorrt, openvino, nnapi, qnn, xnnpack, coreml; onnxruntime/test/perftest/command_args_parser.cc)
and coremltools' ``ComputeUnit`` (CPU_ONLY, CPU_AND_GPU, CPU_AND_NE, ALL).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.errors import BenchError

DEFAULT = "cpu"


@dataclass(frozen=True)
class Option:
    """A delegate option (``--delegate-option KEY=VALUE``): the runtimes it applies to, the values it
    takes, its default, and the native tool flag it becomes (``{value}`` replaced)."""

    runtimes: tuple[str, ...]
    choices: tuple[str, ...]
    default: str
    flag: str  # e.g. "--gpu_backend={value}"; "" when the option changes other flags (see the accelerator)
    help: str = ""


@dataclass(frozen=True)
class Serving:
    """How one accelerator is used on one runtime.

    ``options``: runtime options the agent opens the session with (boards, hosts), e.g.
    ``{"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}``; ``tool_flags``: flags of the
    runtime's native tool on phones; ``reports_as``: the name the runtime gives it in its output or
    session (``GPU`` in benchmark_model's delegation lines, ``CUDAExecutionProvider`` in a session's
    providers), by which coverage is read; None = nothing to check (the CPU). ``agent`` / ``tool``:
    whether it can run through the agent / the native tool, and if not, ``why_not``; ``needs``: what
    to install to get it, for the error when it is missing; ``inference_diff``: the delegate's name
    for TFLite's ``inference_diff`` tool (``--delegate=``), which checks its outputs on a phone."""

    options: dict = field(default_factory=dict)
    tool_flags: tuple[str, ...] = ()
    reports_as: str | None = None
    agent: bool = True
    tool: bool = True
    why_not: str = ""
    needs: str = ""
    inference_diff: str = ""  # TFLite inference_diff's --delegate value for this delegate (phones)
    energy_meter: str = ""  # the meter that measures this accelerator where the profile says "auto" (e.g. nvml)


@dataclass(frozen=True)
class Accelerator:
    """One registered accelerator: its name, what kind of backend it is, a description for
    ``bench devices``, how each runtime it serves uses it, its delegate options, and whether it
    takes a variant after a colon (``variant_help`` says what the variant is)."""

    name: str
    kind: str  # "cpu" | "delegate" | "execution provider" | "compute units"
    description: str
    serves: dict[str, Serving]
    options: dict[str, Option] = field(default_factory=dict)
    variant_help: str = ""
    every_runtime: bool = False  # serves runtimes it does not list as they are (the CPU: any new runtime)

    def runs_on(self, runtime: str) -> bool:
        """Whether this accelerator serves ``runtime``."""
        return self.every_runtime or runtime in self.serves

    def serving(self, runtime: str, variant: str = "", options: dict[str, str] | None = None) -> Serving:
        """How this accelerator runs on ``runtime`` with ``variant`` and delegate ``options`` (KEY ->
        VALUE text, already validated); BenchError when it does not serve that runtime. Accelerators
        with variants or options that change more than one flag override :meth:`adjust`."""
        if not self.runs_on(runtime):
            served = ", ".join(self.serves) or "no runtime"
            raise BenchError(f"accelerator {self.name} runs on {served}, not {runtime}")
        base = self.serves.get(runtime, Serving())
        flags = list(base.tool_flags)
        for key, option in self.options.items():
            if runtime not in option.runtimes or not option.flag:
                continue
            value = (options or {}).get(key, option.default)
            flags.append(option.flag.format(value=value))
        return self.adjust(Serving(**{**base.__dict__, "tool_flags": tuple(flags)}), runtime, variant, options or {})

    def adjust(self, serving: Serving, runtime: str, variant: str, options: dict[str, str]) -> Serving:
        """The serving for a variant or for options beyond single flags (default: unchanged, and a
        variant is refused)."""
        if variant:
            raise BenchError(f"accelerator {self.name} takes no variant (got '{self.name}:{variant}')")
        return serving


_ACCELERATORS: dict[str, Accelerator] = {}


def register_accelerator(accelerator: Accelerator) -> Accelerator:
    """Add an accelerator to the registry (each plug-in file calls this once)."""
    _ACCELERATORS[accelerator.name] = accelerator
    return accelerator


def accelerators() -> dict[str, Accelerator]:
    """Every registered accelerator by name, in the order they are listed to users."""
    from bench.accelerators import ane, cpu, cuda, gpu, hexagon, nnapi, openvino, qnn, tensorrt, xnnpack  # noqa: F401

    return {DEFAULT: _ACCELERATORS[DEFAULT], **_ACCELERATORS}


def split_spec(spec: str) -> tuple[str, str]:
    """``"nnapi:google-edgetpu"`` -> ``("nnapi", "google-edgetpu")``; ``"gpu"`` -> ``("gpu", "")``."""
    name, _, variant = spec.partition(":")
    return name.strip(), variant.strip()


def get_accelerator(spec: str) -> tuple[Accelerator, str]:
    """The accelerator of a spec and its variant; BenchError naming the known ones for an unknown
    name, an empty variant after a colon, or a variant with characters a device name cannot have."""
    import re

    name, variant = split_spec(spec)
    known = accelerators()
    if name not in known:
        raise BenchError(f"unknown accelerator '{one(spec)}'; known: {', '.join(known)}")
    if ":" in spec and not variant:
        what = known[name].variant_help or f"{name} takes no variant"
        raise BenchError(f"accelerator '{one(spec)}' has an empty variant after ':' ({what})")
    if variant and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", variant):
        raise BenchError(f"accelerator variant '{one(variant)}' must be a device name of letters, digits, . _ -")
    if variant and not known[name].variant_help:
        raise BenchError(f"accelerator {name} takes no variant (got '{one(spec)}')")
    return known[name], variant


def normal_spec(spec: str) -> str:
    """``spec`` as stored: validated (:func:`get_accelerator`'s BenchError) and spelled one way
    (``" gpu "`` -> ``"gpu"``, ``"nnapi: x"`` -> ``"nnapi:x"``), so one accelerator is one cell."""
    accelerator, variant = get_accelerator(spec)
    return f"{accelerator.name}:{variant}" if variant else accelerator.name


def one(text: str) -> str:
    from bench.errors import one_line

    return one_line(text, 80)


def serving_for(spec: str, runtime: str, options: dict[str, str] | None = None) -> Serving:
    """How the accelerator ``spec`` runs on ``runtime`` with delegate ``options``; BenchError as
    :func:`get_accelerator` and :meth:`Accelerator.serving` raise."""
    accelerator, variant = get_accelerator(spec)
    return accelerator.serving(runtime, variant, options)


def serves(spec: str, runtime: str) -> bool:
    """Whether the accelerator of ``spec`` runs on ``runtime`` at all."""
    accelerator, _ = get_accelerator(spec)
    return accelerator.runs_on(runtime)


def check_options(options: dict[str, str], specs: list[str], runtimes: list[str]) -> None:
    """Validate ``--delegate-option`` values against the accelerators and runtimes of a run: each
    key must belong to one of the requested accelerators, on a runtime the run uses, with a value it
    takes. BenchError (one line) otherwise."""
    chosen = {get_accelerator(s)[0].name: get_accelerator(s)[0] for s in specs}
    owners = {key: acc for acc in accelerators().values() for key in acc.options}
    for key, value in options.items():
        if key not in owners:
            known = sorted(owners)
            raise BenchError(f"unknown delegate option '{one(key)}'; known: {', '.join(known)}")
        owner = owners[key]
        option = owner.options[key]
        if owner.name not in chosen:
            raise BenchError(
                f"delegate option {key} belongs to accelerator {owner.name}, which this run does not use "
                f"(--accelerator {','.join(specs)})"
            )
        if not set(option.runtimes) & set(runtimes):
            raise BenchError(
                f"delegate option {key} is an option of {owner.name} on {', '.join(option.runtimes)}; "
                f"this run's cells use {', '.join(runtimes)}"
            )
        if value not in option.choices:
            raise BenchError(f"delegate option {key}={one(value)}: {key} takes {', '.join(option.choices)}")


@dataclass(frozen=True)
class Delegation:
    """A run's accelerator settings: delegate options (``--delegate-option KEY=VALUE``, validated by
    :func:`check_options`) and whether a partially delegated cell fails (``--require-full-delegation``)."""

    options: dict = field(default_factory=dict)
    require_full: bool = False
