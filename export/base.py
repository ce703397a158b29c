"""The exporter interface and its registry: one small class per format.

An exporter converts an ``nn.Module`` at a fixed example input into one file (or bundle),
reports its converter versions (part of the cache key), and, where the format can run on this
machine, returns a callable that runs the file so that it can be verified against PyTorch.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from bench.errors import BenchError, MissingBackendError
from bench.imports import importable

Runner = Callable[[np.ndarray], np.ndarray]


class Exporter(ABC):
    name: str
    suffix: str
    converter: str
    precisions: tuple[str, ...]
    extra: str  # the pip extra that installs this backend
    packages: tuple[str, ...]  # distributions whose versions go into the cache key
    modules: tuple[str, ...]  # what must import for this backend to work

    def versions(self) -> dict[str, str]:
        """Versions of torch and this format's converter packages; missing backend -> exit 2."""
        for module in self.modules:
            if not importable(module):  # cheap: no import on a cache hit
                raise MissingBackendError(f"{self.name} export", self.extra, module)
        versions = {"torch": torch.__version__}
        for package in self.packages:
            try:
                versions[package] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                raise MissingBackendError(f"{self.name} export", self.extra, package) from None
        return versions

    def settings(self, precision: str) -> dict:
        """Export settings that change the produced file (part of the cache key)."""
        return {}

    @abstractmethod
    def convert(self, model: nn.Module, example: torch.Tensor, path: Path, precision: str) -> None:
        """Write the exported model for ``example``'s shape to ``path``."""

    @abstractmethod
    def load_runner(self, path: Path) -> Runner | str:
        """A callable running the file on one input, or the reason it cannot run here."""

    @abstractmethod
    def io_signature(self, path: Path) -> tuple[list[dict], list[dict]]:
        """Input and output names and shapes as stored in the file."""


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


def check_combination(fmt: str, precision: str) -> None:
    exporter = get_exporter(fmt)
    if precision not in exporter.precisions:
        combos = "; ".join(f"{f}: {','.join(p)}" for f, p in supported().items())
        raise BenchError(f"{fmt} does not support precision '{precision}'; supported: {combos}")
