"""The runtime plug-in interface and the registry.

A runtime is one module in this folder (``onnxruntime.py``, ``litert.py``, ``torch.py``,
``coreml.py``) that owns everything about it: the artifact format it runs, its options and their
allowed values, how a session is opened (``open_session``, used by the measurement agent; the
runtime's ``create`` under it is also what export verification and the profiler call), its native
benchmark tool on phones and how that tool's command is built (``tool_argv``), its profiler hook
(``profile``) and the distributions whose versions describe it. :class:`RuntimePlugin` lists what
such a module provides. Adding a runtime = one new module + one line in :data:`PLUGINS`.

Plug-in modules import only the standard library at the top: the agent (``bench/measure/agent.py``)
loads the module of a job's runtime by its file path on devices where ``bench`` is not installed.
"""

from __future__ import annotations

import importlib
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from bench.errors import BenchError, MissingBackendError
from bench.imports import importable, installed_versions

# The registry: one line per runtime, in the order they are listed and chosen as a format's default.
PLUGINS = (
    "bench.runtimes.onnxruntime",
    "bench.runtimes.litert",
    "bench.runtimes.torch",
    "bench.runtimes.coreml",
)


@dataclass(frozen=True)
class ToolRun:
    """One run of a runtime's native benchmark tool on a device, as its plug-in's ``tool_argv``
    turns it into a command line.

    ``tool``/``graph``: paths on the device; ``runs`` timed inferences (None: as many as fit in
    ``seconds``), at least ``seconds`` and at most ``max_secs`` seconds; ``warmup``: a fixed warm-up
    count; ``options``: the runtime's settings; ``estimate_ms``: a latency estimate in ms (0 when
    unknown) for tools that take a count or a duration but not both; ``extra``: further flags
    (e.g. op profiling); ``inputs``: the model's inputs as the file names them (``name``,
    ``shape``, ``dtype`` each) where the tool must be told them (several inputs, integer inputs),
    else empty; ``accelerator``: the flags that put the graph on an accelerator (a delegate, an
    execution provider: ``bench.accelerators``), empty for the CPU."""

    tool: str
    graph: str
    threads: int
    runs: int | None
    seconds: float
    max_secs: float
    warmup: int
    options: dict
    estimate_ms: float = 0.0
    extra: tuple[str, ...] = ()
    inputs: tuple[dict, ...] = ()
    accelerator: tuple[str, ...] = ()


class RuntimePlugin(Protocol):
    """What a runtime's module provides (module-level names; ``tool_argv`` only with a
    ``NATIVE_TOOL``, ``profile`` only where ``bench profile`` supports the runtime)."""

    NAME: str
    FORMAT: str  # the artifact format it runs; "pytorch" = the zoo model itself
    MODULES: tuple[str, ...]  # any one of these importable = available
    EXTRA: str  # the pip extra that installs it
    DISTRIBUTIONS: tuple[str, ...]  # installed versions reported in the environment fingerprint
    NEEDS_OS: str | None  # platform.system() it needs, e.g. "Darwin"
    NATIVE_TOOL: str | None  # the benchmark tool phones run instead of the agent
    # True where that tool takes a run count or a duration, not both: a count lasting --min-time is
    # then sized from a short run's latency (a module without it: False)
    TOOL_NEEDS_ESTIMATE: bool
    OPTIONS: dict[str, Any]  # defaults of the runtime's own settings (``--option KEY=VALUE``)
    CHOICES: dict[str, Any]  # option -> allowed values (a tuple of strings) or a parser of the text

    def open_session(self, artifact: str, threads: int, options: dict) -> tuple[Callable, dict[str, str]] | tuple:
        """``(run, versions)``: ``run(x)`` runs one float32 numpy array and returns the model's outputs
        (a list of numpy arrays, in the file's order); ``versions``: package -> version.
        A runtime that may not take an option as asked (onnxruntime falls back to the CPU) returns
        ``(run, versions, applied)``, ``applied`` being the options as the session runs them, which
        is what gets stored; it raises instead when a requested setting is not in effect."""
        ...


@dataclass(frozen=True)
class Runtime:
    """One registered runtime: the plug-in module's facts, with the host-side checks built on them."""

    name: str
    format: str
    modules: tuple[str, ...]
    extra: str
    options: dict = field(default_factory=dict)
    needs_os: str | None = None
    choices: dict = field(default_factory=dict)
    distributions: tuple[str, ...] = ()
    native_tool: str | None = None
    tool_needs_estimate: bool = False
    plugin: ModuleType | None = None

    @classmethod
    def from_plugin(cls, plugin: ModuleType) -> Runtime:
        """The runtime described by a plug-in module (see :class:`RuntimePlugin`)."""
        return cls(
            name=plugin.NAME,
            format=plugin.FORMAT,
            modules=tuple(plugin.MODULES),
            extra=plugin.EXTRA,
            options=dict(plugin.OPTIONS),
            needs_os=plugin.NEEDS_OS,
            choices=dict(plugin.CHOICES),
            distributions=tuple(plugin.DISTRIBUTIONS),
            native_tool=plugin.NATIVE_TOOL,
            tool_needs_estimate=getattr(plugin, "TOOL_NEEDS_ESTIMATE", False),
            plugin=plugin,
        )

    @property
    def file(self) -> Path:
        """The plug-in's source file: what the agent loads (and what is copied to a board)."""
        return Path(self.plugin.__file__)

    @property
    def profiles(self) -> bool:
        """Whether ``bench profile`` supports this runtime (its plug-in has a ``profile`` hook)."""
        return hasattr(self.plugin, "profile")

    def with_options(self, overrides: dict[str, str]) -> dict:
        """The default options updated with the ``KEY=VALUE`` overrides this runtime knows
        (``"true"``/``"false"`` become booleans); BenchError for a value it does not accept."""
        options = dict(self.options)
        for key, text in overrides.items():
            if key not in self.choices:
                continue
            allowed = self.choices[key]
            if isinstance(allowed, tuple):
                if text not in allowed:
                    raise BenchError(f"--option {key}={text}: {self.name} accepts {', '.join(allowed)}")
                options[key] = {"true": True, "false": False}.get(text, text)
            else:
                options[key] = allowed(text)
        return options

    def unavailable_reason(self) -> str | None:
        """Why this runtime cannot run on this machine (wrong OS, not installed), or None."""
        if self.needs_os and platform.system() != self.needs_os:
            return f"{self.name} runs only on {'macOS' if self.needs_os == 'Darwin' else self.needs_os}"
        if not any(importable(m) for m in self.modules):
            return f"{self.name} is not installed"
        return None

    def check_available(self) -> None:
        """Raise BenchError (wrong OS) or MissingBackendError (with the pip extra) when it cannot run here."""
        reason = self.unavailable_reason()
        if reason is None:
            return
        if self.needs_os and platform.system() != self.needs_os:
            raise BenchError(reason)
        raise MissingBackendError(f"runtime {self.name}", self.extra, self.modules[0])

    def open_session(self, artifact: str, threads: int, options: dict | None = None) -> tuple:
        """The plug-in's ``open_session`` in this process (default options when None): ``(run, versions)``
        or ``(run, versions, applied)`` (see :class:`RuntimePlugin`)."""
        return self.plugin.open_session(artifact, threads, self.options if options is None else options)

    def missing_for(self, options: dict) -> str | None:
        """Why this machine cannot open a session with ``options`` (e.g. an execution provider that
        is not installed: the plug-in's ``missing``), or None."""
        check = getattr(self.plugin, "missing", None)
        return check(options) if check is not None else None

    def tool_argv(self, run: ToolRun) -> list[str]:
        """The native tool's command line for ``run`` (the plug-in's ``tool_argv``); BenchError
        without a tool."""
        if self.native_tool is None:
            raise BenchError(f"{self.name} has no native benchmark tool")
        return self.plugin.tool_argv(run)

    def profile(self, spec, model, tree, threads: int, runs: int, precision: str, device=None):
        """Per-block times from the runtime's profiler (``bench.profiling.runtimes.RuntimeProfile``);
        ``device``: a remote Device whose native tool profiles there, None = this machine."""
        if not self.profiles:
            raise BenchError(f"profiling is not supported by {self.name}")
        return self.plugin.profile(spec, model, tree, threads, runs, precision, device)

    def versions(self) -> dict[str, str]:
        """Installed versions of the runtime's distributions on this machine (missing ones left out)."""
        return installed_versions(self.distributions)


RUNTIMES: dict[str, Runtime] = {}
DEFAULT_RUNTIME: dict[str, str] = {}  # format -> the first runtime registered for it


def register(plugin: ModuleType) -> Runtime:
    """Add a plug-in module to the registry (a format's first runtime becomes its default)."""
    runtime = Runtime.from_plugin(plugin)
    RUNTIMES[runtime.name] = runtime
    DEFAULT_RUNTIME.setdefault(runtime.format, runtime.name)
    return runtime


def unregister(name: str) -> None:
    """Remove a runtime (tests that register a fake one); the format's default moves to the next one."""
    runtime = RUNTIMES.pop(name)
    if DEFAULT_RUNTIME.get(runtime.format) == name:
        del DEFAULT_RUNTIME[runtime.format]
        other = next((r.name for r in RUNTIMES.values() if r.format == runtime.format), None)
        if other:
            DEFAULT_RUNTIME[runtime.format] = other


for _module in PLUGINS:
    register(importlib.import_module(_module))


def get_runtime(name: str) -> Runtime:
    """The registered runtime called ``name``; BenchError naming the choices otherwise."""
    if name not in RUNTIMES:
        raise BenchError(f"unknown runtime '{name}'; choose from: {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def runtime_with_tool(fmt: str) -> Runtime | None:
    """The first registered runtime of ``fmt`` that has a native benchmark tool, or None."""
    return next((r for r in RUNTIMES.values() if r.format == fmt and r.native_tool), None)


def check_options_used(overrides: dict[str, str], runtimes: set[str]) -> None:
    """BenchError when an ``--option`` KEY belongs to no runtime the run uses (it would be ignored:
    ``graph_optimization=...`` on a TFLite-only run)."""
    used = {key for name in runtimes for key in get_runtime(name).choices}
    unused = sorted(set(overrides) - used)
    if unused:
        owners = {k: [r.name for r in RUNTIMES.values() if k in r.choices] for k in unused}
        first = unused[0]
        raise BenchError(
            f"--option {first}: it is {'/'.join(owners[first])}'s, and this run uses "
            f"{', '.join(sorted(runtimes)) or 'no runtime'}: it would be ignored"
        )


def parse_options(values: list[str]) -> dict[str, str]:
    """``["xnnpack=false", ...]`` -> ``{"xnnpack": "false"}``; every key must belong to some runtime."""
    known = sorted({key for runtime in RUNTIMES.values() for key in runtime.choices})
    parsed = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or key.strip() not in known:
            raise BenchError(f"--option '{value}': use KEY=VALUE with KEY one of {', '.join(known)}")
        parsed[key.strip()] = text.strip()
    return parsed
