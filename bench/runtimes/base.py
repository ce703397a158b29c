"""The runtime interface and registry.

A Runtime says which artifact format it runs, which options it takes, and whether it can run on
this machine (with the pip extra to install when it cannot). The execution itself happens in the
agent process (``bench/measure/agent.py``), which is self-contained so the same code runs on devices.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from bench.errors import BenchError, MissingBackendError
from bench.imports import importable


@dataclass(frozen=True)
class Runtime:
    name: str
    format: str  # the artifact format it runs; "pytorch" = the zoo model itself
    modules: tuple[str, ...]  # any one of these importable = available
    extra: str
    options: dict = field(default_factory=dict)  # defaults of the runtime's own settings
    needs_os: str | None = None
    choices: dict = field(default_factory=dict)  # option -> allowed values (a tuple) or a parser

    def with_options(self, overrides: dict[str, str]) -> dict:
        """The default options updated with the ``KEY=VALUE`` overrides this runtime knows."""
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
        if self.needs_os and platform.system() != self.needs_os:
            return f"{self.name} runs only on {'macOS' if self.needs_os == 'Darwin' else self.needs_os}"
        if not any(importable(m) for m in self.modules):
            return f"{self.name} is not installed"
        return None

    def check_available(self) -> None:
        reason = self.unavailable_reason()
        if reason is None:
            return
        if self.needs_os and platform.system() != self.needs_os:
            raise BenchError(reason)
        raise MissingBackendError(f"runtime {self.name}", self.extra, self.modules[0])


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "onnxruntime",
            "onnx",
            ("onnxruntime",),
            "onnx",
            {"graph_optimization": "all", "providers": ["CPUExecutionProvider"]},
            choices={
                "graph_optimization": ("disable", "basic", "extended", "all"),
                "providers": lambda text: [p.strip() for p in text.split("+") if p.strip()],
            },
        ),
        Runtime(
            "litert",
            "tflite",
            ("ai_edge_litert", "tflite_runtime"),
            "tflite",
            {"xnnpack": True},
            choices={"xnnpack": ("true", "false")},
        ),
        Runtime("torch", "pytorch", ("torch",), "torch"),
        Runtime("coreml", "coreml", ("coremltools",), "coreml", needs_os="Darwin"),
    )
}
DEFAULT_RUNTIME = {"onnx": "onnxruntime", "tflite": "litert", "pytorch": "torch", "coreml": "coreml"}


def get_runtime(name: str) -> Runtime:
    if name not in RUNTIMES:
        raise BenchError(f"unknown runtime '{name}'; choose from: {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


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
