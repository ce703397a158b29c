"""Registry in the style of timm: one tiny factory per variant, looked up by name.

Family modules register their factories with ``@register_model`` and keep their cards in a
module-level ``model_cards`` dict beside them (data next to the factory, as timm keeps
``default_cfgs``). Family modules are imported lazily on the first lookup.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import torch.nn as nn

from models._card import ModelCard

_FAMILY_MODULES = (
    "models.edgevit",
    "models.shiftvit",
    "models.stvit",
    "models.stvit_swin",
    "models.vast",
    "models.baselines",
)

_factories: dict[str, Callable[..., nn.Module]] = {}
_cards: dict[str, ModelCard] = {}
_loaded = False


class UnknownModelError(KeyError):
    """A model name that is not in the zoo; the message names the closest matches."""

    def __init__(self, name: str, choices: list[str]):
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `bench models` to list them"
        self.message = f"unknown model '{name}'{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a variant factory under its function name; its card must sit in ``model_cards``."""
    name = fn.__name__
    module_cards = getattr(sys.modules[fn.__module__], "model_cards", {})
    if name not in module_cards:
        raise RuntimeError(f"{fn.__module__}.model_cards has no card for registered model '{name}'")
    if name in _factories:
        raise RuntimeError(f"model '{name}' registered twice")
    _factories[name] = fn
    _cards[name] = module_cards[name]
    return fn


def register_factory(name: str, fn: Callable[..., nn.Module], card: ModelCard) -> None:
    """Register a factory built from a table (baselines) rather than a ``def`` per variant."""
    if name in _factories:
        raise RuntimeError(f"model '{name}' registered twice")
    _factories[name] = fn
    _cards[name] = card


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in _FAMILY_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Sorted names of zoo models matching a shell-style pattern (and optionally a family)."""
    _ensure_loaded()
    names = [n for n in _factories if fnmatch.fnmatchcase(n, pattern)]
    if family is not None:
        names = [n for n in names if _cards[n].family == family]
    return sorted(names)


def get_card(name: str) -> ModelCard:
    _ensure_loaded()
    if name not in _cards:
        raise UnknownModelError(name, sorted(_cards))
    return _cards[name]


def create_model(name: str, weights: str | Path | None = None, **overrides) -> nn.Module:
    """Build a zoo model in eval mode with random weights, or with a local checkpoint.

    ``overrides`` go to the family's constructor (e.g. ``num_classes=10``). Weights are never
    downloaded: ``weights`` is a local file read with ``torch.load(..., weights_only=True)``.
    """
    _ensure_loaded()
    if name not in _factories:
        raise UnknownModelError(name, sorted(_factories))
    model = _factories[name](**overrides)
    if weights is not None:
        from models._weights import load_checkpoint

        load_checkpoint(model, weights)
    return model.eval()


def code_hash() -> str:
    """Hash of the zoo's source files and the library versions that define the baselines.

    Anything derived from a model's code (MAC counts, exported artifacts) is cached under a key
    that includes this, so editing a model invalidates what was derived from it.
    """
    import hashlib

    import timm
    import torch

    digest = hashlib.sha256(f"torch={torch.__version__};timm={timm.__version__}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
