"""What to export: a zoo model by name, or a user's ``path/to/file.py:factory``.

A ModelSpec knows how to build the module (random weights are seeded, so that the same spec
always yields the same file), its input shape, and a fingerprint of its code and weights for
the artifact cache.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
import torch.nn as nn

import models
from bench.digest import file_sha256  # noqa: F401 - re-exported: export.source.file_sha256
from bench.errors import BenchError
from models._weights import unzero_scales

WEIGHT_SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, ...]
    code_hash: str
    factory: Callable[[], nn.Module]
    weights: Path | None = None

    @cached_property
    def weights_hash(self) -> str:
        return file_sha256(self.weights) if self.weights else f"random(seed={WEIGHT_SEED}, zero scales set to 1)"

    def build(self) -> nn.Module:
        """The model in eval mode, seeded; checkpoint weights when given. Raises BenchError when the
        factory fails or returns something that is not a ``torch.nn.Module``."""
        torch.manual_seed(WEIGHT_SEED)
        try:
            model = self.factory()
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - an error in a user's factory is bad input
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise BenchError(f"{self.name}: the factory raised {type(exc).__name__}: {first}") from None
        if not isinstance(model, nn.Module):
            raise BenchError(f"{self.name}: the factory returned {type(model).__name__}, not a torch.nn.Module")
        if self.weights is not None:
            models.load_checkpoint(model, self.weights)
        else:
            unzero_scales(model)
        return model.eval()


def _user_spec(ref: str, input_shape: tuple[int, ...] | None, weights: Path | None) -> ModelSpec:
    file, _, factory_name = ref.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise BenchError(f"model file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"bench_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any error in user code is bad input
        raise BenchError(f"cannot import {path}: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise BenchError(f"{path} has no callable '{factory_name}'")
    return ModelSpec(
        name=f"{path.stem}.{factory_name}",
        input_shape=input_shape or (1, 3, 224, 224),
        code_hash=file_sha256(path),
        factory=factory,
        weights=weights,
    )


def resolve(ref: str, input_shape: tuple[int, ...] | None = None, weights: str | Path | None = None) -> ModelSpec:
    """A zoo name, or ``file.py:factory`` for a user's own module."""
    weights = Path(weights) if weights else None
    if weights is not None and not weights.is_file():
        raise BenchError(f"weights file not found: {weights}")
    if ref.endswith(".py") or ".py:" in ref:
        if ":" not in ref or ref.endswith(".py"):
            raise BenchError(f"'{ref}': name the factory as path/to/file.py:factory")
        return _user_spec(ref, input_shape, weights)
    card = models.get_card(ref)
    return ModelSpec(
        name=ref,
        input_shape=input_shape or card.input_shape,
        code_hash=models.code_hash(),
        factory=lambda: models.create_model(ref),
        weights=weights,
    )
